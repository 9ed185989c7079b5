package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The broadcast. Each part of a room that subscribers see (the view, each
// question, the runs, the people) keeps its latest message, encoded once,
// and a sequence number. A change replaces the message, bumps the number
// and wakes every subscriber (a channel closed and replaced); each
// subscriber then sends what it has not sent yet. So a subscriber never
// queues anything: one that falls behind skips straight to the latest
// state, and 300 subscribers cost one encoding per change, not 300.
//
// Messages (WebSocket text, JSON):
//
//	{"type":"view","seq":N,"view":{...}}             the view to follow
//	{"type":"question","question":{...}}             a question, its answers counted, its measured answer
//	{"type":"runs","runs":[...]}                     the room's runs (to the presenter only)
//	{"type":"people","attendees":N,"connected":M}    who joined, who is here
//	{"type":"closed","reason":"..."}                 the room is gone (expired, server stopping)

// ErrGone is returned by Subscription.Next once the room is gone.
var ErrGone = errors.New("the room is gone")

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rooms: encode %T: %v", v, err))
	}
	return b
}

func (r *Room) publishViewLocked() {
	r.viewSeq++
	r.viewMsg = mustJSON(struct {
		Type string `json:"type"`
		Seq  uint64 `json:"seq"`
		View View   `json:"view"`
	}{"view", r.viewSeq, r.view})
}

func (r *Room) publishQuestionLocked(q *question) {
	q.seq++
	q.msg = mustJSON(struct {
		Type     string        `json:"type"`
		Question QuestionState `json:"question"`
	}{"question", q.state()})
	delete(r.staleQuestions, q)
}

func (r *Room) publishRunsLocked() {
	runs := make([]RunEntry, 0, len(r.runs))
	for i := len(r.runs) - 1; i >= 0; i-- {
		runs = append(runs, *r.runs[i])
	}
	r.runsSeq++
	r.runsMsg = mustJSON(struct {
		Type string     `json:"type"`
		Runs []RunEntry `json:"runs"`
	}{"runs", runs})
	r.staleRuns = false
}

func (r *Room) publishPeopleLocked() {
	r.peopleSeq++
	r.peopleMsg = mustJSON(struct {
		Type      string `json:"type"`
		Attendees int    `json:"attendees"`
		Connected int    `json:"connected"`
	}{"people", len(r.attendees), r.connected})
	r.stalePeople = false
}

// broadcastLocked wakes every subscriber.
func (r *Room) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// scheduleLocked broadcasts the stale parts within Config.Throttle: changes
// that come in bursts (answers, joins, statuses) go out together.
func (r *Room) scheduleLocked() {
	if r.pending != nil || r.ended {
		return
	}
	r.pending = time.AfterFunc(r.hub.cfg.Throttle, r.flushStale)
}

// flushStale publishes what changed since the last broadcast.
func (r *Room) flushStale() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = nil
	if r.ended {
		return
	}
	for q := range r.staleQuestions {
		r.publishQuestionLocked(q)
	}
	if r.staleRuns {
		r.publishRunsLocked()
	}
	if r.stalePeople {
		r.publishPeopleLocked()
	}
	r.broadcastLocked()
}

// end tells every subscriber the room is gone.
func (r *Room) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	if r.pending != nil {
		r.pending.Stop()
		r.pending = nil
	}
	close(r.gone)
}

// Subscription is one subscriber's place in a room's broadcast.
type Subscription struct {
	room      *Room
	presenter bool
	attendee  string // hash; "" for the presenter
	viewSeq   uint64
	runsSeq   uint64
	peopleSeq uint64
	questions map[*question]uint64
	closed    bool
}

// Subscribe starts a subscription: the presenter's (who also gets the
// runs) or a joined attendee's, who may hold Config.SocketsPerAttendee at
// once. Close must follow.
func (r *Room) Subscribe(presenter bool, attendee string) (*Subscription, error) {
	s := &Subscription{room: r, presenter: presenter, questions: map[*question]uint64{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return nil, ErrGone
	}
	if !presenter {
		h := hashToken(attendee)
		if _, ok := r.attendees[h]; !ok || attendee == "" {
			return nil, &ForbiddenError{Action: "follow without joining; open the room's page to join"}
		}
		if r.sockets[h] >= r.hub.cfg.SocketsPerAttendee {
			return nil, &LimitError{What: fmt.Sprintf("room %s: you already follow it from %d tabs, the limit; close one", r.code, r.hub.cfg.SocketsPerAttendee), Limit: r.hub.cfg.SocketsPerAttendee}
		}
		s.attendee = h
		r.sockets[h]++
		r.connected++
		r.stalePeople = true
		r.scheduleLocked()
	}
	r.touchLocked()
	return s, nil
}

// Close ends the subscription.
func (s *Subscription) Close() {
	r := s.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.attendee != "" {
		r.sockets[s.attendee]--
		if r.sockets[s.attendee] <= 0 {
			delete(r.sockets, s.attendee)
		}
		r.connected--
		r.stalePeople = true
		r.scheduleLocked()
	}
}

// Next waits until the room has something this subscriber has not been
// sent, and returns those messages: the view first. The first call returns
// the whole current state. It returns ErrGone when the room is gone, or
// ctx's error.
func (s *Subscription) Next(ctx context.Context) ([][]byte, error) {
	r := s.room
	for {
		r.mu.Lock()
		if r.ended {
			r.mu.Unlock()
			return nil, ErrGone
		}
		var out [][]byte
		if s.viewSeq != r.viewSeq {
			out = append(out, r.viewMsg)
			s.viewSeq = r.viewSeq
		}
		for _, q := range r.questions {
			if s.questions[q] != q.seq {
				out = append(out, q.msg)
				s.questions[q] = q.seq
			}
		}
		if s.presenter && s.runsSeq != r.runsSeq {
			out = append(out, r.runsMsg)
			s.runsSeq = r.runsSeq
		}
		if s.peopleSeq != r.peopleSeq {
			out = append(out, r.peopleMsg)
			s.peopleSeq = r.peopleSeq
		}
		changed, gone := r.changed, r.gone
		r.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-changed:
		case <-gone:
			return nil, ErrGone
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
