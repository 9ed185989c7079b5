package server

import (
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
)

// testLogger sends the server's log to t.Logf.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// testServer is a real server on a loopback port, with real child processes.
type testServer struct {
	*httptest.Server
	srv *Server
}

func goEngine() scenarios.Engine {
	return &goengine.Engine{Executable: os.Args[0], Env: []string{"PATH=" + os.Getenv("PATH")}}
}

func newTestServer(t *testing.T, tune func(*Limits), engines ...scenarios.Engine) *testServer {
	t.Helper()
	return newTestServerIn(t, t.TempDir(), tune, engines...)
}

// newTestServerIn is newTestServer recording into dataDir, so that a test
// can start a second server on what the first one recorded.
func newTestServerIn(t *testing.T, dataDir string, tune func(*Limits), engines ...scenarios.Engine) *testServer {
	t.Helper()
	return newTestServerConfig(t, func(cfg *Config) {
		cfg.DataDir = dataDir
		if tune != nil {
			tune(&cfg.Limits)
		}
	}, testLogger(t), engines...)
}

// newTestServerConfig is newTestServer with the whole Config tuned (on a
// fresh data directory unless tune sets one) and the log sent to logger.
func newTestServerConfig(t *testing.T, tune func(*Config), logger *slog.Logger, engines ...scenarios.Engine) *testServer {
	t.Helper()
	// A server runs child processes: never during another package's
	// timing claim (inside this test's own claim, nothing more).
	timingclaim.Heavy(t)
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	if tune != nil {
		tune(&cfg)
	}
	if len(engines) == 0 {
		engines = []scenarios.Engine{goEngine()}
	}
	s, err := New(cfg, logger, engines)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s)
	// What net/http itself reports (a write on a hijacked connection, a
	// handler's panic) goes to the same log.
	hs.Config.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelError)
	hs.Start()
	ts := &testServer{Server: hs, srv: s}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close the store: %v", err)
		}
	})
	return ts
}

// post starts a run and returns the status code and decoded body.
func (ts *testServer) post(t *testing.T, body string) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.Post(ts.URL+"/api/runs", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode %d response: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out, resp.Header
}

func (ts *testServer) start(t *testing.T, body string) string {
	t.Helper()
	code, out, _ := ts.post(t, body)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/runs = %d %v, want 201", code, out)
	}
	return out["id"].(string)
}

func (ts *testServer) info(t *testing.T, id string) Info {
	t.Helper()
	resp, err := http.Get(ts.URL + "/api/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

// viewer is what one WebSocket client received.
type viewer struct {
	events   []event.Event
	statuses []statusMessage
	close    websocket.StatusCode
	err      error
}

func (v viewer) final() string {
	if len(v.statuses) == 0 {
		return ""
	}
	return v.statuses[len(v.statuses)-1].Status
}

func (v viewer) count(k string) int {
	n := 0
	for _, ev := range v.events {
		if ev.K == k {
			n++
		}
	}
	return n
}

func (ts *testServer) dial(t *testing.T, ctx context.Context, id string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial events of %s: %v", id, err)
	}
	c.SetReadLimit(64 << 20)
	return c
}

// watch reads a run's event socket until it closes.
func (ts *testServer) watch(t *testing.T, id string) viewer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return readAll(ctx, ts.dial(t, ctx, id))
}

func readAll(ctx context.Context, c *websocket.Conn) viewer {
	defer c.CloseNow()
	var v viewer
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			v.close = websocket.CloseStatus(err)
			v.err = err
			return v
		}
		var head struct {
			Type   string            `json:"type"`
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			v.err = fmt.Errorf("bad message %.100q: %w", msg, err)
			return v
		}
		switch head.Type {
		case "events":
			for _, raw := range head.Events {
				var ev event.Event
				if err := json.Unmarshal(raw, &ev); err != nil {
					v.err = err
					return v
				}
				v.events = append(v.events, ev)
			}
		case "status":
			var s statusMessage
			_ = json.Unmarshal(msg, &s)
			v.statuses = append(v.statuses, s)
		}
	}
}

func TestRunStreamsLanesStatesAndSummary(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"locks","engine":"go","params":{"workers":3,"increments":2000,"lock":true}}`)
	v := ts.watch(t, id)
	if v.close != websocket.StatusNormalClosure {
		t.Fatalf("socket closed with %v (%v), want normal closure", v.close, v.err)
	}
	if v.final() != StatusDone {
		t.Fatalf("final status %q, want done; statuses %v", v.final(), v.statuses)
	}
	lanes := map[string]bool{}
	for _, ev := range v.events {
		if ev.K == event.KindLane {
			lanes[ev.ID] = true
		}
	}
	for _, want := range []string{"worker-1", "worker-2", "worker-3"} {
		if !lanes[want] {
			t.Errorf("no lane %s; lanes %v", want, lanes)
		}
	}
	if v.count(event.KindState) < 6 {
		t.Errorf("%d state events, want running and done for each worker", v.count(event.KindState))
	}
	if v.count(event.KindEnd) != 1 {
		t.Fatalf("%d end events, want 1", v.count(event.KindEnd))
	}
	info := ts.info(t, id)
	var summary event.Summary
	if err := json.Unmarshal(info.Summary, &summary); err != nil {
		t.Fatalf("summary %s: %v", info.Summary, err)
	}
	if summary.Metrics["lost"].Value != 0 || summary.Metrics["actual"].Value != 6000 {
		t.Errorf("summary %+v, want 6000 increments and none lost", summary.Metrics)
	}
	if info.Status != StatusDone || info.Scenario != "locks" || info.Params.Int("workers") != 3 {
		t.Errorf("GET /api/runs/%s = %+v", id, info)
	}
}

func TestLateJoinerGetsTheWholeHistory(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":6,"work":"io","size":200}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	live := readAll(ctx, ts.dial(t, ctx, id)) // joins at the start
	late := ts.watch(t, id)                   // joins after the end
	if live.final() != StatusDone || late.final() != StatusDone {
		t.Fatalf("final statuses %q and %q, want done", live.final(), late.final())
	}
	if len(late.events) != len(live.events) || len(live.events) == 0 {
		t.Fatalf("late joiner got %d events, live viewer %d", len(late.events), len(live.events))
	}
	for i := range live.events {
		a, b := event.Marshal(&live.events[i]), event.Marshal(&late.events[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("event %d differs: live %s, late %s", i, a, b)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func waitStatus(t *testing.T, ts *testServer, id string, want ...string) Info {
	t.Helper()
	run, ok := ts.srv.runs.Get(id)
	if !ok {
		t.Fatalf("no run %s", id)
	}
	select {
	case <-run.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("run %s did not finish", id)
	}
	info := ts.info(t, id)
	for _, w := range want {
		if info.Status == w {
			return info
		}
	}
	t.Fatalf("run %s status %q, want %v", id, info.Status, want)
	return info
}

// runningPIDs waits until the run's child has started and returns its group.
func runningPIDs(t *testing.T, ts *testServer, id string, atLeast int) (int, []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := ts.dial(t, ctx, id)
	defer c.CloseNow()
	for {
		// Each message is a sign of progress; look at the group after it.
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("run %s ended before its processes were seen: %v", id, err)
		}
		if pid := ts.info(t, id).PID; pid != 0 {
			if pids := child.GroupPIDs(pid); len(pids) >= atLeast {
				return pid, pids
			}
		}
	}
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":4,"work":"io","size":2000}}`)
	pid, pids := runningPIDs(t, ts, id, 1)
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/runs/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE = %d", resp.StatusCode)
	}
	waitStatus(t, ts, id, StatusCancelled)
	for _, p := range append(pids, pid) {
		if alive(p) {
			t.Errorf("pid %d of the cancelled run is still alive", p)
		}
	}
	if got := child.GroupPIDs(pid); len(got) != 0 {
		t.Errorf("process group %d still has %v", pid, got)
	}
	v := ts.watch(t, id)
	if v.final() != StatusCancelled {
		t.Errorf("viewer final status %q, want cancelled", v.final())
	}
}

func TestDeadlineEndsRunWithTimeout(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000},"deadline_ms":300}`)
	start := time.Now()
	info := waitStatus(t, ts, id, StatusTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %s to take effect", d)
	}
	if info.PID != 0 && alive(info.PID) {
		t.Errorf("timed-out child %d still alive", info.PID)
	}
	v := ts.watch(t, id)
	marked := false
	for _, ev := range v.events {
		if ev.K == event.KindMark && strings.HasPrefix(ev.Label, "timeout") {
			marked = true
		}
	}
	if !marked {
		t.Errorf("no timeout mark among %d events", len(v.events))
	}
}

func TestQueueAnswers429WhenFull(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 1; l.QueueSize = 1 })
	long := `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":2000}}`
	first := ts.start(t, long)
	code, out, _ := ts.post(t, long)
	if code != http.StatusCreated || out["status"] != StatusQueued || out["position"].(float64) != 1 {
		t.Fatalf("second run = %d %v, want 201 queued at position 1", code, out)
	}
	second := out["id"].(string)
	code, out, hdr := ts.post(t, long)
	if code != http.StatusTooManyRequests {
		t.Fatalf("third run = %d %v, want 429", code, out)
	}
	if hdr.Get("Retry-After") == "" || !strings.Contains(out["error"].(string), "queue") {
		t.Errorf("429 without Retry-After or message: %v %v", hdr, out)
	}
	for _, id := range []string{second, first} {
		req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/runs/"+id, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitStatus(t, ts, second, StatusCancelled)
	waitStatus(t, ts, first, StatusCancelled)
}

func TestStalledViewerIsDroppedOthersGetEverything(t *testing.T) {
	// ~17 MB of JSON: far more than the stalled viewer's socket buffers hold
	// (its receive buffer is pinned small, as a slow phone's would be).
	const n = 200_000
	// The write timeout drops the stalled viewer; it must not drop the
	// reading one, which under the race detector on a loaded 2-core
	// machine once went more than 1 s without reading.
	ts := newTestServer(t, func(l *Limits) { l.WSWriteTimeout = 3 * time.Second }, &floodEngine{events: n})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stalled := dialSmallBuffer(t, ctx, ts, id) // never reads until the end
	good := readRaw(ctx, ts.dial(t, ctx, id))  // raw lines: as fast as a browser's JSON.parse
	if good.final() != StatusDone || good.close != websocket.StatusNormalClosure {
		t.Fatalf("reading viewer: final %q close %v err %v", good.final(), good.close, good.err)
	}
	// n events and the end, and the server's samples of the machine's load.
	if recorded := ts.info(t, id).Events; len(good.lines) < n+1 || int64(len(good.lines)) != recorded {
		t.Fatalf("reading viewer got %d events, want all %d recorded (the child's %d and load samples)", len(good.lines), recorded, n+1)
	}
	// The reading viewer is gone; the stalled one stays connected until the
	// server gives up on its blocked write.
	for ts.srv.viewers.Load() > 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the stalled viewer was never dropped")
		case <-time.After(20 * time.Millisecond):
		}
	}
	slow := readAll(ctx, stalled)
	if slow.close == websocket.StatusNormalClosure || len(slow.events) >= n {
		t.Fatalf("stalled viewer was not dropped: %d events, close %v", len(slow.events), slow.close)
	}
	t.Logf("stalled viewer dropped after %d events (close %v: %v)", len(slow.events), slow.close, slow.err)
}

func TestSlowViewerClosedWithPolicyViolation(t *testing.T) {
	const n = 100_000
	ts := newTestServer(t, func(l *Limits) { l.MaxViewerLag = 1000; l.BatchEvents = 100 }, &floodEngine{events: n, sleep: 500 * time.Millisecond})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ts.dial(t, ctx, id)
	defer c.CloseNow()
	// Read one message, then wait until the run is far ahead before reading on.
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	run, _ := ts.srv.runs.Get(id)
	for run.Lines() < n/2 {
		select {
		case <-run.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	v := readAll(ctx, c)
	if v.close != websocket.StatusPolicyViolation {
		t.Fatalf("slow viewer closed with %v (%v), want 1008", v.close, v.err)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := []struct {
		name, body string
		code       int
		mention    string
	}{
		{"unknown scenario", `{"scenario":"nope","engine":"go"}`, 404, "nope"},
		{"missing scenario", `{"engine":"go"}`, 400, "scenario"},
		{"unknown param", `{"scenario":"locks","engine":"go","params":{"wokers":3}}`, 400, "wokers"},
		{"out of range", `{"scenario":"locks","engine":"go","params":{"workers":65}}`, 400, "workers: 65 is not allowed; want a whole number from 1 to 64"},
		{"wrong type", `{"scenario":"locks","engine":"go","params":{"lock":"maybe"}}`, 400, "lock"},
		{"not a whole number", `{"scenario":"locks","engine":"go","params":{"increments":1.5}}`, 400, "increments"},
		{"not an option", `{"scenario":"mental-model","engine":"go","params":{"mode":"fast"}}`, 400, "mode: fast is not allowed; want one of concurrent, sequential, parallel"},
		{"unknown engine", `{"scenario":"locks","engine":"rust"}`, 400, "engine"},
		{"bad json", `{"scenario":`, 400, "body"},
		{"unknown field", `{"scenario":"locks","colour":1}`, 400, "colour"},
		{"deadline too long", `{"scenario":"locks","deadline_ms":600000}`, 400, "deadline_ms"},
		{"body too large", `{"scenario":"locks","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, 413, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := ts.post(t, tt.body)
			if code != tt.code {
				t.Fatalf("status %d %v, want %d", code, out, tt.code)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q does not mention %q", msg, tt.mention)
			}
		})
	}
}

func TestEventCapTruncatesWithMark(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxEvents = 1000 }, &floodEngine{events: 5000})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	v := ts.watch(t, id)
	if v.final() != StatusDone {
		t.Fatalf("final %q, want done", v.final())
	}
	// The cap counts the child's events and the server's load samples (a
	// slow machine may take one before the child has sent 1000): 1000 of
	// them come before the truncation mark, and none of the child's after.
	before, childAfter, truncated := 0, 0, false
	for _, ev := range v.events {
		switch {
		case ev.K == event.KindMark && strings.HasPrefix(ev.Label, "truncated"):
			truncated = true
		case ev.K == event.KindState || ev.K == event.KindLane || ev.K == event.KindCounter:
			if !truncated {
				before++
			} else if ev.K != event.KindCounter {
				childAfter++
			}
		}
	}
	if !truncated {
		t.Errorf("no truncation mark")
	}
	if before != 1000 || childAfter != 0 {
		t.Errorf("kept %d events before the truncation mark and %d of the child's after it, want the cap of 1000 and none", before, childAfter)
	}
	if v.count(event.KindEnd) != 1 {
		t.Errorf("the end event must pass the cap")
	}
}

func TestOutputCapAndOutputEvents(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxOutput = 64 << 10 }, &floodEngine{events: 10, printKiB: 256})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	v := ts.watch(t, id)
	total := 0
	for _, ev := range v.events {
		if ev.K == event.KindOutput && ev.Stream == "stdout" {
			total += len(ev.Text)
		}
	}
	if total != 64<<10 {
		t.Errorf("kept %d bytes of output, want the 64 KiB cap", total)
	}
	dropped := false
	for _, ev := range v.events {
		dropped = dropped || (ev.K == event.KindMark && strings.Contains(ev.Label, "output truncated"))
	}
	if !dropped || v.final() != StatusDone {
		t.Errorf("want a truncation mark and status done; final %q", v.final())
	}
}

// TestMemoryCapKillsTheRun: a run that allocates 256 MiB under a 64 MiB
// cap fails with a memory cap mark. Where the kernel enforces the cap (a
// memory cgroup) the allocation never completes; where the cap is
// measured, the run is killed once its resident memory was seen over it.
func TestMemoryCapKillsTheRun(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MemoryBytes = 64 << 20 }, &floodEngine{events: 10, allocMiB: 256, sleep: 5 * time.Second})
	kernel := false
	for _, p := range ts.srv.contain.Report() {
		kernel = kernel || p.Name == "memory cap" && p.On
	}
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	info := waitStatus(t, ts, id, StatusFailed)
	if !kernel && info.PeakRSS <= 64<<20 {
		t.Errorf("peak RSS %d, want over the 64 MiB cap", info.PeakRSS)
	}
	v := ts.watch(t, id)
	found, allocated := false, false
	for _, ev := range v.events {
		found = found || (ev.K == event.KindMark && strings.HasPrefix(ev.Label, "memory cap"))
		allocated = allocated || (ev.K == event.KindMark && strings.HasPrefix(ev.Label, "allocated"))
	}
	if !found {
		t.Errorf("no memory cap mark")
	}
	if kernel && allocated {
		t.Errorf("the run allocated all of its 256 MiB under a kernel-enforced 64 MiB cap")
	}
}

func TestFailingChildMarksRunFailed(t *testing.T) {
	ts := newTestServer(t, nil, &floodEngine{events: 3, exitCode: 3})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	waitStatus(t, ts, id, StatusFailed)
	v := ts.watch(t, id)
	if v.final() != StatusFailed {
		t.Errorf("viewer final %q, want failed", v.final())
	}
}

func TestShutdownCancelsRunsAndClosesSockets(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000}}`)
	pid, _ := runningPIDs(t, ts, id, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := ts.dial(t, ctx, id)
	done := make(chan viewer, 1)
	go func() { done <- readAll(ctx, c) }()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	v := <-done
	if v.final() != StatusCancelled {
		t.Errorf("viewer final %q, want cancelled", v.final())
	}
	if alive(pid) {
		t.Errorf("child %d alive after shutdown", pid)
	}
	if code, _, _ := ts.post(t, `{"scenario":"locks"}`); code != http.StatusServiceUnavailable {
		t.Errorf("POST after shutdown = %d, want 503", code)
	}
	// The recorded events are still there.
	if info := ts.info(t, id); info.Events == 0 {
		t.Errorf("run lost its events on shutdown")
	}
}

func TestNoOrphansAfterManyRuns(t *testing.T) {
	timingclaim.Heavy(t) // a soak of runs back to back
	// INTERLEAVE_SOAK_RUNS=1000 runs the design's full soak.
	runs := 40
	if n, err := strconv.Atoi(os.Getenv("INTERLEAVE_SOAK_RUNS")); err == nil && n > 0 {
		runs = n
	} else if testing.Short() {
		runs = 10
	}
	ts := newTestServer(t, func(l *Limits) { l.QueueSize = runs; l.RunsPerMinute = runs + 1 })
	var pids []int
	for i := range runs {
		body := `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":50}}`
		if i%3 == 1 {
			body = `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000},"deadline_ms":150}`
		}
		id := ts.start(t, body)
		if i%3 == 2 {
			ts.srv.runs.Cancel(id)
		}
		run, _ := ts.srv.runs.Get(id)
		<-run.Done()
		pids = append(pids, ts.info(t, id).PID)
	}
	for _, pid := range pids {
		if pid != 0 && alive(pid) {
			t.Errorf("pid %d still alive", pid)
		}
	}
	if zombies := countZombieChildren(); zombies != 0 {
		t.Errorf("%d zombie children of the server", zombies)
	}
	// Every run's processes were forgotten once gone: a restart would
	// find nothing to sweep.
	var records int
	if err := ts.srv.store.DB().QueryRow(`SELECT count(*) FROM run_processes`).Scan(&records); err != nil || records != 0 {
		t.Errorf("%d runs' processes still on record (%v)", records, err)
	}
}

// countZombieChildren counts zombies whose parent is this process.
func countZombieChildren() int {
	entries, _ := os.ReadDir("/proc")
	me := fmt.Sprint(os.Getpid())
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}

func TestAPIScenariosListsTheCatalog(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + "/api/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		ID      string            `json:"id"`
		Engines []string          `json:"engines"`
		Params  []scenarios.Param `json:"params"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, s := range list {
		ids[s.ID] = len(s.Params)
	}
	for _, want := range []string{"mental-model", "subprocess", "threads", "locks", "asyncio", "multiprocessing", "pools", "gil"} {
		if _, ok := ids[want]; !ok {
			t.Errorf("scenario %s missing from /api/scenarios", want)
		}
	}
	if ids["locks"] < 4 {
		t.Errorf("locks has %d params, want at least workers, increments, lock, yield", ids["locks"])
	}
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("ok")) {
		t.Errorf("healthz = %d %q", resp.StatusCode, b)
	}
}

func TestCrossOriginSocketRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin dial: err %v, resp %v; want 403", err, resp)
	}
	waitStatus(t, ts, id, StatusDone)
}

var _ = errors.New
var _ = syscall.Kill

func TestTwoHundredViewersGetEveryEvent(t *testing.T) {
	timingclaim.Heavy(t) // hundreds of sockets
	viewers, n := 200, 20_000
	if testing.Short() {
		viewers = 50
	}
	ts := newTestServer(t, nil, &floodEngine{events: n, sleep: 300 * time.Millisecond})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	counts := make(chan int, viewers)
	for range viewers {
		c := ts.dial(t, ctx, id)
		go func() {
			defer c.CloseNow()
			got := 0
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
						got = -1
					}
					counts <- got
					return
				}
				var m struct {
					Events []json.RawMessage `json:"events"`
				}
				json.Unmarshal(msg, &m)
				got += len(m.Events)
			}
		}()
	}
	// Every event the run recorded: the child's n+1 and the server's
	// samples of the machine's load.
	recorded := waitStatus(t, ts, id, StatusDone).Events
	for range viewers {
		if got := <-counts; got < n+1 || int64(got) != recorded {
			t.Fatalf("a viewer got %d events, want all %d recorded (the child's %d and load samples)", got, recorded, n+1)
		}
	}
}

func TestExclusiveRunWaitsForOthersAndBlocksThem(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 2 })
	long := RunRequest{Scenario: "mental-model", Engine: "go", Params: map[string]any{"tasks": 1.0, "work": "io", "size": 300.0}}
	first, err := ts.srv.runs.Submit(long)
	if err != nil {
		t.Fatal(err)
	}
	excl := long
	excl.Exclusive = true
	exclusive, err := ts.srv.runs.Submit(excl)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ts.srv.runs.Submit(long)
	if err != nil {
		t.Fatal(err)
	}
	if s, pos := exclusive.Status(); s != StatusQueued || pos != 1 {
		t.Fatalf("exclusive run is %s at %d while another runs; want queued at 1", s, pos)
	}
	if s, _ := after.Status(); s != StatusQueued {
		t.Fatalf("a run behind the exclusive one is %s; want queued", s)
	}
	<-first.Done()
	<-exclusive.Done()
	<-after.Done()
	// The exclusive run started after the first ended, the last after it.
	_, firstEnded := first.Span()
	exclStarted, exclEnded := exclusive.Span()
	afterStarted, _ := after.Span()
	if !exclStarted.After(firstEnded) || !afterStarted.After(exclEnded) {
		t.Errorf("runs overlapped: first ended %v, exclusive %v–%v, after started %v",
			firstEnded, exclStarted, exclEnded, afterStarted)
	}
}

// dialSmallBuffer opens a run's event socket with a 64 KiB receive buffer,
// which stops the kernel from growing it to tens of MiB on loopback.
func dialSmallBuffer(t *testing.T, ctx context.Context, ts *testServer, id string) *websocket.Conn {
	t.Helper()
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	t.Cleanup(transport.CloseIdleConnections)
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		t.Fatalf("dial events of %s: %v", id, err)
	}
	c.SetReadLimit(64 << 20)
	return c
}

func TestViewerThatSendsIsClosed(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":1000}}`)
	for _, tt := range []struct {
		name string
		size int
		want websocket.StatusCode
	}{
		{"a small message", 10, websocket.StatusPolicyViolation},
		{"a message over the read limit", 8 << 10, websocket.StatusMessageTooBig},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := ts.dial(t, ctx, id)
			if err := c.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", tt.size))); err != nil {
				t.Fatal(err)
			}
			if v := readAll(ctx, c); v.close != tt.want {
				t.Errorf("closed with %v (%v), want %v", v.close, v.err, tt.want)
			}
		})
	}
	ts.srv.runs.Cancel(id)
	waitStatus(t, ts, id, StatusCancelled)
}

func TestRunsThatShareTheMachineSaySo(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 2 })
	body := `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":200}}`
	a, b := ts.start(t, body), ts.start(t, body)
	waitStatus(t, ts, a, StatusDone)
	waitStatus(t, ts, b, StatusDone)
	alone := ts.start(t, body)
	waitStatus(t, ts, alone, StatusDone)
	shared := func(id string) bool {
		for _, ev := range ts.watch(t, id).events {
			if ev.K == event.KindMark && strings.HasPrefix(ev.Label, "shared the machine: 1 other run") {
				return true
			}
		}
		return false
	}
	if !shared(a) || !shared(b) {
		t.Errorf("two runs executing together must each say they shared the machine")
	}
	if shared(alone) {
		t.Errorf("a run alone on the machine says it shared it")
	}
}

func TestRateLimitAnswersJSON429(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.RunsPerMinute = 2 })
	for i := range 3 {
		code, out, hdr := ts.post(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
		if i < 2 {
			if code != http.StatusCreated {
				t.Fatalf("run %d = %d %v", i, code, out)
			}
			waitStatus(t, ts, out["id"].(string), StatusDone)
			continue
		}
		if code != http.StatusTooManyRequests || !strings.Contains(out["error"].(string), "2 a minute") || hdr.Get("Retry-After") == "" {
			t.Errorf("third run in a minute = %d %v %v, want a JSON 429 with Retry-After", code, out, hdr)
		}
	}
}
