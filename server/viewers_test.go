package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

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
