package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/internal/timingclaim"
	"interleave/scenarios/child"
	"interleave/scenarios/goengine"
	"interleave/server"
)

// TestMain lets the test binary be the real program (main) and its runner
// children, so the tests below drive the binary as a user would.
func TestMain(m *testing.M) {
	if code, ok := child.RoleMain(); ok {
		os.Exit(code)
	}
	if role := os.Getenv(goengine.RoleEnv); role != "" {
		os.Exit(childMain(role))
	}
	if os.Getenv("INTERLEAVE_TEST_MAIN") == "1" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv("INTERLEAVE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var servingRe = regexp.MustCompile(`url=(http://[^ ]+)`)

// TestSIGTERMCancelsRunsKeepsRecordAndExits starts the real program, begins a
// long run, watches it, sends SIGTERM, and checks the viewer is told, the
// child is gone, the program exits 0 and the run is still there afterwards.
func TestSIGTERMCancelsRunsKeepsRecordAndExits(t *testing.T) {
	// A server with runs loads the machine: not during another package's
	// timing claim.
	timingclaim.Heavy(t)
	data := t.TempDir()
	start := func() (*exec.Cmd, string, *strings.Builder) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "INTERLEAVE_TEST_MAIN=1", "INTERLEAVE_TEST_ARGS=-addr 127.0.0.1:0 -data "+data)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log := &strings.Builder{}
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			log.WriteString(lines.Text() + "\n")
			if m := servingRe.FindStringSubmatch(lines.Text()); m != nil {
				go func() {
					for lines.Scan() {
						log.WriteString(lines.Text() + "\n")
					}
				}()
				return cmd, m[1], log
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the program did not say where it serves:\n%s", log)
		return nil, "", nil
	}
	cmd, url, log := start()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	resp, err := http.Post(url+"/api/runs", "application/json", strings.NewReader(`{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000}}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/runs/"+created.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	var pid int
	for pid == 0 {
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		pid = runPID(t, url, created.ID)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	final := ""
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			break
		}
		var m struct{ Type, Status string }
		json.Unmarshal(msg, &m)
		if m.Type == "status" {
			final = m.Status
		}
	}
	if final != "cancelled" {
		t.Errorf("viewer's last status %q, want cancelled", final)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("program exited with %v after SIGTERM, want 0\n%s", err, log)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the run's child %d outlived the program", pid)
	}

	// What was recorded is still there after a restart.
	cmd, url, _ = start()
	defer cmd.Process.Signal(syscall.SIGTERM)
	var info struct {
		Status string
		Events int
	}
	resp, err = http.Get(url + "/api/runs/" + created.ID)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.Status != "cancelled" || info.Events == 0 {
		t.Errorf("after restart the run is %+v, want cancelled with its events", info)
	}
}

func runPID(t *testing.T, url, id string) int {
	resp, err := http.Get(url + "/api/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ PID int }
	json.NewDecoder(resp.Body).Decode(&info)
	return info.PID
}

func TestBadFlagIsAnError(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(out.String(), "nope") {
		t.Errorf("run(-nope) = %v, output %q; want an error naming the flag", err, out.String())
	}
}

// startProgram runs the real program with args and extra environment and
// returns it with the URL it says it serves and every line it logged up to
// that point and after (log grows while the program runs).
func startProgram(t *testing.T, env []string, args string) (*exec.Cmd, string, *syncLog) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "INTERLEAVE_TEST_MAIN=1", "INTERLEAVE_TEST_ARGS="+args+" -data "+t.TempDir()), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	log := &syncLog{}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		log.add(lines.Text())
		if m := servingRe.FindStringSubmatch(lines.Text()); m != nil {
			go func() {
				for lines.Scan() {
					log.add(lines.Text())
				}
			}()
			return cmd, m[1], log
		}
	}
	t.Fatalf("the program did not say where it serves:\n%s", log)
	return nil, "", nil
}

// syncLog is a program's log, read while it is written.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// roomAddresses are this machine's addresses that a room could reach it on
// (not loopback, not link-local).
func roomAddresses(t *testing.T) []netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// TestPORTServesThisMachineOnly checks that PORT, like -addr's default,
// serves loopback only: the program is not reachable on the machine's
// other addresses.
func TestPORTServesThisMachineOnly(t *testing.T) {
	_, url, _ := startProgram(t, []string{"PORT=0"}, "")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("with PORT=0 the program serves %s, want 127.0.0.1", url)
	}
	port := url[strings.LastIndex(url, ":")+1:]
	room := roomAddresses(t)
	if len(room) == 0 {
		t.Skip("this machine has no address besides loopback to try")
	}
	for _, a := range room {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(a.String(), port), 5*time.Second); err == nil {
			c.Close()
			t.Errorf("PORT=0 is reachable on %s, want loopback only", a)
		}
	}
	if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %s/healthz: %v", url, err)
	} else {
		resp.Body.Close()
	}
}

// TestLANServesTheRoom checks -lan: the program listens on every
// interface, prints one URL per address of the machine, and each URL
// answers; a foreign Host is still refused.
func TestLANServesTheRoom(t *testing.T) {
	room := roomAddresses(t)
	if len(room) == 0 {
		t.Skip("this machine has no address besides loopback for a room")
	}
	_, url, log := startProgram(t, []string{"PORT=0"}, "-lan")
	port := url[strings.LastIndex(url, ":")+1:]
	for _, a := range room {
		want := "http://" + net.JoinHostPort(a.String(), port)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(log.String(), `msg="the room can open" url=`+want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(log.String(), want) {
			t.Errorf("-lan did not print %s:\n%s", want, log)
		}
		resp, err := http.Get(want + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s/healthz = %v %v, want 200", want, resp, err)
			continue
		}
		resp.Body.Close()
		req, _ := http.NewRequest("GET", want+"/", nil)
		req.Host = "rebind.example"
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("GET %s/ with Host rebind.example = %v %v, want 421", want, resp, err)
		} else {
			resp.Body.Close()
		}
	}
}

func TestListenAddress(t *testing.T) {
	for _, tt := range []struct {
		addr      string
		given     bool
		lan       bool
		port      string
		want, err string
	}{
		{"127.0.0.1:8080", false, false, "", "127.0.0.1:8080", ""},
		{"127.0.0.1:9000", false, false, "9000", "127.0.0.1:9000", ""},
		{"127.0.0.1:9000", false, true, "9000", ":9000", ""},
		{":8080", true, false, "", ":8080", ""},
		{"192.0.2.2:8080", true, true, "", "192.0.2.2:8080", ""},
		{"127.0.0.1:8080", true, true, "", "", "-lan serves every interface, but -addr 127.0.0.1:8080 serves this machine only"},
		{"localhost:8080", true, true, "", "", "-lan serves every interface"},
		{"8080", true, false, "", "", `-addr "8080": want host:port`},
		{"127.0.0.1:8080", false, false, "http", "", `PORT="http": want a port number from 0 to 65535`},
		{"127.0.0.1:8080", false, false, "99999", "", `PORT="99999"`},
	} {
		got, err := listenAddress(tt.addr, tt.given, tt.lan, tt.port)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("listenAddress(%q, given=%v, lan=%v, PORT=%q) = %q, %v; want an error saying %q", tt.addr, tt.given, tt.lan, tt.port, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("listenAddress(%q, given=%v, lan=%v, PORT=%q) = %q, %v; want %q", tt.addr, tt.given, tt.lan, tt.port, got, err, tt.want)
		}
	}
}

func TestAllowedHostsFlag(t *testing.T) {
	if got, err := hostNames(" laptop.local, Class.Example.org ,,"); err != nil || strings.Join(got, " ") != "laptop.local Class.Example.org" {
		t.Errorf("hostNames = %v, %v", got, err)
	}
	for _, bad := range []string{"http://laptop.local", "laptop.local:8080", "*.example.org", "a b", "-x.org"} {
		var out strings.Builder
		err := run(context.Background(), []string{"-allowed-hosts", bad}, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), "-allowed-hosts") || !strings.Contains(err.Error(), "not a host name") {
			t.Errorf("-allowed-hosts %q: %v, want an error naming the flag", bad, err)
		}
	}
}

func TestRoomLimitFlagsMustBePositive(t *testing.T) {
	for _, args := range [][]string{{"-max-rooms", "0"}, {"-room-attendees", "-3"}} {
		var out strings.Builder
		err := run(context.Background(), args, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("run(%v) = %v; want an error naming the flag", args, err)
		}
	}
}

// TestLocalSlotsFlag: -local-slots outside 0…-max-runs is refused naming
// the flag, and 0 without a runner pool is refused before anything is
// served (no run could ever execute).
func TestLocalSlotsFlag(t *testing.T) {
	for _, args := range [][]string{{"-local-slots", "-2"}, {"-max-runs", "2", "-local-slots", "3"}, {"-local-slots", "0"}} {
		var out strings.Builder
		args = append(args, "-addr", "127.0.0.1:0", "-data", t.TempDir())
		err := run(context.Background(), args, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), "local-slots") {
			t.Errorf("run(%v) = %v; want an error naming local-slots", args, err)
		}
	}
}

func TestPythonFlag(t *testing.T) {
	var cfg server.Config
	f := &pythonFlag{cfg: &cfg}
	for _, v := range []string{"python-ft=/opt/a/python3.14t", "python=/usr/bin/python3.12", "python-ft=python3.13t"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("-python %s: %v", v, err)
		}
	}
	if cfg.Python != "/usr/bin/python3.12" || strings.Join(cfg.FreeThreaded, " ") != "/opt/a/python3.14t python3.13t" {
		t.Errorf("python %q, free-threaded %v", cfg.Python, cfg.FreeThreaded)
	}
	for _, bad := range []string{"python-ft", "python-ft=", "pypy=/usr/bin/pypy3", "python=/other/python3"} {
		var out strings.Builder
		err := run(context.Background(), []string{"-python", "python=/usr/bin/python3", "-python", bad}, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), "-python") {
			t.Errorf("-python %q: %v, want an error naming the flag", bad, err)
		}
	}
}
