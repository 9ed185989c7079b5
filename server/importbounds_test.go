package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
)

// longEnv, when set, makes the store and memory tests use their long
// settings: a 30 MiB import, a ten-minute soak.
const longEnv = "INTERLEAVE_LONG"

// bigTrace records a real execution trace of at least mib MiB: waves of
// goroutines contending for a mutex, sleeping and passing values, as a
// busy program's trace looks.
func bigTrace(t testing.TB, mib int) []byte {
	t.Helper()
	// runtime/trace writes from a goroutine of its own: the size is read
	// under the buffer's lock.
	var buf lockedBuffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("runtime/trace unavailable (another trace running?): %v", err)
	}
	var mu sync.Mutex
	for buf.Len() < mib<<20 {
		var wg sync.WaitGroup
		ch := make(chan int)
		for range 50 {
			wg.Go(func() {
				for j := range 200 {
					mu.Lock()
					x := 0
					for k := range 200 {
						x += k
					}
					_ = x
					mu.Unlock()
					if j%20 == 0 {
						time.Sleep(10 * time.Microsecond)
					}
					select {
					case ch <- j:
					default:
					}
				}
			})
		}
		go func() {
			for range ch {
			}
		}()
		wg.Wait()
		close(ch)
	}
	trace.Stop()
	return buf.Bytes()
}

// startServerChild starts the test binary as a whole server (serverChild)
// recording into a new directory, and returns it with its process.
func startServerChild(t *testing.T) (*testServer, *exec.Cmd) {
	t.Helper()
	// A server in a child process loads the machine: not during another
	// package's timing claim.
	timingclaim.Heavy(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testRoleEnv+"=server", "INTERLEAVE_TEST_DATA="+t.TempDir(), "INTERLEAVE_TEST_EVENTS=100")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	})
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the server did not start: %v\n%s", err, stderr.String())
	}
	return &testServer{Server: &httptest.Server{URL: strings.TrimSpace(url)}}, cmd
}

// procStatus reads a field of /proc/pid/status in bytes (VmRSS, VmHWM).
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// resetPeakRSS makes VmHWM start again from the current resident size.
func resetPeakRSS(t testing.TB, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS of %d: %v", pid, err)
	}
}

// maxImportGrowth is the bar: an import may grow the server's resident
// memory by at most this much, whatever the size of its file.
const maxImportGrowth = 64 << 20

// TestImportMemoryDoesNotGrowWithTheFile uploads a real multi-MiB trace to
// a server in its own process and measures the server's peak resident
// memory. Before imports streamed, each event line was built in memory: a
// 4 MB trace became 114 MB of JSON.
func TestImportMemoryDoesNotGrowWithTheFile(t *testing.T) {
	if testing.Short() {
		t.Skip("a memory measurement: checked without -short (the race detector's memory is not the server's)")
	}
	timingclaim.Heavy(t)
	mib := 6
	if os.Getenv(longEnv) != "" {
		mib = 30
	}
	small := goTrace(t)
	data := bigTrace(t, mib)
	ts, cmd := startServerChild(t)
	pid := cmd.Process.Pid
	// A first small import loads what every import uses.
	if code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(small)); code != http.StatusCreated {
		t.Fatalf("small import = %d %v", code, out)
	}
	base := procStatus(t, pid, "VmRSS")
	resetPeakRSS(t, pid)
	start := time.Now()
	code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(data))
	took := time.Since(start)
	if code != http.StatusCreated {
		t.Fatalf("import of %d bytes = %d %v", len(data), code, out)
	}
	peak := procStatus(t, pid, "VmHWM")
	growth := peak - base
	t.Logf("import of a %.1f MiB trace (%v events) in %v: server RSS %.1f MiB before, peak %.1f MiB, growth %.1f MiB (bar %d MiB)",
		float64(len(data))/(1<<20), out["events"], took.Round(time.Millisecond), float64(base)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20), maxImportGrowth>>20)
	if growth > maxImportGrowth {
		t.Errorf("importing %.1f MiB grew the server by %.1f MiB, over the %d MiB bar", float64(len(data))/(1<<20), float64(growth)/(1<<20), maxImportGrowth>>20)
	}
	// The import is whole: every event it answered is stored.
	if in := ts.info(t, out["id"].(string)); in.Status != StatusDone || float64(in.Events) != out["events"].(float64) {
		t.Errorf("the stored import: %d events, status %q; the import answered %v events", in.Events, in.Status, out["events"])
	}
}

// TestImportsBeyondTheLimitAre429 holds the only import slot with an
// upload that is still arriving: another upload is refused with 429 and a
// time to retry, and accepted once the first is done.
func TestImportsBeyondTheLimitAre429(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxImports = 1 })
	data := goTrace(t)
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/api/imports", "application/octet-stream", pr)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(ts.srv.imports) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the first upload never took the import slot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Post(ts.URL+"/api/imports", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(e.Error, "at most 1") {
		t.Errorf("second upload while the first arrives = %d %q (Retry-After %q); want 429 saying at most 1 at a time", resp.StatusCode, e.Error, resp.Header.Get("Retry-After"))
	}
	pw.Write(data[len(data)/2:])
	pw.Close()
	if code := <-first; code != http.StatusCreated {
		t.Fatalf("the first upload = %d", code)
	}
	if code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(data)); code != http.StatusCreated {
		t.Errorf("an upload after the first finished = %d %v", code, out)
	}
}

// TestImportOverTheMemoryCapIs413: the converting child is held to a run's
// memory cap, and the user is told the trace is too large to convert.
func TestImportOverTheMemoryCapIs413(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MemoryBytes = 8 << 20 })
	code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(bigTrace(t, 3)))
	if msg, _ := out["error"].(string); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "8 MiB of memory") {
		t.Errorf("import over the memory cap = %d %v; want 413 naming the cap", code, out)
	}
	drainStore(t, ts)
	if _, list := ts.listRuns(t, ""); len(list.Runs) != 0 {
		t.Errorf("the refused import left runs %v", ids(list))
	}
}

// TestImportLimitMustBePositive: a server that could convert no upload is
// refused at start, naming the flag.
func TestImportLimitMustBePositive(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Limits.MaxImports = 0
	if s, err := New(cfg, testLogger(t), []scenarios.Engine{goEngine()}); err == nil || !strings.Contains(err.Error(), "max-imports") {
		if s != nil {
			s.Close()
		}
		t.Errorf("New with MaxImports 0 = %v, want an error naming max-imports", err)
	}
}
