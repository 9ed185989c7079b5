package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/scenarios"
)

// logRecorder keeps the server's warnings and errors (and passes every
// record on to the test log), so a test can say that nothing went wrong
// on the server's side.
type logRecorder struct {
	next slog.Handler
	mu   *sync.Mutex
	bad  *[]string
}

func newLogRecorder(t *testing.T) (*slog.Logger, func() []string) {
	r := logRecorder{next: testLogger(t).Handler(), mu: &sync.Mutex{}, bad: &[]string{}}
	return slog.New(r), func() []string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return append([]string(nil), *r.bad...)
	}
}

func (r logRecorder) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }
func (r logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
		rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		r.mu.Lock()
		*r.bad = append(*r.bad, b.String())
		r.mu.Unlock()
	}
	return r.next.Handle(ctx, rec)
}
func (r logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return logRecorder{next: r.next.WithAttrs(as), mu: r.mu, bad: r.bad}
}
func (r logRecorder) WithGroup(name string) slog.Handler {
	return logRecorder{next: r.next.WithGroup(name), mu: r.mu, bad: r.bad}
}

// rawSocket is a WebSocket client written by hand, so that a test can do
// what a library never would: stop in the middle of a frame, or vanish
// without a close frame.
type rawSocket struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialRaw opens the event socket of run id with a hand-written handshake.
func dialRaw(t *testing.T, ts *testServer, id string) *rawSocket {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	host := ts.Listener.Addr().String()
	fmt.Fprintf(conn, "GET /api/runs/%s/events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n\r\n", id, host, host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s", resp.Status)
	}
	return &rawSocket{conn: conn, br: br}
}

// halfFrame sends the header of a masked 100-byte text frame and only 10
// bytes of it: a client that stalls (or is cut off) mid-message.
func (s *rawSocket) halfFrame(t *testing.T) {
	t.Helper()
	frame := []byte{0x81, 0x80 | 100, 1, 2, 3, 4}
	frame = append(frame, make([]byte, 10)...)
	if _, err := s.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}

// next reads one frame from the server: its opcode and payload.
func (s *rawSocket) next() (byte, []byte, error) {
	var head [2]byte
	if _, err := io.ReadFull(s.br, head[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(s.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(s.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(s.br, p)
	return head[0] & 0x0f, p, err
}

// untilClose reads frames until the server's close frame and returns its
// payload (status code and reason).
func (s *rawSocket) untilClose(t *testing.T) []byte {
	t.Helper()
	for {
		op, p, err := s.next()
		if err != nil {
			t.Fatalf("the server ended the socket without a close frame: %v", err)
		}
		if op == 8 {
			return p
		}
	}
}

// closeWait is how long after its close frame the server keeps the TCP
// connection of a client that never answers it.
func (s *rawSocket) closeWait(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, s.br); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("waiting for the server to hang up: %v", err)
	}
	return time.Since(start)
}

// TestHalfSentFrameDoesNotHoldTheClose is a viewer stuck in the middle of
// a frame when its run ends, and when the server shuts down: the server
// closes the socket promptly rather than after the WebSocket library's
// 5 s close-handshake wait.
func TestHalfSentFrameDoesNotHoldTheClose(t *testing.T) {
	const bound = 2 * time.Second // well under the library's 5 s
	short := `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":300}}`
	t.Run("the run ends", func(t *testing.T) {
		ts := newTestServer(t, nil)
		id := ts.start(t, short)
		s := dialRaw(t, ts, id)
		s.halfFrame(t)
		if p := s.untilClose(t); len(p) < 2 || websocket.StatusCode(binary.BigEndian.Uint16(p)) != websocket.StatusNormalClosure {
			t.Fatalf("close frame %q, want 1000", p)
		}
		d := s.closeWait(t)
		t.Logf("the server hung up %v after its close frame", d)
		if d > bound {
			t.Errorf("the server held the socket %v after its close frame, want under %v", d, bound)
		}
	})
	t.Run("the server shuts down", func(t *testing.T) {
		ts := newTestServer(t, nil)
		id := ts.start(t, longRun)
		s := dialRaw(t, ts, id)
		if op, _, err := s.next(); err != nil || op != 1 {
			t.Fatalf("first message: op %d %v", op, err)
		}
		s.halfFrame(t)
		done := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ts.srv.Shutdown(ctx)
			done <- time.Since(start)
		}()
		s.untilClose(t)
		d := s.closeWait(t)
		t.Logf("the server hung up %v after its close frame", d)
		if d > bound {
			t.Errorf("the server held the socket %v after its close frame, want under %v", d, bound)
		}
		if d := <-done; d > bound+time.Second {
			t.Errorf("shutdown took %v with a viewer stuck mid-frame", d)
		}
	})
}

// TestViewersLeavingAreNotServerFailures is every way a viewer leaves: a
// normal close, going away (a tab closed), vanishing mid-run, and
// vanishing just as the run ends. None of them is a failure of the server,
// so none may be logged as a warning or an error.
func TestViewersLeavingAreNotServerFailures(t *testing.T) {
	logger, problems := newLogRecorder(t)
	ts := newTestServerConfig(t, nil, logger)
	id := ts.start(t, longRun)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, leave := range []struct {
		name  string
		leave func(c *websocket.Conn)
	}{
		{"normal closure", func(c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "") }},
		{"going away", func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "tab closed") }},
		{"vanishes", func(c *websocket.Conn) { c.CloseNow() }},
	} {
		c := ts.dial(t, ctx, id)
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("%s: first message: %v", leave.name, err)
		}
		leave.leave(c)
	}
	// Two viewers of a short run: one hangs up the moment it has the final
	// status, without answering the close frame; one stops reading.
	short := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
	s := dialRaw(t, ts, short)
	stalled := dialRaw(t, ts, short)
	for {
		op, p, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if op == 1 && strings.Contains(string(p), `"type":"status","status":"done"`) {
			s.conn.Close()
			break
		}
	}
	waitStatus(t, ts, short, StatusDone)
	stalled.conn.Close()
	ts.srv.runs.Cancel(id)
	waitStatus(t, ts, id, StatusCancelled)
	for deadline := time.Now().Add(10 * time.Second); ts.srv.viewers.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ts.srv.viewers.Load(); n != 0 {
		t.Fatalf("%d viewers still open", n)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("viewers leaving were logged as server problems:\n%s", strings.Join(p, "\n"))
	}
}

// TestLiveViewerOutlastsTheReadTimeout is a viewer of a run longer than the
// HTTP server's read timeout (which net/http leaves on a hijacked
// connection): it still receives the whole run and a normal close.
func TestLiveViewerOutlastsTheReadTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	logger := testLogger(t)
	srv, err := New(cfg, logger, []scenarios.Engine{goEngine()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.Config = newHTTPServer(srv, logger)
	hs.Config.ReadTimeout = 500 * time.Millisecond
	hs.Start()
	ts := &testServer{Server: hs, srv: srv}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
		srv.Close()
	})
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":1500}}`)
	v := ts.watch(t, id)
	if v.final() != StatusDone || v.close != websocket.StatusNormalClosure {
		t.Errorf("viewer of a 1.5 s run behind a 0.5 s read timeout ended with %q, close %v (%v); want done and 1000", v.final(), v.close, v.err)
	}
}
