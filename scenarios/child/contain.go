package child

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"interleave/scenarios"
)

// ContainConfig is how a server wants its runs contained.
type ContainConfig struct {
	// Executable is this binary: it runs the sandbox role (see SandboxEnv)
	// and must dispatch it. Required.
	Executable string
	// Hidden are directories a run must not reach (the store's data
	// directory). They are hidden with Landlock where the kernel has it.
	Hidden []string
	// TempRoot is where each run's private directory is made (default
	// os.TempDir()). Keep it short: a run's unix sockets live under it
	// (multiprocessing's forkserver binds one) and their paths have at most
	// 107 bytes.
	TempRoot string
	// MemoryBytes caps the memory of all of a run's processes together
	// (0: no cap). Enforced by a memory cgroup where the machine has one;
	// else measured every 100 ms and the run killed past it.
	MemoryBytes int64
	// Tasks caps a run's processes and threads together (0: no cap), with
	// the pids cgroup controller; without one, RLIMIT_NPROC applies inside
	// the run's own user namespace (it counts per user, so it is not set
	// where the run shares the server's user: it would count the server's
	// and every other program's threads).
	Tasks int64
	// OpenFiles is each process's RLIMIT_NOFILE (0: 8192).
	OpenFiles uint64
	// FileBytes is the largest file a run may write, RLIMIT_FSIZE (0: 256 MiB).
	FileBytes uint64
	// Log receives the watchdog's messages (default os.Stderr).
	Log io.Writer
	// Without turns mechanisms off by name ("cgroup", "network",
	// "landlock", "userns", "caps"): for tests that check what a run gets
	// on a machine that lacks one, and for an operator who must.
	Without []string
}

// protectionSwitches are the names ContainConfig.Without knows.
var protectionSwitches = []string{"cgroup", "network", "landlock", "userns", "caps"}

// Containment starts contained runs as its probe found this machine allows.
// It is safe for concurrent use.
type Containment struct {
	cfg     ContainConfig
	cgroups *cgroupHost
	// cloneflags are the namespaces each run gets.
	cloneflags uintptr
	userns     bool
	loopback   bool
	landlock   int // ABI version, 0 when off
	dropCaps   bool
	report     Report
	// watchdog kills the runs still going should this process die.
	watchdog  *watchdog
	closeOnce sync.Once
	closeErr  error
}

// Protection is one protection of a run and whether it is on here.
type Protection struct {
	Name string `json:"name"`
	On   bool   `json:"on"`
	// How says what enforces it, or, when it is off, why and what to do.
	How string `json:"how"`
}

// Report lists every protection a run gets on this machine.
type Report []Protection

// Off returns the protections that are off.
func (r Report) Off() Report {
	var off Report
	for _, p := range r {
		if !p.On {
			off = append(off, p)
		}
	}
	return off
}

// NewContainment probes what this machine allows (cgroups, namespaces,
// Landlock, capabilities) by setting up one sandbox, and returns the
// containment every run will get, with its report. It fails only when the
// executable cannot run the sandbox at all; a missing mechanism is a
// protection reported off, and runs go on without it.
func NewContainment(cfg ContainConfig) (*Containment, error) {
	if cfg.Executable == "" {
		return nil, errors.New("containment needs the executable that runs the sandbox")
	}
	if cfg.TempRoot == "" {
		cfg.TempRoot = os.TempDir()
	}
	if cfg.OpenFiles == 0 {
		cfg.OpenFiles = 8192
	}
	if cfg.FileBytes == 0 {
		cfg.FileBytes = 256 << 20
	}
	// Landlock holds on the real hierarchy: hide the directories by their
	// real, absolute paths.
	hidden := make([]string, 0, len(cfg.Hidden))
	for _, h := range cfg.Hidden {
		if abs, err := filepath.Abs(h); err == nil {
			h = abs
		}
		if real, err := filepath.EvalSymlinks(h); err == nil {
			h = real
		}
		hidden = append(hidden, h)
	}
	cfg.Hidden = hidden
	for _, w := range cfg.Without {
		if !slices.Contains(protectionSwitches, w) {
			return nil, fmt.Errorf("without: unknown protection %q; want one or more of %s", w, strings.Join(protectionSwitches, ", "))
		}
	}
	without := func(name string) bool { return slices.Contains(cfg.Without, name) }
	c := &Containment{cfg: cfg}
	root := os.Geteuid() == 0
	if without("cgroup") {
		c.cgroups = &cgroupHost{v1: map[string]string{}, missing: []string{"turned off (-without cgroup)"}}
	} else {
		c.cgroups = probeCgroups()
	}
	if !without("network") {
		// A user namespace lets a user who is not root make the others.
		c.cloneflags, c.loopback = syscall.CLONE_NEWNET|syscall.CLONE_NEWIPC, true
		if !root {
			c.cloneflags |= syscall.CLONE_NEWUSER
			c.userns = true
		}
		if c.userns && without("userns") {
			c.cloneflags, c.loopback, c.userns = 0, false, false
		}
	}
	if !without("landlock") {
		c.landlock = landlockABI()
	}
	c.dropCaps = root && !without("caps")

	res, netErr, err := c.probe()
	if err != nil {
		return nil, err
	}
	c.report = c.makeReport(res, netErr, without)
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if c.watchdog, err = startWatchdog(cfg.Executable, cfg.Log); err != nil {
		return nil, err
	}
	return c, nil
}

// Close stops the watchdog; call it once every run has ended (a run still
// going is killed). Closing again does nothing.
func (c *Containment) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.watchdog.close() })
	return c.closeErr
}

// Report returns what each run gets here.
func (c *Containment) Report() Report { return c.report }

// probe starts one sandbox in probe mode with everything on. A start that
// fails because of the namespaces (no user namespaces for this user) is
// tried again without them: the network is then the one protection off.
func (c *Containment) probe() (res probeResult, netErr, err error) {
	dir, err := os.MkdirTemp(c.cfg.TempRoot, "interleave-run-probe-")
	if err != nil {
		return res, nil, fmt.Errorf("containment: private directory: %w", err)
	}
	defer os.RemoveAll(dir)
	var group *runGroup
	if c.cgroups.killable() {
		group, err = c.cgroups.newRunGroup(cgroupPrefix+"probe-"+randomName(), cgroupLimits{memory: c.cfg.MemoryBytes, tasks: c.cfg.Tasks})
		if err != nil {
			c.cgroups.missing = append(c.cgroups.missing, err.Error())
			c.cgroups = &cgroupHost{v1: map[string]string{}, missing: c.cgroups.missing}
		}
	}
	defer func() { group.kill(); _ = group.remove() }()
	hidden := ""
	if len(c.cfg.Hidden) > 0 {
		hidden = c.cfg.Hidden[0]
	}
	spec := c.spec(programSpec{Path: c.cfg.Executable}, dir, group)
	spec.Probe = &probeSpec{Hidden: hidden}
	run := func() ([]byte, error) {
		b, _ := json.Marshal(spec)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.cfg.Executable, sandboxGuard)
		cmd.Env = []string{SandboxEnv + "=" + string(b)}
		cmd.Dir = dir
		cmd.SysProcAttr = c.sysProcAttr()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return out, err
	}
	out, err := run()
	if err != nil && c.cloneflags != 0 {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			// The kernel refused the namespaces: try without.
			netErr = err
			c.cloneflags, c.userns, c.loopback = 0, false, false
			spec.Loopback = false
			out, err = run()
		}
	}
	if err != nil {
		return res, netErr, fmt.Errorf("containment: the sandbox (%s) does not start: %w", c.cfg.Executable, err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, netErr, fmt.Errorf("containment: the sandbox's report %q: %w", out, err)
	}
	// A step that failed in the probe is turned off for every run, so that
	// runs never fail on it.
	if res.Cgroups != "" {
		c.cgroups = &cgroupHost{v1: map[string]string{}, missing: append(c.cgroups.missing, res.Cgroups)}
	}
	if res.Loopback != "" {
		netErr = errors.New(res.Loopback)
		c.cloneflags, c.userns, c.loopback = 0, false, false
	}
	if res.Caps != "" {
		c.dropCaps = false
	}
	if res.Landlock != "" || res.Hidden != "" {
		c.landlock = 0
	}
	return res, netErr, nil
}

// sandboxGuard is the sandbox's only argument. A binary that does not
// dispatch the sandbox role would otherwise start as itself (a test binary
// would run its tests again); with it the server binary stops on an unknown
// flag and a test binary runs no test.
const sandboxGuard = "-test.run=^$"

// makeReport turns what was found into the list the server logs.
func (c *Containment) makeReport(res probeResult, netErr error, without func(string) bool) Report {
	h := c.cgroups
	missing := strings.Join(h.missing, "; ")
	if missing == "" {
		missing = "no writable cgroup"
	}
	var r Report
	add := func(name string, on bool, how, why string) {
		if !on {
			how = why
		}
		r = append(r, Protection{Name: name, On: on, How: how})
	}
	add("cgroup", h.killable(), "a cgroup per run: "+h.describe(), "off: "+missing+"; a run's processes are found by their process group only")
	add("memory cap", h.memory(), "enforced by the kernel (memory cgroup): an allocation past the cap is stopped at once",
		"polled every 100 ms (no memory cgroup: "+missing+"): a fast allocation can pass it before the run is killed")
	switch {
	case h.tasks():
		add("task cap", true, "pids cgroup controller", "")
	case c.userns:
		add("task cap", true, "RLIMIT_NPROC, counted in the run's own user namespace", "")
	default:
		add("task cap", false, "", "off: no pids cgroup, and no user namespace of its own to count RLIMIT_NPROC in")
	}
	add("cpu accounting", h.cpu(), "cgroup CPU time of every process of the run",
		"rusage of the main process and the children it waited for (no cgroup)")
	netWhy := "off: the run shares the server's network (a scenario could reach the host's services)"
	if without("network") {
		netWhy += ": turned off"
	} else if netErr != nil {
		netWhy += ": " + netErr.Error()
		if !strings.Contains(netErr.Error(), "user namespace") && os.Geteuid() != 0 {
			netWhy += " (unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1, or AppArmor's kernel.apparmor_restrict_unprivileged_userns=0)"
		}
	}
	how := "own network namespace with only loopback up"
	if c.userns {
		how += " (in its own user namespace)"
	}
	add("network", c.loopback, how, netWhy)
	llWhy := "off: the kernel has no Landlock"
	switch {
	case without("landlock"):
		llWhy = "off: turned off"
	case res.Hidden != "":
		llWhy = "off: " + res.Hidden
	case res.Landlock != "":
		llWhy = "off: " + res.Landlock
	}
	add("files", c.landlock > 0, fmt.Sprintf("Landlock ABI %d: the system read-only, a private directory and /dev/shm writable, the store's directory unreachable", c.landlock), llWhy+"; a run can read and write whatever the server's user can, the store included")
	add("signals", c.landlock >= 6, "Landlock scope: a run cannot signal or reach the abstract sockets of processes outside it",
		"off: needs Landlock ABI 6; a run can signal every process of the server's user, the server included")
	if os.Geteuid() == 0 {
		capsWhy := "off: the run has every capability of root: "
		if without("caps") {
			capsWhy += "turned off"
		} else {
			capsWhy += res.Caps
		}
		add("capabilities", c.dropCaps, "every capability dropped: the run is uid 0 without any privilege", capsWhy)
	}
	add("rlimits", res.Rlimits == "", fmt.Sprintf("RLIMIT_NOFILE %d, RLIMIT_FSIZE %d MiB, RLIMIT_CORE 0 (no core dumps)", c.cfg.OpenFiles, c.cfg.FileBytes>>20), "off: "+res.Rlimits)
	add("private directory", true, "a fresh 0700 working directory and TMPDIR per run under "+c.cfg.TempRoot+", removed after", "")
	add("parent death", res.Parent == "", "a watchdog process beside the server kills a run's cgroup and process group when the server dies; SIGKILL to the run's main process too, and the engines pass it on to every process they start", "off: "+res.Parent)
	return r
}

// sysProcAttr is how every sandbox is started: its own process group (the
// unit the server kills), a parent-death signal, the run's namespaces.
func (c *Containment) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Cloneflags: c.cloneflags}
	if c.userns {
		uid, gid := os.Getuid(), os.Getgid()
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		a.GidMappingsEnableSetgroups = false
		// The sandbox keeps the one capability it needs in its namespaces
		// (bringing lo up) through its execve; it drops it before the
		// program's.
		a.AmbientCaps = []uintptr{unix.CAP_NET_ADMIN}
	}
	return a
}

// spec is the sandbox spec of a run of prog with private directory dir.
func (c *Containment) spec(prog programSpec, dir string, group *runGroup) sandboxSpec {
	s := sandboxSpec{Program: prog, Parent: os.Getpid(), Loopback: c.loopback, DropCaps: c.dropCaps || c.userns}
	if group != nil {
		s.Cgroups = group.dirs
	}
	s.Rlimits = []rlimit{
		{Resource: unix.RLIMIT_NOFILE, Name: "NOFILE", Value: c.cfg.OpenFiles},
		{Resource: unix.RLIMIT_FSIZE, Name: "FSIZE", Value: c.cfg.FileBytes},
		{Resource: unix.RLIMIT_CORE, Name: "CORE", Value: 0},
	}
	if c.userns && !c.cgroups.tasks() && c.cfg.Tasks > 0 {
		s.Rlimits = append(s.Rlimits, rlimit{Resource: unix.RLIMIT_NPROC, Name: "NPROC", Value: uint64(c.cfg.Tasks)})
	}
	if c.landlock > 0 {
		rs := runRuleset(c.landlock, prog, dir, c.cfg.Hidden)
		s.Landlock = &rs
	}
	return s
}

// randomName returns 16 random hex digits.
func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// contained is one run's share of the containment: its private directory,
// its cgroups and its mark.
type contained struct {
	c     *Containment
	dir   string
	group *runGroup
	mark  string
}

// prepare makes the run's private directory and cgroups and returns the
// command that starts its sandbox.
func (c *Containment) prepare(ctx context.Context, prog scenarios.Program) (*exec.Cmd, *contained, error) {
	run := &contained{c: c, mark: randomName()}
	dir, err := os.MkdirTemp(c.cfg.TempRoot, "interleave-run-")
	if err != nil {
		return nil, nil, fmt.Errorf("private directory: %w", err)
	}
	run.dir = dir
	if c.cgroups.killable() {
		run.group, err = c.cgroups.newRunGroup(cgroupPrefix+run.mark, cgroupLimits{memory: c.cfg.MemoryBytes, tasks: c.cfg.Tasks})
		if err != nil {
			run.release()
			return nil, nil, err
		}
	}
	env := make([]string, 0, len(prog.Env)+2)
	for _, kv := range prog.Env {
		if !strings.HasPrefix(kv, "TMPDIR=") && !strings.HasPrefix(kv, MarkEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, "TMPDIR="+dir, MarkEnv+"="+run.mark)
	spec := c.spec(programSpec{Path: prog.Path, Args: prog.Args, Env: env, Dir: prog.Dir}, dir, run.group)
	b, err := json.Marshal(spec)
	if err != nil {
		run.release()
		return nil, nil, fmt.Errorf("sandbox spec: %w", err)
	}
	cmd := exec.CommandContext(ctx, c.cfg.Executable, sandboxGuard)
	cmd.Env = []string{SandboxEnv + "=" + string(b)}
	cmd.Dir = dir
	cmd.SysProcAttr = c.sysProcAttr()
	return cmd, run, nil
}

// kill kills every process of the run its cgroup knows (none for a run
// that is not contained).
func (r *contained) kill() {
	if r != nil {
		r.group.kill()
	}
}

// release removes the run's cgroups and private directory, once its
// processes are gone.
func (r *contained) release() error {
	err := r.group.remove()
	if r.dir != "" {
		if rerr := os.RemoveAll(r.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the run's directory: %w", rerr))
		}
	}
	return err
}

// watch puts the run in the watchdog's care.
func (r *contained) watch(l Leftover) {
	_ = r.c.watchdog.add(r.mark, l)
}

// unwatch takes the run out of the watchdog's care once its processes are gone.
func (r *contained) unwatch() {
	if r != nil {
		_ = r.c.watchdog.remove(r.mark)
	}
}

// leftover is what a restarted server needs to clean up after this run.
func (r *contained) leftover(pid int) Leftover {
	l := Leftover{PGID: pid, Mark: r.mark, Dir: r.dir, Boot: bootID(), Server: os.Getpid()}
	l.Start, _ = startTime(pid)
	l.ServerStart, _ = startTime(l.Server)
	if r.group != nil {
		l.Cgroups = r.group.dirs
	}
	return l
}
