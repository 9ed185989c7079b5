// Package goengine runs scenarios as Go code in a child process: this binary
// re-executed in runner mode, with GOMAXPROCS chosen per run. Each scenario is
// one file of this package; that file is the source shown on its page.
package goengine

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// RoleEnv names the environment variable that makes this binary a child.
const RoleEnv = "INTERLEAVE_ROLE"

// RoleRunner is the role of a run's child process.
const RoleRunner = "runner"

// UninstrumentedEnv set to 1 runs a scenario without the scheduler trace,
// for the overhead benchmark.
const UninstrumentedEnv = "INTERLEAVE_UNINSTRUMENTED"

//go:embed *.go
var sources embed.FS

// Run is what a scenario function gets: the emitter, its validated params and
// the spec of the run.
type Run struct {
	*Emitter
	Params scenarios.Params
	Spec   scenarios.Spec
}

// scenario is one Go implementation of a catalog entry.
type scenario struct {
	// run does the work and returns the summary (wall and CPU time are
	// filled in by the runner when left zero).
	run func(ctx context.Context, r *Run) (event.Summary, error)
	// source is the file shown on the page.
	source string
	// more are the files the scenario continues in, shown after source
	// (each under its name), so that the page shows all the code that runs
	// it when one file would be too long to read.
	more []string
	// procs returns GOMAXPROCS for the run; nil means every core.
	procs func(p scenarios.Params, cores int) int
}

// registry maps scenario ids to their Go implementations; read-only after init.
var registry = map[string]scenario{}

func register(id string, s scenario) {
	if _, ok := registry[id]; ok {
		panic("goengine: scenario registered twice: " + id)
	}
	registry[id] = s
}

// Has reports whether the go engine implements scenario id.
func Has(id string) bool { _, ok := registry[id]; return ok }

// Engine is the go engine.
type Engine struct {
	// Executable is the binary to re-execute (os.Executable by default).
	Executable string
	// Env is passed to every child in addition to the spec (PATH, HOME...).
	Env []string
}

// New returns the go engine re-executing the running binary.
func New() (*Engine, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	return &Engine{Executable: exe, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}}, nil
}

// Name implements scenarios.Engine.
func (*Engine) Name() string { return scenarios.EngineGo }

// Available implements scenarios.Engine: the go engine is the binary itself.
func (*Engine) Available() error { return nil }

// Program implements scenarios.Engine.
func (g *Engine) Program(spec scenarios.Spec) (scenarios.Program, error) {
	s, ok := registry[spec.Scenario]
	if !ok {
		return scenarios.Program{}, fmt.Errorf("go engine has no scenario %q", spec.Scenario)
	}
	procs := spec.Cores
	if s.procs != nil {
		procs = s.procs(spec.Params, spec.Cores)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return scenarios.Program{}, fmt.Errorf("encode spec: %w", err)
	}
	env := append([]string{
		RoleEnv + "=" + RoleRunner,
		scenarios.SpecEnv + "=" + string(b),
		"GOMAXPROCS=" + strconv.Itoa(procs),
		// A race-enabled build (go test -race) sleeps 1 s at exit by default.
		"GORACE=atexit_sleep_ms=0",
	}, g.Env...)
	return scenarios.Program{Path: g.Executable, Args: []string{"interleave-runner", spec.Scenario}, Env: env}, nil
}

// Source implements scenarios.Engine.
func (*Engine) Source(id string) (string, string, bool) {
	s, ok := registry[id]
	if !ok {
		return "", "", false
	}
	b, err := sources.ReadFile(s.source)
	if err != nil {
		return "", "", false
	}
	for _, name := range s.more {
		more, err := sources.ReadFile(name)
		if err != nil {
			return "", "", false
		}
		b = append(b, "\n// ==== "+name+" ====\n\n"...)
		b = append(b, more...)
	}
	return s.source, string(b), true
}

// ChildMain runs this process as a child of the given role and returns the
// exit code. main and TestMain call it when RoleEnv is set.
func ChildMain(role string) int {
	switch role {
	case RoleRunner:
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "interleave runner:", err)
			return 1
		}
		return 0
	}
	if child, ok := childRoles[role]; ok {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, "interleave "+role+":", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "interleave: unknown role", role)
	return 2
}

// childRoles holds further roles (worker processes of a scenario), by name.
var childRoles = map[string]func() error{}

// ReadSpec decodes the spec from the environment.
func ReadSpec() (scenarios.Spec, error) {
	var spec scenarios.Spec
	if err := json.Unmarshal([]byte(os.Getenv(scenarios.SpecEnv)), &spec); err != nil {
		return spec, fmt.Errorf("decode %s: %w", scenarios.SpecEnv, err)
	}
	return spec, nil
}

// errScenarioFailed marks an error already reported as a mark.
var errScenarioFailed = errors.New("scenario failed")

func runChild() error {
	spec, err := ReadSpec()
	if err != nil {
		return err
	}
	s, ok := registry[spec.Scenario]
	if !ok {
		return fmt.Errorf("no go scenario %q", spec.Scenario)
	}
	sc, _ := scenarios.Lookup(spec.Scenario)
	params, err := sc.Validate(scenarios.EngineGo, spec.Params)
	if err != nil {
		return err
	}
	events := os.NewFile(scenarios.EventFD, "events")
	if events == nil {
		return errors.New("no event pipe on fd 3")
	}
	// Uninstrumented runs exist only to measure what instrumentation costs:
	// app events still flow (the summary must reach the server) but there is
	// no scheduler trace.
	uninstrumented := os.Getenv(UninstrumentedEnv) == "1"
	em := NewEmitter(events, spec.ClockBase)
	defer em.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var stopTrace func()
	if !uninstrumented && params.Bool(scenarios.SchedParam) {
		stopTrace = startSchedTrace(em)
	}
	start := em.Now()
	cpuStart := cpuTime()
	summary, runErr := s.run(ctx, &Run{Emitter: em, Params: params, Spec: spec})
	// Measure before stopping the trace: its final flush is not the run's work.
	wall, cpu := em.Now()-start, cpuTime()-cpuStart
	if stopTrace != nil {
		stopTrace()
	}
	if summary.WallNS == 0 {
		summary.WallNS = wall
	}
	if summary.CPUNS == 0 {
		summary.CPUNS = cpu
	}
	measured := len(summary.Metrics) > 0
	if summary.Metrics == nil {
		summary.Metrics = map[string]event.Metric{}
	}
	// The server derives the verdict from the metrics (package verdict). A
	// run that was stopped, or failed before it measured anything, has no
	// numbers to judge: it says so itself.
	if runErr != nil {
		em.Mark("", "error: "+runErr.Error())
		switch {
		case ctx.Err() != nil || errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
			summary.Verdict = "The run was stopped before it finished."
		case !measured:
			summary.Verdict = "The run failed: " + runErr.Error()
		}
	}
	em.Emit(event.Event{K: event.KindEnd, Summary: &summary})
	if err := em.Close(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	if runErr != nil {
		return errScenarioFailed
	}
	return nil
}

// startSchedTrace starts the real scheduler trace; set by schedtrace.go.
var startSchedTrace = func(*Emitter) (stop func()) { return nil }

// cpuTime returns the CPU time (user+system) of this process and its waited
// children, in ns.
func cpuTime() int64 {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) int64 { return t.Nano() }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// numCPU is the machine's core count, for scenarios that need it.
func numCPU() int { return runtime.NumCPU() }
