package child

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/pyengine"
)

// TestPythonScenariosRunContained runs CPython scenarios that reach for
// what containment restricts (processes started three ways, a loopback
// HTTP server, programs listing /etc) through a contained run, on python3
// and, where it is installed, on a free-threaded CPython: the interpreter
// and its standard library are readable under Landlock wherever they live.
func TestPythonScenariosRunContained(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("INTERLEAVE_REQUIRE_PYTHON") != "" {
			t.Fatal("python3 not found and INTERLEAVE_REQUIRE_PYTHON is set")
		}
		t.Skip("python3 not found")
	}
	py, err := pyengine.New("python3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { py.Close() })
	engines := []*pyengine.Engine{py}
	// The free-threaded CPython the server would find (python3.14t or
	// python3.13t on PATH, as CI unpacks it), where there is one.
	ft, _, err := pyengine.NewFreeThreaded(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	if ft.Available() == nil {
		engines = append(engines, ft)
	}
	c, _ := newContainment(t, nil)
	for _, e := range engines {
		if err := e.Available(); err != nil {
			t.Fatal(err)
		}
		for _, sc := range []struct {
			id     string
			params map[string]any
		}{
			{"multiprocessing", map[string]any{"workers": 2, "mode": "processes", "start": "forkserver", "size": 50}},
			{"pools", map[string]any{"workers": 2, "tasks": 4, "start": "spawn", "size": 5}},
			{"threads", map[string]any{"work": "io", "io": "http", "workers": 4, "tasks": 8, "size": 20}},
			{"subprocess", map[string]any{"command": "list", "mode": "concurrent", "count": 2}},
		} {
			t.Run(e.Name()+" "+sc.id, func(t *testing.T) {
				s, _ := scenarios.Lookup(sc.id)
				params, err := s.Validate(e.Name(), sc.params)
				if err != nil {
					t.Fatal(err)
				}
				prog, err := e.Program(scenarios.Spec{RunID: "contained", Scenario: sc.id, Engine: e.Name(), Params: params, Cores: 2})
				if err != nil {
					t.Fatal(err)
				}
				var end *event.Summary
				var output strings.Builder
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				_, err = Run(ctx, prog, Options{Contain: c,
					OnEvents: func(lines [][]byte) {
						for _, l := range lines {
							var ev event.Event
							if json.Unmarshal(l, &ev) == nil && ev.K == event.KindEnd {
								end = ev.Summary
							}
						}
					},
					OnOutput: func(_ string, b []byte) { output.Write(b) }})
				if err != nil || end == nil {
					t.Fatalf("run: %v, end %v\n%s", err, end != nil, output.String())
				}
				if strings.Contains(end.Verdict, "failed") {
					t.Errorf("verdict: %s\n%s", end.Verdict, output.String())
				}
			})
		}
	}
}
