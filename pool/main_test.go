package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
)

// binary is the interleave command built once for the runner processes.
var binary string

func TestMain(m *testing.M) {
	// A web node's containment re-executes this binary as the sandbox.
	if code, ok := child.RoleMain(); ok {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "interleave-pool-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "interleave")
	build := exec.Command("go", "build", "-o", binary, "interleave")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the interleave binary for the runners:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testLogger writes to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startNATS starts an embedded NATS server with JetStream for one test.
func startNATS(t testing.TB) *Embedded {
	t.Helper()
	e, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// runnerProc is a runner process: `interleave runner`.
type runnerProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRunner starts a runner process; it is stopped (SIGTERM) when the
// test ends, and its log is shown when the test failed.
func startRunner(t testing.TB, url, name string, args ...string) *runnerProc {
	t.Helper()
	return startRunnerEnv(t, url, name, nil, args...)
}

// startRunnerEnv is startRunner with env added to the runner's environment.
func startRunnerEnv(t testing.TB, url, name string, env []string, args ...string) *runnerProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"runner", "-nats", url, "-name", name}, args...)...)
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	p := &runnerProc{name: name, cmd: cmd, done: make(chan struct{}), log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("runner %s log:\n%s", name, p.log.String())
		}
	})
	return p
}

// newDispatcher connects a dispatcher and waits until it has heard from
// the named runners.
func newDispatcher(t testing.TB, url string, cfg DispatcherConfig, runners ...string) *Dispatcher {
	t.Helper()
	cfg.URL, cfg.Logger = url, testLogger(t)
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	waitFor(t, 20*time.Second, fmt.Sprintf("heartbeats of %v", runners), func() bool {
		seen := map[string]bool{}
		for _, hb := range d.Runners() {
			seen[hb.Name] = true
		}
		for _, r := range runners {
			if !seen[r] {
				return false
			}
		}
		return true
	})
	return d
}

// waitFor checks cond every 20 ms until it holds, failing after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		<-tick.C
	}
}

// recorded is what a Sink received.
type recorded struct {
	mu      sync.Mutex
	started []runner.Started
	lines   [][]byte
	output  map[string]string
	first   time.Time
	// onEvents, when set, is called after each batch.
	onEvents func(n int)
}

func (r *recorded) sink() runner.Sink {
	return runner.Sink{
		Started: func(s runner.Started) {
			r.mu.Lock()
			r.started = append(r.started, s)
			r.mu.Unlock()
		},
		Events: func(lines [][]byte) {
			r.mu.Lock()
			if r.first.IsZero() {
				r.first = time.Now()
			}
			for _, l := range lines {
				r.lines = append(r.lines, bytes.Clone(l))
			}
			n, hook := len(r.lines), r.onEvents
			r.mu.Unlock()
			if hook != nil {
				hook(n)
			}
		},
		Output: func(stream string, text []byte) {
			r.mu.Lock()
			if r.output == nil {
				r.output = map[string]string{}
			}
			r.output[stream] += string(text)
			r.mu.Unlock()
		},
	}
}

func (r *recorded) runner() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.started) == 0 {
		return ""
	}
	return r.started[0].Runner
}

func (r *recorded) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// measuredNumber is a number in a sentence.
var measuredNumber = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// shape is a run's events without what differs between two runs of the
// same program: times, measured numbers, pids. What remains (the lanes,
// their states in order, marks, the summary's metric names) must be equal.
func (r *recorded) shape(t testing.TB) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, line := range r.lines {
		var ev map[string]any
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		delete(ev, "t")
		delete(ev, "pid")
		// Measured durations appear in the words too ("waiting 99.9 ms").
		for _, k := range []string{"why", "label", "name", "text"} {
			if w, ok := ev[k].(string); ok {
				ev[k] = measuredNumber.ReplaceAllString(w, "#")
			}
		}
		if s, ok := ev["summary"].(map[string]any); ok {
			var names []string
			if m, ok := s["metrics"].(map[string]any); ok {
				for name := range m {
					names = append(names, name)
				}
			}
			sort.Strings(names)
			ev["summary"] = names
		}
		b, _ := json.Marshal(ev)
		out = append(out, string(b))
	}
	return out
}

// job is a run of scenario on engine with params, under a fresh id.
func job(scenario, engine string, params scenarios.Params) runner.Job {
	return runner.Job{ID: newTestID(), Scenario: scenario, Engine: engine, Params: params, Deadline: 20 * time.Second,
		Limits: runner.Limits{MaxOutput: 1 << 20, MemoryBytes: 512 << 20}}
}

var (
	idMu  sync.Mutex
	idSeq int
)

func newTestID() string {
	idMu.Lock()
	defer idMu.Unlock()
	idSeq++
	return fmt.Sprintf("t%d-%d", os.Getpid(), idSeq)
}

// execute runs one job on d with a fresh recorder.
func execute(ctx context.Context, d runner.Runner, j runner.Job) (*recorded, error) {
	rec := &recorded{}
	_, err := d.Execute(ctx, j, rec.sink())
	return rec, err
}

var _ io.Writer = tWriter{}
