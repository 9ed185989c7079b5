package child

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"interleave/scenarios"
)

// testRoleEnv makes the test binary one of the programs below, run as a
// contained (or plain) child by the tests.
const testRoleEnv = "INTERLEAVE_CHILD_TEST_ROLE"

// TestMain lets the test binary be the sandbox and the test programs.
func TestMain(m *testing.M) {
	if code, ok := RoleMain(); ok {
		os.Exit(code)
	}
	if role := os.Getenv(testRoleEnv); role != "" {
		os.Exit(testRole(role))
	}
	goleak.VerifyTestMain(m)
}

// events is fd 3, opened once: a second *os.File for it would close the
// descriptor when the garbage collector finalizes the first.
var events = sync.OnceValue(func() *os.File { return os.NewFile(scenarios.EventFD, "events") })

// report writes one JSON object as an event line on fd 3.
func report(v any) {
	b, _ := json.Marshal(v)
	events().Write(append(b, '\n'))
}

// inspection is what the inspect role finds out about its surroundings.
type inspection struct {
	Cwd, TmpDir, Mark string
	UID               int
	CapEff            string
	Cgroup            string
	NoFile, FSize     uint64
	Core              uint64
	// SecretErr is the error reading the hidden directory's file ("" if read).
	SecretErr string
	// HostDialErr is the error connecting to the host's listener.
	HostDialErr string
	// LoopbackErr is the error serving and connecting on 127.0.0.1 inside.
	LoopbackErr string
	// WriteErr is the error writing a file in TMPDIR.
	WriteErr string
	// KillParentErr is the error sending signal 0 to the server.
	KillParentErr string
	// ShadowErr is the error reading /etc/shadow.
	ShadowErr string
}

func testRole(role string) int {
	// Only this process writes events: what it starts must not hold the
	// pipe open.
	syscall.CloseOnExec(scenarios.EventFD)
	switch role {
	case "inspect":
		var in inspection
		in.Cwd, _ = os.Getwd()
		in.TmpDir = os.Getenv("TMPDIR")
		in.Mark = os.Getenv(MarkEnv)
		in.UID = os.Getuid()
		status, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				in.CapEff = strings.TrimSpace(v)
			}
		}
		cg, _ := os.ReadFile("/proc/self/cgroup")
		in.Cgroup = string(cg)
		var rl syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		in.NoFile = rl.Cur
		syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl)
		in.FSize = rl.Cur
		syscall.Getrlimit(syscall.RLIMIT_CORE, &rl)
		in.Core = rl.Cur
		errText := func(err error) string {
			if err != nil {
				return err.Error()
			}
			return ""
		}
		_, err := os.ReadFile(os.Getenv("SECRET"))
		in.SecretErr = errText(err)
		c, err := net.DialTimeout("tcp", os.Getenv("HOST_ADDR"), time.Second)
		if err == nil {
			c.Close()
		}
		in.HostDialErr = errText(err)
		in.LoopbackErr = errText(loopbackWorks())
		in.WriteErr = errText(os.WriteFile(os.Getenv("TMPDIR")+"/x", []byte("x"), 0o600))
		if ppid, err := strconv.Atoi(os.Getenv("SERVER_PID")); err == nil {
			in.KillParentErr = errText(syscall.Kill(ppid, 0))
		}
		_, err = os.ReadFile("/etc/shadow")
		in.ShadowErr = errText(err)
		report(in)
		return 0
	case "alloc":
		// Allocates and touches 16 MiB at a time, as fast as it can, up
		// to 1 GiB, saying how far it got.
		var hold [][]byte
		start := time.Now()
		for i := 1; i <= 64; i++ {
			b := make([]byte, 16<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			hold = append(hold, b)
			report(map[string]int64{"mib": 16 * int64(i), "ms": time.Since(start).Milliseconds()})
		}
		report(map[string]bool{"done": true})
		return len(hold) & 0
	case "files":
		var open []*os.File
		for len(open) < 100000 {
			f, err := os.Open("/dev/null")
			if err != nil {
				report(map[string]any{"open": len(open), "err": err.Error()})
				break
			}
			open = append(open, f)
		}
		for _, f := range open {
			f.Close()
		}
		f, err := os.Create(os.Getenv("TMPDIR") + "/big")
		if err == nil {
			_, err = f.Write(make([]byte, 2<<20))
			f.Close()
		}
		report(map[string]any{"write_err": fmt.Sprint(err)})
		return 0
	case "tasks":
		// Starts sleeping children until the kernel refuses one.
		exe, _ := os.Executable()
		n := 0
		var last error
		for ; n < 2000; n++ {
			cmd := exec.Command(exe)
			cmd.Env = []string{testRoleEnv + "=sleep"}
			if last = cmd.Start(); last != nil {
				break
			}
		}
		report(map[string]any{"started": n, "err": fmt.Sprint(last)})
		return 0
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	case "hello":
		report(map[string]bool{"hello": true})
		return 0
	case "family":
		// Starts two sleepers that inherit its environment, says so, and
		// sleeps: a run whose server is about to disappear.
		exe, _ := os.Executable()
		var pids []int
		for range 2 {
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), testRoleEnv+"=sleep")
			if err := cmd.Start(); err != nil {
				return 1
			}
			pids = append(pids, cmd.Process.Pid)
		}
		report(map[string]any{"children": pids})
		time.Sleep(time.Minute)
		return 0
	case "burn":
		// Two processes (this one and a copy) each use 300 ms of CPU.
		if os.Getenv("BURN_CHILD") == "" {
			exe, _ := os.Executable()
			cmd := exec.Command(exe)
			cmd.Env = []string{testRoleEnv + "=burn", "BURN_CHILD=1"}
			if err := cmd.Start(); err != nil {
				return 1
			}
			burn(300 * time.Millisecond)
			cmd.Wait()
			return 0
		}
		burn(300 * time.Millisecond)
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown test role", role)
	return 2
}

// burn uses d of this process's CPU time.
func burn(d time.Duration) {
	start := cpuNow()
	for cpuNow()-start < d.Nanoseconds() {
	}
}

func cpuNow() int64 {
	var t unix.Timespec
	unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &t)
	return t.Nano()
}
