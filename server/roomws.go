package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"interleave/rooms"
	"interleave/runs"
	"interleave/scenarios/event"
)

// roomEvents is GET /api/rooms/{code}/events: the WebSocket of a room. The
// presenter and joined attendees get the view first, then every question,
// the people (and the presenter the room's runs), then each change as it
// happens (see package rooms for the messages). Like a run's socket it
// never reads data from the client.
func (s *Server) roomEvents(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if origin := r.Header.Get("Origin"); origin != "" && len(s.cfg.Limits.WSOriginPatterns) == 0 && !s.hosts.allowsOrigin(origin) {
		return &crossOriginError{origin: origin}
	}
	presenter := isPresenter(r, room)
	sub, err := room.Subscribe(presenter, attendeeID(r))
	if err != nil {
		return roomError(err)
	}
	defer sub.Close()
	hj := &hijackRecorder{ResponseWriter: w}
	c, err := websocket.Accept(hj, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.Limits.WSOriginPatterns})
	if err != nil {
		return nil // Accept has written the HTTP error
	}
	defer c.CloseNow()
	ctx := s.closeOnData(r.Context(), c)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.viewers.Add(1)
	defer s.viewers.Add(-1)

	err = s.streamRoom(ctx, c, sub)
	code, reason := websocket.StatusGoingAway, "server shutting down"
	switch {
	case errors.Is(err, rooms.ErrGone):
		code, reason = websocket.StatusNormalClosure, "the room is closed"
	case errors.Is(err, errTooSlow):
		code, reason = websocket.StatusPolicyViolation, "too slow: the follower fell behind"
	case isClosing(s.closing):
	default:
		s.logger.Debug("room follower left", "room", room.Code(), "err", err)
		return nil
	}
	if conn := hj.conn; conn != nil {
		s.closeConn(c, conn, code, reason)
	}
	return nil
}

// streamRoom writes what the subscription yields until it ends.
func (s *Server) streamRoom(ctx context.Context, c *websocket.Conn, sub *rooms.Subscription) error {
	for {
		msgs, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			wctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.WSWriteTimeout)
			err := c.Write(wctx, websocket.MessageText, m)
			slow := wctx.Err() != nil && ctx.Err() == nil
			cancel()
			if slow {
				return errTooSlow
			}
			if err != nil {
				return err
			}
		}
	}
}

// isClosing reports whether ch is closed.
func isClosing(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// submitRoomRun starts req as a run of room: the presenter's run goes ahead
// of the queue and measures the open questions of its scenario; an
// attendee (who must have joined) has one run waiting or running at a
// time. Its status and verdict follow into the room's list.
func (s *Server) submitRoomRun(r *http.Request, code string, req runs.RunRequest) (*runs.Run, error) {
	room, err := s.rooms.Get(code)
	if err != nil {
		return nil, roomError(err)
	}
	attendee := ""
	req.Client = "room " + code // each attendee apart, below
	if isPresenter(r, room) {
		req.Priority = true
	} else {
		attendee = attendeeID(r)
		req.Client += " " + attendee
		if _, ok := room.Member(attendee); !ok {
			return nil, roomError(&rooms.ForbiddenError{Action: "run in it before joining; open the room's page first to join"})
		}
		if err := room.ReserveRun(attendee, s.runEnded); err != nil {
			return nil, roomError(err)
		}
	}
	run, err := s.runs.Submit(req)
	if err != nil {
		if attendee != "" {
			room.Release(attendee)
		}
		return nil, err
	}
	status, pos := run.Status()
	room.AddRun(rooms.RunEntry{ID: run.ID, Scenario: run.Scenario, Engine: run.Engine, Params: run.Params, Created: run.Created,
		Status: status, Position: pos}, attendee)
	s.followRoomRun(room, run)
	return run, nil
}

// runEnded says whether the run id held here has ended, ahead of the room's
// list that follows it.
func (s *Server) runEnded(id string) bool {
	run, ok := s.runs.Live(id)
	if !ok {
		return false
	}
	status, _ := run.Status()
	return event.Final(status)
}

// followRoomRun copies run's status, position and verdict into room's list
// as they change, and at its end gives the questions it measures their
// answer. It returns at once; a goroutine follows until the run ends.
func (s *Server) followRoomRun(room *rooms.Room, run *runs.Run) {
	go func() {
		for {
			status, pos, changed := run.WatchStatus()
			if event.Final(status) {
				<-run.Done()
				var summary *event.Summary
				if raw := run.Summary(); raw != nil {
					summary = &event.Summary{}
					if json.Unmarshal(raw, summary) != nil {
						summary = nil
					}
				}
				verdict := ""
				if summary != nil {
					verdict = summary.Verdict
				}
				room.UpdateRun(run.ID, status, 0, verdict)
				room.RunEnded(run.ID, status, summary)
				return
			}
			room.UpdateRun(run.ID, status, pos, "")
			<-changed
		}
	}()
}

// resumeRoomRuns follows, after a restart, the room runs that had not
// finished and the runs that questions wait for: each is live (rare) or
// recorded, by now finished or interrupted.
func (s *Server) resumeRoomRuns() {
	for _, room := range s.rooms.Rooms() {
		ids := room.BoundRuns()
		for _, e := range room.Runs() {
			if !event.Final(e.Status) {
				ids = append(ids, e.ID)
			}
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			run, err := s.runs.Lookup(context.Background(), id)
			if err != nil {
				room.UpdateRun(id, runs.StatusInterrupted, 0, "")
				room.RunEnded(id, runs.StatusInterrupted, nil)
				continue
			}
			s.followRoomRun(room, run)
		}
	}
}

// closeConn sends a close frame and waits at most closeGrace for the
// answer (as closeViewer does for a run's viewers).
func (s *Server) closeConn(c *websocket.Conn, conn net.Conn, code websocket.StatusCode, reason string) {
	conn.SetDeadline(time.Now().Add(closeGrace))
	if err := c.Close(code, reason); err != nil {
		s.logger.Debug("room follower did not answer the close", "code", code, "err", err)
	}
}
