package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SandboxEnv names the environment variable that makes this binary the
// sandbox of a run: it holds the sandbox's spec (JSON). main (and the
// TestMain of every package whose tests start contained runs) calls
// SandboxMain first thing when it is set.
//
// The sandbox is this binary started in the run's new namespaces, in its own
// process group, with a parent-death signal. It joins the run's cgroups,
// brings the loopback interface up, sets the rlimits, drops every
// capability, confines the file system with Landlock, and then executes the
// engine's program in its place (same process, so the program keeps all of
// that and passes it on to everything it starts).
const SandboxEnv = "INTERLEAVE_SANDBOX"

// MarkEnv is set in the environment of a contained program to the run's
// mark, a random name unique to the run: the restart sweep trusts a process
// whose group leader is gone only if it carries the mark.
const MarkEnv = "INTERLEAVE_RUN_MARK"

// sandboxExit is the exit code of a sandbox that could not set up the run.
const sandboxExit = 126

// sandboxSpec is what the sandbox must do before it becomes the program.
type sandboxSpec struct {
	Program programSpec `json:"program"`
	// Parent is the server's pid: if the sandbox's parent is no longer it,
	// the server died during set-up and the sandbox exits.
	Parent int `json:"parent"`
	// Cgroups are cgroup directories to join (their cgroup.procs).
	Cgroups []string `json:"cgroups,omitempty"`
	// Loopback brings lo up in the run's own network namespace.
	Loopback bool `json:"loopback,omitempty"`
	// Rlimits are set on the sandbox and inherited by the program.
	Rlimits []rlimit `json:"rlimits,omitempty"`
	// DropCaps empties the capability bounding set (for a server running
	// as root): the program keeps uid 0 but no privilege.
	DropCaps bool `json:"drop_caps,omitempty"`
	// Landlock confines the file system; nil where the kernel has none.
	Landlock *landlockRuleset `json:"landlock,omitempty"`
	// Probe makes the sandbox report what worked as JSON on stdout instead
	// of executing a program (see probeSandbox).
	Probe *probeSpec `json:"probe,omitempty"`
}

// programSpec is the engine's program, as scenarios.Program has it.
type programSpec struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir,omitempty"`
}

// rlimit is one resource limit (both soft and hard).
type rlimit struct {
	Resource int    `json:"resource"`
	Name     string `json:"name"`
	Value    uint64 `json:"value"`
}

// SandboxMain runs the sandbox role described by spec (the value of
// SandboxEnv): it sets the run up and executes the program, so it returns
// only when that failed, with the exit code to use. What failed is written
// to stderr, which the server shows as the run's output.
func SandboxMain(spec string) int {
	// Every per-thread setting (no_new_privs, Landlock, the parent-death
	// signal) must be made on the thread that executes the program.
	runtime.LockOSThread()
	var s sandboxSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "interleave sandbox: bad spec:", err)
		return sandboxExit
	}
	if s.Probe != nil {
		return probeSandbox(s)
	}
	if err := s.setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "interleave sandbox:", err)
		return sandboxExit
	}
	p := s.Program
	err := syscall.Exec(p.Path, append([]string{p.Path}, p.Args...), p.Env)
	fmt.Fprintf(os.Stderr, "interleave sandbox: execute %s: %v\n", p.Path, err)
	return sandboxExit
}

// setUp does everything but the exec, in an order that works: cgroups and
// the network need privileges that dropping capabilities takes away, and
// Landlock comes last so that it does not stand in the way of the rest.
func (s sandboxSpec) setUp() error {
	for _, dir := range s.Cgroups {
		if err := joinCgroup(dir); err != nil {
			return err
		}
	}
	if s.Loopback {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	for _, r := range s.Rlimits {
		if err := setRlimit(r); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if s.DropCaps {
		if err := dropCapabilities(); err != nil {
			return err
		}
	}
	if s.Landlock != nil {
		if err := s.Landlock.restrictSelf(); err != nil {
			return err
		}
	}
	return dieWithParent(s.Parent)
}

// joinCgroup moves this process into the cgroup dir.
func joinCgroup(dir string) error {
	if err := os.WriteFile(dir+"/cgroup.procs", []byte("0"), 0); err != nil {
		return fmt.Errorf("join cgroup %s: %w", dir, err)
	}
	return nil
}

// loopbackUp brings up lo, the only interface of the run's new network
// namespace, so that a scenario can serve and reach itself on 127.0.0.1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: read flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: bring up: %w", err)
	}
	return nil
}

// setRlimit sets one limit; a hard limit below the wanted value (a user
// may not raise it) caps the value instead of failing.
func setRlimit(r rlimit) error {
	var cur unix.Rlimit
	if err := unix.Getrlimit(r.Resource, &cur); err != nil {
		return fmt.Errorf("rlimit %s: %w", r.Name, err)
	}
	v := r.Value
	if cur.Max != unix.RLIM_INFINITY && v > cur.Max && os.Geteuid() != 0 {
		v = cur.Max
	}
	if err := unix.Setrlimit(r.Resource, &unix.Rlimit{Cur: v, Max: v}); err != nil {
		return fmt.Errorf("rlimit %s to %d: %w", r.Name, v, err)
	}
	return nil
}

// dropCapabilities empties the ambient and inheritable sets and, for uid 0,
// the bounding set, so that the program gets no capability at all: root's
// cannot load modules, reboot, change its limits or leave its cgroup; in a
// user namespace of its own, the sandbox's CAP_NET_ADMIN (for lo) does not
// pass to the program. (A uid other than 0 gains nothing at execve without
// ambient capabilities, and no_new_privs rules out set-uid and file
// capabilities.)
func dropCapabilities() error {
	if os.Geteuid() == 0 {
		if err := dropBounding(); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear inheritable capabilities: %w", err)
	}
	return nil
}

// dropBounding empties the capability bounding set.
func dropBounding() error {
	last := unix.CAP_LAST_CAP
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// dieWithParent asks for SIGKILL when the server dies, again: a change of
// credentials clears the request, and the server may have died during the
// set-up, before the request held (then the parent is no longer it).
func dieWithParent(parent int) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	if parent != 0 && os.Getppid() != parent {
		return errors.New("the server died during set-up")
	}
	return nil
}

// probeSpec asks a probing sandbox to check its set-up from inside.
type probeSpec struct {
	// Hidden is a directory the run must not be able to read.
	Hidden string `json:"hidden,omitempty"`
}

// probeResult is what a probing sandbox found.
type probeResult struct {
	Cgroups  string `json:"cgroups,omitempty"`
	Loopback string `json:"loopback,omitempty"`
	Rlimits  string `json:"rlimits,omitempty"`
	Caps     string `json:"caps,omitempty"`
	Landlock string `json:"landlock,omitempty"`
	Hidden   string `json:"hidden,omitempty"`
	Parent   string `json:"parent,omitempty"`
}

// probeSandbox does each step of the set-up, noting each failure instead
// of stopping, checks from inside that the loopback works and the hidden
// directory is out of reach, and prints the findings. An empty field
// means the step worked.
func probeSandbox(s sandboxSpec) int {
	var r probeResult
	note := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return ""
	}
	for _, dir := range s.Cgroups {
		if err := joinCgroup(dir); err != nil {
			r.Cgroups = err.Error()
		}
	}
	if s.Loopback {
		r.Loopback = note(loopbackUp())
		if r.Loopback == "" {
			r.Loopback = note(loopbackWorks())
		}
	}
	for _, l := range s.Rlimits {
		if err := setRlimit(l); err != nil {
			r.Rlimits = err.Error()
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		r.Landlock = "no_new_privs: " + err.Error()
	}
	if s.DropCaps {
		r.Caps = note(dropCapabilities())
	}
	if s.Landlock != nil && r.Landlock == "" {
		r.Landlock = note(s.Landlock.restrictSelf())
		if r.Landlock == "" && s.Probe.Hidden != "" {
			if _, err := os.ReadDir(s.Probe.Hidden); err == nil {
				r.Hidden = "the store's directory " + s.Probe.Hidden + " is still readable"
			}
		}
	}
	r.Parent = note(dieWithParent(s.Parent))
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return sandboxExit
	}
	return 0
}

// loopbackWorks serves and connects on 127.0.0.1 once.
func loopbackWorks() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loopback: listen: %w", err)
	}
	defer ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		return fmt.Errorf("loopback: connect: %w", err)
	}
	return c.Close()
}
