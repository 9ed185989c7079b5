package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
)

// TestComparisonOnTwoEngines runs one workload under every model on the
// free-threaded CPython and on Go: one after another, every run recorded,
// one column group per engine, the record kept across a restart of the
// comparison's reading.
func TestComparisonOnTwoEngines(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t), freeThreadedEngine(t))
	res := ts.compareNow(t, "workload=shared-state&engine=python-ft,go&size=small")
	if res.Status != StatusDone {
		t.Fatalf("status %s (%s)", res.Status, res.Error)
	}
	if strings.Join(res.Engines, ",") != "python-ft,go" || len(res.Groups) != 2 || res.Engine != scenarios.EnginePythonFT {
		t.Fatalf("engines %v, %d groups, engine %s: want python-ft then go", res.Engines, len(res.Groups), res.Engine)
	}
	wl, _ := scenarios.LookupWorkload("shared-state")
	var last time.Time
	runs := map[string]bool{}
	for _, g := range res.Groups {
		if len(g.Models) != len(wl.Models()) {
			t.Errorf("%s: %d models, want %d", g.Engine, len(g.Models), len(wl.Models()))
		}
		for _, m := range g.Models {
			if m.Status != StatusDone || m.Run == "" || m.Started == nil || m.Finished == nil {
				t.Errorf("%s/%s: status %s run %q", g.Engine, m.Model, m.Status, m.Run)
				continue
			}
			if runs[m.Run] {
				t.Errorf("%s/%s shares run %s with another slot", g.Engine, m.Model, m.Run)
			}
			runs[m.Run] = true
			// Every run alone, one after another, python-ft's before go's.
			if m.Started.Before(last) {
				t.Errorf("%s/%s started at %v, before the previous run finished at %v", g.Engine, m.Model, m.Started, last)
			}
			last = *m.Finished
			info := ts.info(t, m.Run)
			if info.Engine != g.Engine {
				t.Errorf("%s/%s ran on %s", g.Engine, m.Model, info.Engine)
			}
		}
	}
	// The first group is the comparison's top-level table, as before.
	if res.Models[0].Run != res.Groups[0].Models[0].Run {
		t.Errorf("the top-level models are not the first engine's")
	}
	// Read back from the store: the same groups.
	code, again := ts.getComparison(t, res.ID)
	if code != http.StatusOK || len(again.Groups) != 2 || again.Groups[1].Models[0].Run != res.Groups[1].Models[0].Run {
		t.Errorf("GET /api/compare/%s = %d with %d groups, want the same two", res.ID, code, len(again.Groups))
	}
	// The permalink page says which engines ran.
	page := getHTML(t, ts.URL+"/compare/"+res.ID, http.StatusOK)
	if app := elementByID(page, "app"); app == nil || attrOf(app, "data-engine") != "python-ft,go" {
		t.Errorf("the comparison page does not carry both engines")
	}
}

// TestComparisonEngineListIsChecked: a list with an empty, repeated or
// unknown engine, or too many, is refused naming the engine field.
func TestComparisonEngineListIsChecked(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), missingFreeThreaded(t))
	for _, tt := range []struct{ engine, want string }{
		{"go,,go", "empty name"},
		{"go,go", "twice"},
		{"go,python-ft,python,cobol", "want 1 to 3"},
		{"go,cobol", "cobol"},
	} {
		code, out := ts.postTo(t, "/api/compare", `{"workload":"cpu","engine":"`+tt.engine+`","size":"small"}`)
		msg, _ := out["error"].(string)
		if code != http.StatusBadRequest || !strings.HasPrefix(msg, "engine") || !strings.Contains(msg, tt.want) {
			t.Errorf("engine %q = %d %q, want 400 on engine saying %q", tt.engine, code, msg, tt.want)
		}
	}
	code, out := ts.postTo(t, "/api/compare", `{"workload":"cpu","engine":"go,python-ft","size":"small"}`)
	if msg, _ := out["error"].(string); code != http.StatusServiceUnavailable || !strings.Contains(msg, "uv python install") {
		t.Errorf("a comparison naming a missing python-ft = %d %q, want 503 with how to get one", code, msg)
	}
}

// TestRuleNoteWithoutAGIL: on the free-threaded CPython threads may beat
// processes on CPU work, and the note says why the rule of thumb (made for
// the GIL) does not hold there.
func TestRuleNoteWithoutAGIL(t *testing.T) {
	w, _ := scenarios.LookupWorkload("cpu")
	rows := []ModelResult{
		{Model: scenarios.ModelSequential, Status: StatusDone, WallNS: 800e6, Correct: true},
		{Model: scenarios.ModelThreads, Status: StatusDone, WallNS: 410e6, Correct: true},
		{Model: scenarios.ModelProcesses, Status: StatusDone, WallNS: 520e6, Correct: true},
		{Model: scenarios.ModelPool, Status: StatusDone, WallNS: 500e6, Correct: true},
	}
	rule := judgeRule(w, scenarios.EnginePythonFT, rows, map[string]string{"wall": scenarios.ModelThreads}, nil, StatusDone)
	if rule.Agrees || !strings.Contains(rule.Note, "This CPython is free-threaded: its threads used every core (410 ms)") {
		t.Errorf("rule %+v, want a note saying the threads had every core without a GIL", rule)
	}
	if gil := judgeRule(w, scenarios.EnginePython, rows, map[string]string{"wall": scenarios.ModelThreads}, nil, StatusDone); strings.Contains(gil.Note, "free-threaded") {
		t.Errorf("the GIL build's note speaks of a free-threaded build: %s", gil.Note)
	}
}
