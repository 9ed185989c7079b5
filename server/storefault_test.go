package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"interleave/scenarios"
)

// fullServerChild is the test binary as a server whose data directory is a
// small tmpfs of its own (INTERLEAVE_TEST_ROLE=fullserver). The test starts
// it in a new user and mount namespace, so mounting needs no privilege and
// the mount vanishes with it. SIGUSR1 fills the disk (it prints "full"),
// SIGUSR2 frees it again ("freed"). Its runs write 2,000 events, wait 2 s
// and end.
func fullServerChild() int {
	dir := os.Getenv("INTERLEAVE_TEST_DATA")
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "make mounts private:", err)
		return 3
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+os.Getenv("INTERLEAVE_TEST_TMPFS")); err != nil {
		fmt.Fprintln(os.Stderr, "mount tmpfs:", err)
		return 3
	}
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	s, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		[]scenarios.Engine{&floodEngine{events: 2000, sleep: 2 * time.Second}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var stdout sync.Mutex
	say := func(line string) {
		stdout.Lock()
		defer stdout.Unlock()
		fmt.Println(line)
	}
	filler := filepath.Join(dir, "filler")
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGUSR2 {
				os.Remove(filler)
				say("freed")
				continue
			}
			f, err := os.Create(filler)
			if err != nil {
				say("fill: " + err.Error())
				continue
			}
			block := make([]byte, 64<<10)
			for err == nil {
				_, err = f.Write(block)
			}
			for n := len(block) / 2; n > 0; n /= 2 { // the last few bytes too
				f.Write(block[:n])
			}
			f.Close()
			say("full")
		}
	}()
	say("http://" + ln.Addr().String())
	fmt.Fprintln(os.Stderr, http.Serve(ln, s))
	return 1
}

// lockedBuffer is a bytes.Buffer safe to write from a child's output copier
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// Bytes returns a copy of what was written.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// startFullServer starts fullServerChild with a tmpfs of size bytes, or
// skips the test where this machine does not allow a user namespace.
func startFullServer(t *testing.T, size string) (ts *testServer, signalChild func(os.Signal, string), log *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testRoleEnv+"=fullserver", "INTERLEAVE_TEST_DATA="+t.TempDir(), "INTERLEAVE_TEST_TMPFS="+size)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	log = &lockedBuffer{}
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
			t.Skipf("this machine does not let a test make a user and mount namespace (for a small tmpfs): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the server child ended:\n%s", log.String())
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatalf("the server child said nothing for 30 s:\n%s", log.String())
		}
		return ""
	}
	url := next()
	if !strings.HasPrefix(url, "http://") {
		if strings.Contains(log.String(), "mount") {
			t.Skipf("this machine does not let a user namespace mount a tmpfs: %s", log.String())
		}
		t.Fatalf("server child said %q", url)
	}
	signalChild = func(sig os.Signal, want string) {
		t.Helper()
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if got := next(); got != want {
			t.Fatalf("the server child said %q, want %q", got, want)
		}
	}
	return &testServer{Server: &httptest.Server{URL: url}}, signalChild, log
}

// pollStatus asks GET /api/runs/{id} until the run's status is want.
func pollStatus(t *testing.T, ts *testServer, id, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		in := ts.info(t, id)
		if in.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %q, want %q", id, in.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// postStatus posts body to path and returns the status, the error message
// of a JSON error answer, and the Retry-After header.
func postStatus(t *testing.T, url, ctype, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &e)
	return resp.StatusCode, e.Error, resp.Header.Get("Retry-After")
}

// TestFullDiskRefusesRunsNeverReportsUnsavedDoneAndRecovers fills the real
// file system under the store while a run goes on. Before the store backed
// off and refused, it retried 19 times a second, kept accepting runs and
// reported them done though nothing was saved.
func TestFullDiskRefusesRunsNeverReportsUnsavedDoneAndRecovers(t *testing.T) {
	skipUnderRace(t)
	ts, signalChild, log := startFullServer(t, "4m")
	const body = `{"scenario":"locks","engine":"go"}`

	// A run starts; the disk fills while it runs (it writes its events,
	// then waits 2 s before its end).
	a := ts.start(t, body)
	pollStatus(t, ts, a, StatusRunning)
	signalChild(syscall.SIGUSR1, "full")
	full := time.Now()

	// Its live viewer sees every event, then failed: never done.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := ts.watchRaw(ctx, t, a)
	if v.final() != StatusFailed {
		t.Fatalf("a run that ended while the disk was full was reported %q (statuses %v), want failed", v.final(), v.statuses)
	}
	last := string(v.lines[len(v.lines)-1])
	if !strings.Contains(last, "not saved") || !strings.Contains(last, "full") {
		t.Errorf("its last event is %s; want a mark saying it was not saved because the disk is full", last)
	}
	if in := ts.info(t, a); in.Status != StatusFailed {
		t.Errorf("GET /api/runs/%s says %q", a, in.Status)
	}

	// New work is refused with a clear message and a time to retry.
	for _, req := range []struct{ path, ctype, body string }{
		{"/api/runs", "application/json", body},
		{"/api/compare", "application/json", `{"workload":"cpu","engine":"go","size":"small"}`},
		{"/api/imports", "application/octet-stream", "go 1.26 trace\x00\x00\x00"},
	} {
		code, msg, retry := postStatus(t, ts.URL+req.path, req.ctype, req.body)
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "cannot save new runs") || !strings.Contains(msg, "disk") || retry == "" {
			t.Errorf("POST %s while the disk is full = %d %q (Retry-After %q); want 503 saying the store cannot save", req.path, code, msg, retry)
		}
	}

	// Space returns: within the longest backoff, runs are accepted again,
	// saved and reported done.
	signalChild(syscall.SIGUSR2, "freed")
	freed := time.Now()
	var c string
	for deadline := time.Now().Add(MaxWriteBackoff + 10*time.Second); ; {
		code, out, _ := ts.post(t, body)
		if code == http.StatusCreated {
			c = out["id"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still refused %v after space returned: %d %v", time.Since(freed), code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recovered := time.Since(freed)
	if w := ts.watchRaw(ctx, t, c); w.final() != StatusDone {
		t.Fatalf("the run after recovery ended %q, want done", w.final())
	}
	// The run that ended during the outage is saved now, as it was reported.
	for deadline := time.Now().Add(15 * time.Second); ; {
		_, list := ts.listRuns(t, "limit=10")
		saved := false
		for _, r := range list.Runs {
			saved = saved || r.ID == a && r.Status == StatusFailed && r.StoredBytes > 0
		}
		if saved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run of the outage was not saved after recovery: %+v", list.Runs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The log says it once when writing stops and once when it works
	// again; meanwhile the store tried with backoff, not in a tight loop.
	text := log.String()
	if n := strings.Count(text, `msg="store: cannot write`); n != 1 {
		t.Errorf("the log says %d times that the store cannot write, want once", n)
	}
	m := regexp.MustCompile(`msg="store: writing again; new runs are accepted" failed_for=(\S+) attempts=(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the log does not say the store writes again")
	}
	failedFor, _ := time.ParseDuration(m[1])
	attempts, _ := strconv.Atoi(m[2])
	// 100 ms doubling to 5 s: 7 tries cover the first 12.7 s, then one
	// every 5 s.
	bound := 7 + int(failedFor/MaxWriteBackoff) + 1
	t.Logf("outage: full for %v, writes failing for %v, %d attempts (at most %d allowed); runs accepted again %v after space returned",
		time.Since(full).Round(time.Millisecond), failedFor, attempts, bound, recovered.Round(time.Millisecond))
	if attempts > bound {
		t.Errorf("%d write attempts in %v of failure: not backing off (at most %d)", attempts, failedFor, bound)
	}
}
