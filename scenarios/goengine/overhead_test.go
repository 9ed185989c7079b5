package goengine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/internal/timingclaim"
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

// plainCPURole is a child role of the test binary: the observer-cost
// benchmark's plain run, the same CPU work as mental-model's tasks with no
// instrumentation at all. It prints its wall time (ns) on stdout.
const plainCPURole = "bench-plain-cpu"

// plainTasksEnv and plainSizeEnv give the plain run its shape.
const (
	plainTasksEnv = "INTERLEAVE_BENCH_TASKS"
	plainSizeEnv  = "INTERLEAVE_BENCH_SIZE_MS"
)

func init() {
	childRoles[plainCPURole] = func() error {
		tasks, _ := strconv.Atoi(os.Getenv(plainTasksEnv))
		size, _ := strconv.Atoi(os.Getenv(plainSizeEnv))
		// As runMentalModel: calibrate, then every task at once, timed.
		rounds := calibrate()
		start := time.Now()
		var wg sync.WaitGroup
		for range tasks {
			wg.Go(func() { _ = cpuWork(context.Background(), rounds, size) })
		}
		wg.Wait()
		_, err := fmt.Println(int64(time.Since(start)))
		return err
	}
}

// BenchmarkObserverCostBusyCores is the observer's cost with every core
// busy: the playground (mental-model parallel on the go engine: its child
// with the event emitter and the live scheduler trace, read by this process
// as the server would) against the same CPU work run plainly in a child of
// its own (one goroutine per core on as many Ps), alternating so that both
// share the machine's noise. playground/plain is the ratio of the tasks'
// wall times, each measured inside its process from the start of the work;
// the bar is 1.05.
//
//	go test ./scenarios/goengine -run '^$' -bench ObserverCost -benchtime 8x
func BenchmarkObserverCostBusyCores(b *testing.B) {
	timingclaim.Claim(b)
	cores := runtime.NumCPU()
	const size = 1000
	sc, _ := scenarios.Lookup("mental-model")
	params, err := sc.Validate(scenarios.EngineGo, map[string]any{"tasks": float64(cores), "work": "cpu", "mode": "parallel", "size": float64(size)})
	if err != nil {
		b.Fatal(err)
	}
	eng := &Engine{Executable: os.Args[0], Env: []string{"PATH=" + os.Getenv("PATH")}}
	playground := func() (wall, cuts time.Duration, events int) {
		prog, err := eng.Program(scenarios.Spec{Scenario: "mental-model", Engine: scenarios.EngineGo, Params: params, ClockBase: event.Monotonic(), Cores: cores})
		if err != nil {
			b.Fatal(err)
		}
		var summary *event.Summary
		_, err = child.Run(context.Background(), prog, child.Options{OnEvents: func(lines [][]byte) {
			events += len(lines)
			for _, l := range lines {
				if ev, ok := decodeEnd(l); ok {
					summary = ev.Summary
				}
				// The tracer's own account of its cuts: "... cutting generations 12.3 ms of CPU; ...".
				if _, rest, ok := strings.Cut(string(l), "cutting generations "); ok {
					ms, _, _ := strings.Cut(rest, " ms")
					if v, err := strconv.ParseFloat(ms, 64); err == nil {
						cuts = time.Duration(v * float64(time.Millisecond))
					}
				}
			}
		}})
		if err != nil || summary == nil {
			b.Fatalf("playground run: %v (summary %v)", err, summary != nil)
		}
		return time.Duration(summary.WallNS), cuts, events
	}
	plain := func() time.Duration {
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{RoleEnv + "=" + plainCPURole, "GOMAXPROCS=" + strconv.Itoa(cores),
			plainTasksEnv + "=" + strconv.Itoa(cores), plainSizeEnv + "=" + strconv.Itoa(size)}
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("plain run: %v", err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			b.Fatalf("plain run printed %q", out)
		}
		return time.Duration(ns)
	}
	var playWall, playCuts, plainWall time.Duration
	var events int
	for b.Loop() {
		plainWall += plain()
		w, c, n := playground()
		playWall, playCuts, events = playWall+w, playCuts+c, events+n
	}
	n := float64(b.N)
	b.ReportMetric(float64(playWall)/float64(plainWall), "playground/plain")
	b.ReportMetric(float64(plainWall.Milliseconds())/n, "ms-plain")
	b.ReportMetric(float64(playWall.Milliseconds())/n, "ms-playground")
	// What cutting trace generations cost the child, as the tracer measured
	// it on its flusher's thread (the main cost it has on busy cores).
	b.ReportMetric(float64(playCuts.Microseconds())/1e3/n, "ms-cut-cpu/run")
	b.ReportMetric(float64(events)/n, "events/run")
}
