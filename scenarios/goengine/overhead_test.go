package goengine

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// BenchmarkInstrumentationOverhead compares a CPU-bound run with full
// instrumentation (app events and the live scheduler trace) against the same
// run without the scheduler trace, alternating to share the machine's noise:
// go test ./scenarios/goengine -run '^$' -bench Overhead -benchtime 6x
func BenchmarkInstrumentationOverhead(b *testing.B) {
	sc, _ := scenarios.Lookup("mental-model")
	params, err := sc.Validate(scenarios.EngineGo, map[string]any{"tasks": 4.0, "work": "cpu", "mode": "parallel", "size": 300.0})
	if err != nil {
		b.Fatal(err)
	}
	wall := func(plain bool) time.Duration {
		eng := &Engine{Executable: os.Args[0], Env: []string{"PATH=" + os.Getenv("PATH")}}
		prog, err := eng.Program(scenarios.Spec{Scenario: "mental-model", Engine: scenarios.EngineGo, Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
		if err != nil {
			b.Fatal(err)
		}
		if plain {
			prog.Env = append(prog.Env, UninstrumentedEnv+"=1")
		}
		var summaryWall int64
		_, err = child.Run(context.Background(), prog, child.Options{OnEvents: func(lines [][]byte) {
			for _, l := range lines {
				if ev, ok := decodeEnd(l); ok {
					summaryWall = ev.Summary.WallNS
				}
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		return time.Duration(summaryWall)
	}
	var instrumented, plain time.Duration
	for b.Loop() {
		plain += wall(true)
		instrumented += wall(false)
	}
	b.ReportMetric(float64(instrumented)/float64(plain), "instrumented/plain")
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "ms-plain")
	b.ReportMetric(float64(instrumented.Milliseconds())/float64(b.N), "ms-instrumented")
}
