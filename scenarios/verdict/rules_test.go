package verdict

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// The rules every sentence obeys, checked against the numbers it was
// derived from. Each scenario's table feeds good, bad and borderline metrics
// through derive and then checkRules.

// metrics builds a metrics map from name, value pairs.
func metrics(kv ...any) map[string]event.Metric {
	m := map[string]event.Metric{}
	for i := 0; i+1 < len(kv); i += 2 {
		var v float64
		switch x := kv[i+1].(type) {
		case int:
			v = float64(x)
		case float64:
			v = x
		}
		m[kv[i].(string)] = event.Metric{Value: v}
	}
	return m
}

// params validates raw params of scenario id for engine, with defaults.
func params(t *testing.T, id, engine string, raw map[string]any) scenarios.Params {
	t.Helper()
	sc, ok := scenarios.Lookup(id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	p, err := sc.Validate(engine, raw)
	if err != nil {
		t.Fatalf("params %v: %v", raw, err)
	}
	return p
}

// run is one table entry: a run's numbers and what its verdict must (and
// must not) say.
type run struct {
	name   string
	engine string
	params map[string]any
	// wallMS and cpuMS become the summary's wall and CPU time.
	wallMS, cpuMS float64
	metrics       map[string]event.Metric
	cores         int
	// want lists fragments the sentence must contain; not those it must not.
	want, not []string
	// check tests the claims further.
	check func(t *testing.T, c Claims)
}

// derive runs one table entry through Derive and the rules.
func derive(t *testing.T, id string, r run) Result {
	t.Helper()
	engine := r.engine
	if engine == "" {
		engine = scenarios.EnginePython
	}
	cores := r.cores
	if cores == 0 {
		cores = 2
	}
	in := Input{Scenario: id, Engine: engine, Params: params(t, id, engine, r.params), Cores: cores,
		Summary: event.Summary{WallNS: int64(r.wallMS * 1e6), CPUNS: int64(r.cpuMS * 1e6), Metrics: r.metrics}}
	res := Derive(in)
	t.Logf("%s", res.Sentence)
	if res.Sentence == "" {
		t.Fatalf("empty verdict")
	}
	checkRules(t, in, res)
	for _, w := range r.want {
		if !strings.Contains(res.Sentence, w) {
			t.Errorf("verdict does not say %q: %s", w, res.Sentence)
		}
	}
	for _, w := range r.not {
		if strings.Contains(res.Sentence, w) {
			t.Errorf("verdict says %q, which its numbers do not show: %s", w, res.Sentence)
		}
	}
	if r.check != nil {
		r.check(t, res.Claims)
	}
	return res
}

var (
	fasterRE   = regexp.MustCompile(`\bfaster\b`)
	slowerRE   = regexp.MustCompile(`\bslower than\b`)
	parallelRE = regexp.MustCompile(`(\bnot (?:compute )?)?(?:only )?(?:partly )?in parallel`)
	coresRE    = regexp.MustCompile(`\bon (\d+) cores at once`)
	severalRE  = regexp.MustCompile(`several cores worked at once`)
	speedupRE  = regexp.MustCompile(`(\d+\.\d\d)x`)
)

// checkRules checks the sentence and its claims against the numbers.
func checkRules(t *testing.T, in Input, res Result) {
	t.Helper()
	s, c := res.Sentence, res.Claims
	m := func(name string) (float64, bool) { v, ok := in.Summary.Metrics[name]; return v.Value, ok }
	speedup, hasSpeedup := m("speedup")
	use := 0.0
	if in.Summary.WallNS > 0 {
		use = float64(in.Summary.CPUNS) / float64(in.Summary.WallNS)
	}

	// "faster" only with a speedup that shows it; the word matches the claim.
	if fasterRE.MatchString(s) != c.Faster {
		t.Errorf("sentence says faster: %v, claims Faster: %v: %s", fasterRE.MatchString(s), c.Faster, s)
	}
	if c.Faster && (!hasSpeedup || speedup < FasterMin) {
		t.Errorf("claims faster with speedup %v (measured: %v): %s", speedup, hasSpeedup, s)
	}
	if slowerRE.MatchString(s) != c.Slower {
		t.Errorf("sentence says slower: %v, claims Slower: %v: %s", slowerRE.MatchString(s), c.Slower, s)
	}
	if c.Slower && (!hasSpeedup || speedup > SlowerMax) {
		t.Errorf("claims slower with speedup %v: %s", speedup, s)
	}

	// "in parallel" and "on N cores at once" only where speedup and CPU per
	// wall time show it.
	saysParallel := false
	for _, g := range parallelRE.FindAllStringSubmatch(s, -1) {
		if g[1] == "" {
			saysParallel = true
		}
	}
	if severalRE.MatchString(s) {
		saysParallel = true
		if use < ParallelMin {
			t.Errorf("says several cores worked at once with %.2f cores' worth of CPU per second: %s", use, s)
		}
	}
	for _, g := range coresRE.FindAllStringSubmatch(s, -1) {
		saysParallel = true
		n, _ := strconv.Atoi(g[1])
		if n < 2 || n != c.Cores {
			t.Errorf("says on %d cores at once, claims %d: %s", n, c.Cores, s)
		}
		if use < FullShare*float64(n) {
			t.Errorf("says on %d cores at once with %.2f cores' worth of CPU per second: %s", n, use, s)
		}
		if hasSpeedup && speedup < FullShare*float64(n) {
			t.Errorf("says on %d cores at once with a %.2fx speedup: %s", n, speedup, s)
		}
		if n > in.Cores {
			t.Errorf("says on %d cores at once on a %d-core machine: %s", n, in.Cores, s)
		}
	}
	if saysParallel != c.Parallel {
		t.Errorf("sentence says parallel: %v, claims Parallel: %v: %s", saysParallel, c.Parallel, s)
	}
	if c.Parallel {
		if use < ParallelMin {
			t.Errorf("claims parallel with %.2f cores' worth of CPU per second: %s", use, s)
		}
		if hasSpeedup && speedup < ParallelMin {
			t.Errorf("claims parallel with a %.2fx speedup: %s", speedup, s)
		}
	}

	// A speedup quoted is the measured one (or the one predicted); a run
	// without a speedup metric quotes none.
	for _, g := range speedupRE.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(g[1], 64)
		if !hasSpeedup {
			t.Errorf("quotes %sx but the run has no speedup metric: %s", g[1], s)
			continue
		}
		if math.Abs(v-speedup) > 0.005 && math.Abs(v-c.Predicted) > 0.005 {
			t.Errorf("quotes %sx, measured %.2fx, predicted %.2fx: %s", g[1], speedup, c.Predicted, s)
		}
	}
	if !hasSpeedup && strings.Contains(strings.ToLower(s), "speedup") {
		t.Errorf("speaks of a speedup without one: %s", s)
	}

	// A shortfall is said, with a measured reason or the admission that the
	// numbers do not show one.
	if c.Predicted > 0 {
		if !strings.Contains(s, "short of") && !strings.Contains(s, "not about one wait") && !strings.Contains(s, "only partly") && !strings.Contains(s, "more than the longest") {
			t.Errorf("falls short of %.2f but does not say so: %s", c.Predicted, s)
		}
		if len(c.Causes) == 0 && !c.Unexplained {
			t.Errorf("falls short of %.2f without a reason or saying none was measured: %s", c.Predicted, s)
		}
	}
	if c.Unexplained && !strings.Contains(s, "not show") && !strings.Contains(s, "not explained") {
		t.Errorf("claims an unexplained shortfall but does not say so: %s", s)
	}

	// Every cause named is backed by its metric.
	for _, cause := range c.Causes {
		switch cause {
		case CauseOtherLoad:
			if v, _ := m("other_load"); v < LoadMin {
				t.Errorf("names a busy machine with other_load %.2f: %s", v, s)
			}
		case CauseObserverLoad:
			if v, _ := m("observer_load"); v < LoadMin {
				t.Errorf("names the observer with observer_load %.2f: %s", v, s)
			}
		case CauseOversubscribed:
			workers := in.Params.Int("workers") + in.Params.Int("count")
			if workers <= in.Cores {
				t.Errorf("names more workers than cores with %d on %d: %s", workers, in.Cores, s)
			}
		case CauseStarved:
			if c.Predicted == 0 || use >= FullShare*c.Predicted {
				t.Errorf("names CPU the work did not get with %.2f cores' worth per second of %.2f: %s", use, c.Predicted, s)
			}
		case CauseUnequalCores:
			if v, ok := m("slowest_core"); !ok || v > UnequalMax {
				t.Errorf("names unequal cores with slowest_core %.2f: %s", v, s)
			}
		case CauseSlowCPU:
			if seq, _ := m("sequential"); in.Summary.CPUNS <= int64(EstimateSlack*seq*1e6) {
				t.Errorf("names slower cores with %d ms of CPU for a %.0f ms estimate: %s", in.Summary.CPUNS/1e6, seq, s)
			}
		case CauseIdleWorkers:
			if v, ok := m("idle"); !ok || v <= 0 {
				t.Errorf("names workers out of tasks with idle %.2f: %s", v, s)
			}
		case CauseStartup, CauseSerialization, CauseSlowCompute, CauseLoopBusy:
			// Checked against the shortfall by the scenario's own table.
		default:
			t.Errorf("unknown cause %q", cause)
		}
	}

	// Sizes are measured bytes, never the setting when it differs.
	if kb, ok := in.Params["payload_kb"]; ok {
		setting := Bytes(int64(in.Params.Int("payload_kb")) * 1024)
		if setting != Bytes(c.Bytes) && (strings.Contains(s, setting+" to each") || strings.Contains(s, "sent "+setting)) {
			t.Errorf("quotes the setting (payload_kb=%v) rather than the measured %s: %s", kb, Bytes(c.Bytes), s)
		}
	}
	if c.Bytes > 0 && !strings.Contains(s, Bytes(c.Bytes)) {
		t.Errorf("claims %d bytes but does not say %s: %s", c.Bytes, Bytes(c.Bytes), s)
	}
}

// hasCause reports whether the claims name cause.
func hasCause(c Claims, cause string) bool { return slices.Contains(c.Causes, cause) }
