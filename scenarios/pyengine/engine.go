// Package pyengine runs scenarios as real CPython: python3 from PATH runs one
// script per scenario (py/<scenario>_scenario.py) with the embedded harness
// (harness.py), which reports threads, asyncio tasks, multiprocessing
// workers and subprocesses as the same events the go engine emits.
//
// The scripts and the harness are embedded in the binary and written once,
// when the engine is created, to a private directory (0700) that Close
// removes. What the page shows as the source is exactly the file that runs.
//
// # How a run reports its events
//
// The scenario's process never makes a system call to emit an event: the
// harness appends each JSON line to a ring buffer in shared memory (a
// memfd), under a lock and without calling a Python function, so a thread
// cannot lose the GIL half-way. A recorder process (harness_ring.py, started
// at import) holds fd 3, wakes up every 50 ms (sooner at the start, and at
// once when the run ends), holds events for 20 ms so that late ones sort
// in, and writes them in time order. Processes the scenario starts
// (multiprocessing with spawn, fork or forkserver) write whole lines of at
// most PIPE_BUF bytes to a relay pipe the recorder drains at each wake-up,
// so lines never interleave and every lane's events reach the server in
// time order, whichever process wrote them. The scenario's process has no
// flusher thread: one would compete for the GIL and change the hand-offs
// the gil scenario measures (with a 20 ms switch interval, a 20 ms flusher
// doubled the measured hand-off interval). The recorder is an observer and
// must not take the cores the program needs: it used to wake up about 570
// times a second (every 2 ms while events came) and took 4-5 % of a core;
// BenchmarkObserverCost reports what it takes now.
//
// # When a lane is drawn running
//
// A lane is drawn running only where the harness measured that it ran
// (harness_running.py). CPU work (harness.cpu) runs in slices of about
// 100 µs; after each slice the thread reads the wall clock, and its own CPU
// clock (time.thread_time_ns) when the slice took too long or every 16
// slices: wall time that advanced while the thread's CPU time did not is
// time it wanted to run and could not. Under the GIL a ledger per process
// knows which thread ran: every slice and every state a thread emits about
// itself proves it holds the GIL, so when another thread proves it, the lane
// drawn running is drawn gil-wait until it computes again; two threads of a
// process are never drawn running at once, and a gap with no other thread
// running is the OS preempting the thread (runnable). A gil lane (kind cpu)
// names the holder. Sleeps, lock waits and I/O are known to the harness and
// never counted; a sleep that returns late is a wait for the GIL or a core
// (the convoy effect). Work the harness cannot slice (pickling, an event
// loop's steps) is drawn when it ends, running if the CPU clock kept up
// with the wall clock and active otherwise; work it cannot measure at all
// (another program) is active. On a build without a GIL (free-threaded
// CPython) there is no ledger and every gap is runnable. Measured on
// CPython 3.11 (2 cores): two CPU-bound threads alternate every 5.15 ms
// with the default 5 ms switch interval and every 20.2 ms with 20 ms
// (TestGILHandOffsFollowTheSwitchInterval); TestRunningMeansOnACore checks
// the rule for every scenario.
//
// A sampler in another process was tried and rejected: Linux only exposes
// another process's per-thread CPU time at scheduler-tick resolution (4 ms
// at HZ=250), and a thread's run state "R" includes waiting for a core right
// after a GIL hand-off, so it cannot tell who holds the GIL.
//
// # How peak memory is measured
//
// Every process measures its own peak: VmHWM from /proc/self/status
// (harness.peak_rss), the high-water mark of its own address space. A
// worker sends its figure back with its result; for reused pool workers the
// parent also reads /proc/<pid>/status of each live worker just before the
// pool closes; the external programs of compare print theirs. getrusage's
// ru_maxrss cannot be used: Linux carries a process's peak across execve,
// so a freshly spawned child reports its parent's peak as its own (a 15 MiB
// worker of a 214 MiB parent reports 215 MiB), and RUSAGE_CHILDREN is only
// the largest reaped child. The memory of several processes (compare's
// peak_rss) is the sum of their peaks, as on the go engine: an upper bound
// when they did not all peak together. A forked worker (start=fork) counts
// the pages it still shares with its parent in its own VmHWM.
package pyengine

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"interleave/scenarios"
)

//go:embed harness*.py stepper.py steplearner.py stepsearch.py py/*.py
var files embed.FS

// MinVersion is the oldest CPython the harness supports (major, minor).
var MinVersion = [2]int{3, 10}

// installHint is how to fix a missing or old python3, shown on the page and
// in the API's 503.
const installHint = "install it (apt-get install python3)"

// Engine is the python engine. It is safe for concurrent use.
type Engine struct {
	// id is the engine's id: scenarios.EnginePython, or
	// scenarios.EnginePythonFT for a free-threaded interpreter.
	id string
	// gil is false when the interpreter is a free-threaded build
	// (sysconfig Py_GIL_DISABLED = 1).
	gil bool
	// python is the resolved path of the interpreter ("" when not found).
	python string
	// version is what the interpreter reported, e.g. "3.11.7".
	version string
	// unavailable says why python cannot run scenarios; nil when it can.
	unavailable error
	// dir holds harness.py and the scenario scripts.
	dir string
	// env is PATH for the children; nothing else is inherited.
	path string

	closeOnce sync.Once
}

// New returns the python engine for the interpreter python (a name looked
// up in PATH, or a path; "" means python3). The interpreter's version is
// checked once, here. A missing or too old python3 is not an error: the
// engine is returned and Available says what is wrong, so the rest of the
// server keeps working. The error is for failing to write the scripts.
func New(python string) (*Engine, error) {
	if python == "" {
		python = "python3"
	}
	e, err := newEngine(scenarios.EnginePython)
	if err != nil {
		return nil, err
	}
	p := probe(python)
	e.python, e.version, e.gil, e.unavailable = p.Path, p.Version, p.GIL, p.Err
	if p.Err == nil && !p.GIL {
		// The python engine's pages and verdicts speak of the GIL: a
		// free-threaded interpreter runs as python-ft instead (the server
		// offers it there), never under the name of the GIL build.
		e.unavailable = fmt.Errorf("%s is CPython %s built without the GIL: it runs as the engine %s; for the GIL build, put a CPython with the GIL on PATH as python3 or name it with -python python=PATH",
			p.Path, p.Version, scenarios.EnginePythonFT)
	}
	return e, nil
}

// newEngine returns an engine named id with the scripts written out and no
// interpreter yet.
func newEngine(id string) (*Engine, error) {
	dir, err := os.MkdirTemp("", "interleave-python-")
	if err != nil {
		return nil, fmt.Errorf("%s engine: create script directory: %w", id, err)
	}
	e := &Engine{id: id, gil: true, dir: dir, path: os.Getenv("PATH")}
	if err := writeScripts(dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s engine: %w", id, err)
	}
	return e, nil
}

// writeScripts copies the embedded .py files into dir, read-only and side
// by side, so that every script (and every process multiprocessing spawns
// from it) finds the harness next to itself on sys.path.
func writeScripts(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dst := filepath.Join(dir, path.Base(name))
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o400); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	})
}

// Interpreter is what probing one CPython found: where it is, its
// version, whether it has a GIL, and why it cannot run scenarios (nil when
// it can).
type Interpreter struct {
	// Asked is the name or path that was probed.
	Asked   string
	Path    string
	Version string
	// GIL is false for a free-threaded build (Py_GIL_DISABLED = 1).
	GIL bool
	Err error
}

// probeScript prints the version, sys.executable and Py_GIL_DISABLED, one
// a line. Py_GIL_DISABLED is the build's answer (1 on a free-threaded
// build even when PYTHON_GIL=1 turns the GIL back on at run time, which
// the harness reports as it happens).
const probeScript = "import sys, sysconfig; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable); " +
	"print(sysconfig.get_config_var('Py_GIL_DISABLED') or 0)"

// probe finds python and checks its version and build. It returns the
// interpreter's own sys.executable when that is an absolute path: a
// launcher on PATH (a pyenv shim is a shell script) would add tens of
// milliseconds to every run.
func probe(python string) Interpreter {
	in := Interpreter{Asked: python, GIL: true}
	path, err := exec.LookPath(python)
	if err != nil {
		in.Err = fmt.Errorf("python3 not found on PATH: %s", installHint)
		return in
	}
	in.Path = path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-E", "-S", "-c", probeScript).Output()
	if err != nil {
		in.Err = fmt.Errorf("python3 at %s does not run (%v): %s", path, err, installHint)
		return in
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for len(lines) < 3 {
		lines = append(lines, "")
	}
	in.Version = strings.TrimSpace(lines[0])
	in.GIL = strings.TrimSpace(lines[2]) != "1"
	if exe := strings.TrimSpace(lines[1]); filepath.IsAbs(exe) {
		if st, err := os.Stat(exe); err == nil && st.Mode().IsRegular() {
			in.Path = exe
		}
	}
	major, minor, ok := parseVersion(in.Version)
	if !ok {
		in.Err = fmt.Errorf("python3 at %s reports version %q: %s", in.Path, in.Version, installHint)
		return in
	}
	if major < MinVersion[0] || (major == MinVersion[0] && minor < MinVersion[1]) {
		in.Err = fmt.Errorf("python3 at %s is %s, older than %d.%d: %s",
			in.Path, in.Version, MinVersion[0], MinVersion[1], installHint)
	}
	return in
}

func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// Name implements scenarios.Engine.
func (e *Engine) Name() string { return e.id }

// Available implements scenarios.Engine: nil when python3 (3.10+) was found.
func (e *Engine) Available() error { return e.unavailable }

// Version returns the interpreter's version, e.g. "3.11.7" ("" if unknown).
func (e *Engine) Version() string { return e.version }

// Info implements scenarios.Describer.
func (e *Engine) Info() scenarios.EngineInfo {
	in := scenarios.EngineInfo{ID: e.id, Version: e.version, GIL: e.gil, Available: e.unavailable == nil}
	if e.unavailable != nil {
		in.Why = e.unavailable.Error()
	}
	in.Label = "CPython " + e.version
	if e.version == "" {
		in.Label = "CPython"
	}
	if e.gil {
		in.Label += " · with the GIL"
	} else {
		in.Label += " · free-threaded: no GIL"
	}
	return in
}

// Program implements scenarios.Engine. The command line holds nothing the
// user chose: params travel in the spec (JSON in the environment). The
// interpreter runs isolated the way -I would, except that the scripts'
// own directory (private to the server) stays on sys.path for the harness:
// -E (no PYTHON* variables), -S (no site: no user or system site-packages,
// only the standard library, which also saves a good part of the start-up),
// -B (no .pyc files) and -u (output unbuffered, so it streams live).
// multiprocessing passes the same flags on to the processes it spawns.
func (e *Engine) Program(spec scenarios.Spec) (scenarios.Program, error) {
	if e.unavailable != nil {
		return scenarios.Program{}, e.unavailable
	}
	script, ok := scriptFor(spec.Scenario)
	if !ok {
		return scenarios.Program{}, fmt.Errorf("python engine has no scenario %q", spec.Scenario)
	}
	return e.program(filepath.Join(e.dir, path.Base(script)), spec)
}

// program runs the script at path (next to which harness.py must be) for spec.
func (e *Engine) program(script string, spec scenarios.Spec) (scenarios.Program, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return scenarios.Program{}, fmt.Errorf("encode spec: %w", err)
	}
	return scenarios.Program{
		Path: e.python,
		Args: []string{"-E", "-S", "-B", "-u", script},
		Env: []string{
			scenarios.SpecEnv + "=" + string(b),
			"PATH=" + e.path,
			"LC_ALL=C.UTF-8",
		},
		Dir: filepath.Dir(script),
	}, nil
}

// Source implements scenarios.Engine: the scenario's script as it runs.
func (*Engine) Source(id string) (string, string, bool) {
	script, ok := scriptFor(id)
	if !ok {
		return "", "", false
	}
	b, err := files.ReadFile(script)
	if err != nil {
		return "", "", false
	}
	return script, string(b), true
}

// Has reports whether the engine has a script for scenario id.
func Has(id string) bool { _, ok := scriptFor(id); return ok }

// scriptFor maps a scenario id to its script: py/<id, - as _>_scenario.py.
// The suffix keeps a script from shadowing the module it demonstrates: the
// scripts' directory comes first on sys.path, so a file named asyncio.py
// would be imported by "import asyncio".
func scriptFor(id string) (string, bool) {
	if id == "" || strings.ContainsAny(id, "/\\.") {
		return "", false
	}
	name := "py/" + strings.ReplaceAll(id, "-", "_") + "_scenario.py"
	if _, err := fs.Stat(files, name); err != nil {
		return "", false
	}
	return name, true
}

// Close removes the script directory. Runs still going keep their open
// files; new runs must not start after Close.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		err = os.RemoveAll(e.dir)
		if err != nil && errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	})
	return err
}
