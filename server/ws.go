package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"interleave/runs"
	"interleave/scenarios/event"

	"github.com/coder/websocket"
)

// errServerClosing ends a viewer's stream when the server shuts down.
var errServerClosing = errors.New("server shutting down")

// statusMessage is a {"type":"status"} message.
type statusMessage struct {
	Type     string `json:"type"`
	Status   string `json:"status"`
	Position int    `json:"position,omitempty"`
	Events   int    `json:"events,omitempty"`
}

// errTooSlow drops a viewer that cannot keep up.
var errTooSlow = errors.New("viewer too slow")

// errRecording is a recorded run whose events could not be read.
var errRecording = errors.New("read the run's recording")

// CloseRecordingDamaged closes the socket of a replay that met a damaged
// part of the run's recording (see DamagedError): the page says the
// recording is damaged rather than offering to reconnect. The front end's
// copy is CLOSE_DAMAGED in static/ws.js.
const CloseRecordingDamaged websocket.StatusCode = 4001

// serveEvents streams a run to one viewer: the history so far, then live
// events in batches, then the final status and a normal close. It never
// reads from the viewer. Once the socket is open, nothing that happens to
// it is an error of the request: a viewer leaving, in any way, is logged
// at debug level only.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, run *runs.Run) error {
	// A browser's Origin must be a name this server answers to (besides
	// matching the Host, which Accept checks), unless extra origins were
	// configured: then Accept's patterns decide.
	if origin := r.Header.Get("Origin"); origin != "" && len(s.cfg.Limits.WSOriginPatterns) == 0 && !s.hosts.allowsOrigin(origin) {
		return &crossOriginError{origin: origin}
	}
	hj := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(hj, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.Limits.WSOriginPatterns})
	if err != nil {
		return nil // Accept has written the HTTP error
	}
	defer c.CloseNow()
	ctx := s.closeOnData(r.Context(), c)
	s.viewers.Add(1)
	defer s.viewers.Add(-1)

	err = s.streamRun(ctx, c, run)
	switch {
	case err == nil:
		s.closeViewer(c, hj.conn, run, websocket.StatusNormalClosure, "run finished")
	case errors.Is(err, errTooSlow):
		s.logger.Info("viewer dropped", "run", run.ID, "err", err)
		s.closeViewer(c, hj.conn, run, websocket.StatusPolicyViolation, "too slow: the viewer fell behind the run")
	case errors.Is(err, errServerClosing):
		s.closeViewer(c, hj.conn, run, websocket.StatusGoingAway, "server shutting down")
	case errors.Is(err, errRecording):
		s.logger.Warn("replay cut short", "run", run.ID, "err", err)
		var d *runs.DamagedError
		if errors.As(err, &d) {
			// A close reason is at most 123 bytes: the page words the rest.
			s.closeViewer(c, hj.conn, run, CloseRecordingDamaged, fmt.Sprintf("damaged from event %d on", d.Line))
		} else {
			s.closeViewer(c, hj.conn, run, websocket.StatusInternalError, "the run's recording is no longer available")
		}
	default:
		// The viewer left (a close frame, a reset, a timeout): nothing to
		// say to it.
		s.logger.Debug("viewer left", "run", run.ID, "err", err)
	}
	return nil
}

// closeGrace is how long a viewer has to answer the server's close frame.
// A browser answers in milliseconds; a viewer that is gone, or stuck in the
// middle of a frame of its own, would otherwise hold the socket for the
// WebSocket library's 5 s.
const closeGrace = 500 * time.Millisecond

// closeViewer sends the close frame and waits at most closeGrace for the
// answer, by putting a deadline on the connection under the socket. Its
// failure is the viewer's, never the server's: logged at debug level.
func (s *Server) closeViewer(c *websocket.Conn, conn net.Conn, run *runs.Run, code websocket.StatusCode, reason string) {
	if conn != nil {
		conn.SetDeadline(time.Now().Add(closeGrace))
	}
	if err := c.Close(code, reason); err != nil {
		s.logger.Debug("viewer did not answer the close", "run", run.ID, "code", code, "err", err)
	}
}

// hijackRecorder keeps the connection that websocket.Accept takes over, so
// that closeViewer can bound the close handshake.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

// Hijack takes over the connection and remembers it.
func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = conn
	return conn, rw, err
}

func (s *Server) streamRun(ctx context.Context, c *websocket.Conn, run *runs.Run) error {
	lim := s.cfg.Limits
	write := func(msg []byte) error {
		wctx, cancel := context.WithTimeout(ctx, lim.WSWriteTimeout)
		defer cancel()
		err := c.Write(wctx, websocket.MessageText, msg)
		if err != nil && wctx.Err() != nil && ctx.Err() == nil {
			return errTooSlow
		}
		return err
	}
	cursor := 0
	sentStatus, sentPosition := "", -1
	// The first events go out at once (a viewer sees the run start within
	// milliseconds); after that a live run's events gather for
	// liveBatchWindow between messages.
	window := batchWindow
	var buf bytes.Buffer
	for {
		snap, err := run.Read(cursor, lim.BatchEvents)
		if err != nil {
			return fmt.Errorf("%w: %w", errRecording, err)
		}
		if len(snap.Lines) > 0 {
			if !event.Final(snap.Status) && snap.Total-cursor > lim.MaxViewerLag {
				return errTooSlow
			}
			buf.Reset()
			buf.WriteString(`{"type":"events","events":[`)
			for i, line := range snap.Lines {
				if i > 0 {
					buf.WriteByte(',')
				}
				buf.Write(line)
			}
			buf.WriteString("]}")
			if err := write(buf.Bytes()); err != nil {
				return err
			}
			window = liveBatchWindow
			cursor += len(snap.Lines)
			if cursor < snap.Total {
				continue // more history is waiting: send it before the status
			}
		}
		if snap.Status != sentStatus || snap.Position != sentPosition {
			// A final status goes out only once every event has been sent.
			if !event.Final(snap.Status) || cursor == snap.Total {
				b, _ := json.Marshal(statusMessage{Type: "status", Status: snap.Status, Position: snap.Position})
				if err := write(b); err != nil {
					return err
				}
				sentStatus, sentPosition = snap.Status, snap.Position
				if event.Final(snap.Status) {
					return nil
				}
			}
		}
		if len(snap.Lines) > 0 && cursor < snap.Total {
			continue
		}
		select {
		case <-snap.Changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return errServerClosing
		}
		// Let events gather so that a busy run sends a few batches a
		// second, not one message per event: every message costs the
		// viewer's browser (and this server) CPU on the very machine
		// the run is measured on, and the page draws a few times a
		// second anyway.
		if !event.Final(snap.Status) {
			select {
			case <-time.After(window):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// batchWindow is how long the viewer loop lets events gather after a
// wake-up before the first events message; liveBatchWindow after it. A
// backlog (history, a flood) is sent without waiting either way.
const (
	batchWindow     = 5 * time.Millisecond
	liveBatchWindow = 100 * time.Millisecond
)

// viewerReadLimit bounds a message from a viewer: it is only ever a control
// frame, since the socket carries events one way.
const viewerReadLimit = 4 << 10

// closeOnData reads from a viewer, which answers pings and notices when it
// leaves; a viewer that sends data is closed with 1008. The returned context
// ends when the viewer is gone. (websocket.Conn.CloseRead does the same, but
// its Close waits for its own goroutine and lingers 15 s.)
func (s *Server) closeOnData(parent context.Context, c *websocket.Conn) context.Context {
	c.SetReadLimit(viewerReadLimit)
	ctx, cancel := context.WithCancel(parent)
	go func() {
		defer cancel()
		if _, _, err := c.Read(ctx); err == nil {
			c.Close(websocket.StatusPolicyViolation, "this socket only sends events")
		}
	}()
	return ctx
}
