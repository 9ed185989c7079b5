package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
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

var _ = errors.New
var _ = syscall.Kill
