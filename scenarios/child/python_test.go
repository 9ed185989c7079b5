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
	pythons := []string{"python3"}
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("INTERLEAVE_REQUIRE_PYTHON") != "" {
			t.Fatal("python3 not found and INTERLEAVE_REQUIRE_PYTHON is set")
		}
		t.Skip("python3 not found")
	}
	if ft := "/opt/pyft/python3.13t/bin/python3.13t"; fileExists(ft) {
		pythons = append(pythons, ft)
	}
	c, _ := newContainment(t, nil)
	for _, py := range pythons {
		e, err := pyengine.New(py)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
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
			t.Run(py+" "+sc.id, func(t *testing.T) {
				s, _ := scenarios.Lookup(sc.id)
				params, err := s.Validate(scenarios.EnginePython, sc.params)
				if err != nil {
					t.Fatal(err)
				}
				prog, err := e.Program(scenarios.Spec{RunID: "contained", Scenario: sc.id, Engine: scenarios.EnginePython, Params: params, Cores: 2})
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

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
