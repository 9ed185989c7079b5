package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

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

// serveEvents streams a run to one viewer: the history so far, then live
// events in batches, then the final status and a normal close. It never
// reads from the viewer.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, run *Run) error {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.Limits.WSOriginPatterns})
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
		return c.Close(websocket.StatusNormalClosure, "run finished")
	case errors.Is(err, errTooSlow):
		s.logger.Info("viewer dropped", "run", run.ID, "err", err)
		return c.Close(websocket.StatusPolicyViolation, "too slow: the viewer fell behind the run")
	case errors.Is(err, errShutdown):
		return c.Close(websocket.StatusGoingAway, "server shutting down")
	case websocket.CloseStatus(err) != -1 || errors.Is(err, context.Canceled):
		return nil // the viewer left
	case errors.Is(err, errRecording):
		s.logger.Warn("replay cut short", "run", run.ID, "err", err)
		return c.Close(websocket.StatusInternalError, "the run's recording is no longer available")
	default:
		s.logger.Debug("viewer ended", "run", run.ID, "err", err)
		return nil
	}
}

func (s *Server) streamRun(ctx context.Context, c *websocket.Conn, run *Run) error {
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
		snap, err := run.log.read(cursor, lim.BatchEvents)
		if err != nil {
			return fmt.Errorf("%w: %w", errRecording, err)
		}
		if len(snap.lines) > 0 {
			if !finished(snap.status) && snap.total-cursor > lim.MaxViewerLag {
				return errTooSlow
			}
			buf.Reset()
			buf.WriteString(`{"type":"events","events":[`)
			for i, line := range snap.lines {
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
			cursor += len(snap.lines)
			if cursor < snap.total {
				continue // more history is waiting: send it before the status
			}
		}
		if snap.status != sentStatus || snap.position != sentPosition {
			// A final status goes out only once every event has been sent.
			if !finished(snap.status) || cursor == snap.total {
				b, _ := json.Marshal(statusMessage{Type: "status", Status: snap.status, Position: snap.position})
				if err := write(b); err != nil {
					return err
				}
				sentStatus, sentPosition = snap.status, snap.position
				if finished(snap.status) {
					return nil
				}
			}
		}
		if len(snap.lines) > 0 && cursor < snap.total {
			continue
		}
		select {
		case <-snap.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return errShutdown
		}
		// Let events gather so that a busy run sends a few batches a
		// second, not one message per event: every message costs the
		// viewer's browser (and this server) CPU on the very machine
		// the run is measured on, and the page draws a few times a
		// second anyway.
		if !finished(snap.status) {
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
