// Package claimcheck is the part the engines' defaults tests share: each
// engine runs every scenario's defaults and its "where it breaks" link for
// real, and checks that the verdict the server would derive from the run
// points the way the claim says. The runs differ per engine; the params of
// the link and the verdict do not, so they are computed here, once.
package claimcheck

import (
	"runtime"
	"testing"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/verdict"
)

// Judge returns the verdict the server would derive from a run of scenario
// id on engine with params that ended with summary, and logs its sentence.
// Params the scenario refuses fail the test: the caller ran them already.
func Judge(t testing.TB, id, engine string, params map[string]any, summary event.Summary) verdict.Result {
	t.Helper()
	sc, _ := scenarios.Lookup(id)
	p, err := sc.Validate(engine, params)
	if err != nil {
		t.Fatal(err)
	}
	v := verdict.Derive(verdict.Input{Scenario: id, Engine: engine, Params: p, Summary: summary, Cores: runtime.NumCPU()})
	t.Logf("%s %v: %s", id, params, v.Sentence)
	return v
}

// BreaksParams returns the params of scenario id's "where it breaks" link
// on engine: the link's settings of the params that engine has.
func BreaksParams(id, engine string) map[string]any {
	sc, _ := scenarios.Lookup(id)
	out := map[string]any{}
	for _, p := range sc.ParamsFor(engine) {
		if v, ok := sc.Breaks.Params[p.Name]; ok {
			out[p.Name] = v
		}
	}
	return out
}
