package pool

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/server"
)

// freeThreadedDir holds the free-threaded CPython of this machine's
// set-up; a runner whose PATH has it offers the python-ft engine.
const freeThreadedDir = "/opt/pyft/python3.13t/bin"

// TestEnginesOfThePool: a web node with -local-slots 0 offers, over GET
// /api/engines, the engines its runners have (available when a live
// runner has it, naming the runners) and no other ("no runner has it"),
// whatever this machine itself could run; a run of an engine no runner
// has is refused with 503, one that a runner has executes there.
func TestEnginesOfThePool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes and a server")
	}
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "r1", "-slots", "1", "-engines", "go")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "r1")
	logger := testLogger(t)
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Limits.LocalSlots = 0
	cfg.Runner = d
	engines, closeEngines, err := server.DefaultEngines(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngines()
	s, err := server.New(cfg, logger, engines)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		hs.Close()
		_ = s.Close()
	}()
	list := func() map[string]scenarios.EngineInfo {
		t.Helper()
		resp, err := http.Get(hs.URL + "/api/engines")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		out := map[string]scenarios.EngineInfo{}
		for _, e := range raw {
			for _, field := range []string{"id", "version", "gil", "available", "runners"} {
				if _, ok := e[field]; !ok {
					t.Errorf("engine %v has no %q field", e["id"], field)
				}
			}
			b, _ := json.Marshal(e)
			var in scenarios.EngineInfo
			_ = json.Unmarshal(b, &in)
			out[in.ID] = in
		}
		return out
	}
	post := func(engine string) int {
		t.Helper()
		resp, err := http.Post(hs.URL+"/api/runs", "application/json",
			strings.NewReader(`{"scenario":"asyncio","engine":"`+engine+`","params":{"tasks":3,"wait_ms":100}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	got := list()
	if g := got[scenarios.EngineGo]; !g.Available || !slices.Equal(g.Runners, []string{"r1"}) || !strings.HasPrefix(g.Version, "go1.") {
		t.Errorf("go engine %+v: want available on runner r1 with its Go version", g)
	}
	for _, id := range []string{scenarios.EnginePython, scenarios.EnginePythonFT} {
		if p := got[id]; p.Available || !strings.Contains(p.Why, "no runner has it") || p.Runners == nil || len(p.Runners) != 0 {
			t.Errorf("%s engine %+v: want unavailable, 'no runner has it', no runners (this node runs nothing itself)", id, p)
		}
	}
	if code := post(scenarios.EnginePython); code != http.StatusServiceUnavailable {
		t.Errorf("a python run with no runner that has python: %d, want 503", code)
	}

	startRunner(t, ns.URL(), "r2", "-slots", "1", "-engines", "go,python")
	var env []string
	ft := false
	if _, err := os.Stat(freeThreadedDir + "/python3.13t"); err == nil {
		env, ft = []string{"PATH=" + freeThreadedDir + ":" + os.Getenv("PATH")}, true
		startRunnerEnv(t, ns.URL(), "r3", env, "-slots", "1", "-engines", "python-ft")
	}
	waitFor(t, 20*time.Second, "runner r2 (and r3) in /api/engines", func() bool {
		got = list()
		return got[scenarios.EnginePython].Available && (!ft || got[scenarios.EnginePythonFT].Available)
	})
	if g := got[scenarios.EngineGo]; !slices.Equal(g.Runners, []string{"r1", "r2"}) {
		t.Errorf("go engine on runners %v, want r1 and r2", g.Runners)
	}
	if p := got[scenarios.EnginePython]; !slices.Equal(p.Runners, []string{"r2"}) || !p.GIL || p.Why != "" {
		t.Errorf("python engine %+v: want available on r2 only, with the GIL", p)
	}
	if ft {
		p := got[scenarios.EnginePythonFT]
		if !slices.Equal(p.Runners, []string{"r3"}) || p.GIL || !strings.HasPrefix(p.Version, "3.13") || !strings.Contains(p.Label, "free-threaded") {
			t.Errorf("python-ft engine %+v: want available on r3 only, 3.13 without the GIL", p)
		}
	} else {
		t.Logf("no %s here: the python-ft runner is not tried", freeThreadedDir)
	}
	for _, id := range []string{scenarios.EngineGo, scenarios.EnginePython, scenarios.EnginePythonFT} {
		t.Logf("/api/engines: %s available=%v version=%q gil=%v runners=%v why=%q", id, got[id].Available, got[id].Version, got[id].GIL, got[id].Runners, got[id].Why)
	}
	if code := post(scenarios.EnginePython); code != http.StatusCreated {
		t.Errorf("a python run once runner r2 has python: %d, want 201", code)
	}
}
