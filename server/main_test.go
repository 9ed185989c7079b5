package server

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
	"interleave/scenarios/gotrace"
)

// testRoleEnv makes the test binary act as a test-only child (see floodChild).
const testRoleEnv = "INTERLEAVE_TEST_ROLE"

// TestMain lets the test binary be the child process of a run, exactly as
// the server binary is, and checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv(goengine.RoleEnv); role == gotrace.ChildRole {
		os.Exit(gotrace.ChildMain())
	} else if role != "" {
		os.Exit(goengine.ChildMain(role))
	}
	if role := os.Getenv(testRoleEnv); role != "" {
		os.Exit(testChild(role))
	}
	goleak.VerifyTestMain(m)
}

// floodEngine is an engine whose child writes a given number of events as
// fast as it can, through the real emitter and a real pipe: it drives the
// pipeline tests and benchmarks, and the limits tests (events, output, memory).
type floodEngine struct {
	events   int
	printKiB int           // bytes of stdout to print, in KiB
	allocMiB int           // memory to hold, in MiB
	sleep    time.Duration // how long to wait before exiting
	exitCode int
}

func (f *floodEngine) Name() string     { return scenarios.EngineGo }
func (f *floodEngine) Available() error { return nil }
func (f *floodEngine) Source(string) (string, string, bool) {
	return "flood.go", "// test engine", true
}
func (f *floodEngine) Program(spec scenarios.Spec) (scenarios.Program, error) {
	return scenarios.Program{Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: []string{
		testRoleEnv + "=flood",
		"FLOOD_EVENTS=" + strconv.Itoa(f.events),
		"FLOOD_PRINT_KIB=" + strconv.Itoa(f.printKiB),
		"FLOOD_ALLOC_MIB=" + strconv.Itoa(f.allocMiB),
		"FLOOD_SLEEP=" + f.sleep.String(),
		"FLOOD_EXIT=" + strconv.Itoa(f.exitCode),
		"FLOOD_BASE=" + strconv.FormatInt(spec.ClockBase, 10),
	}}, nil
}

func testChild(role string) int {
	if role == "server" {
		return serverChild() // see store_test.go
	}
	if role == "fullserver" {
		return fullServerChild() // see storefault_test.go
	}
	if role == "soakserver" {
		return soakServerChild() // see soak_test.go
	}
	if role != "flood" {
		fmt.Fprintln(os.Stderr, "unknown test role", role)
		return 2
	}
	n, _ := strconv.Atoi(os.Getenv("FLOOD_EVENTS"))
	printKiB, _ := strconv.Atoi(os.Getenv("FLOOD_PRINT_KIB"))
	allocMiB, _ := strconv.Atoi(os.Getenv("FLOOD_ALLOC_MIB"))
	sleep, _ := time.ParseDuration(os.Getenv("FLOOD_SLEEP"))
	exit, _ := strconv.Atoi(os.Getenv("FLOOD_EXIT"))
	base, _ := strconv.ParseInt(os.Getenv("FLOOD_BASE"), 10, 64)

	em := goengine.NewEmitter(os.NewFile(scenarios.EventFD, "events"), base)
	em.Lane("w1", event.LaneGoroutine, "worker 1", "")
	states := []string{event.Running, event.Runnable, event.LockWait, event.Sleep}
	for i := 1; i < n; i++ {
		em.State("w1", states[i%len(states)], "flood")
	}
	line := make([]byte, 1024)
	for i := range line {
		line[i] = 'x'
	}
	line[1023] = '\n'
	for range printKiB {
		os.Stdout.Write(line)
	}
	hold := make([][]byte, allocMiB)
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
		for j := 0; j < len(hold[i]); j += 4096 {
			hold[i][j] = 1 // touch every page so it is resident
		}
	}
	time.Sleep(sleep)
	em.Emit(event.Event{K: event.KindEnd, Summary: &event.Summary{Metrics: map[string]event.Metric{"held": {Value: float64(len(hold))}}, Verdict: "flooded"}})
	em.Close()
	return exit
}
