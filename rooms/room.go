package rooms

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// View is what the presenter shows, and what every following attendee's
// page shows too: the page (its path and query: the catalog, a scenario
// with its engine and params, a run, a comparison), the run on it, the
// replay moment T, the visible window T0..T1 (absent: the whole run, or
// its live end), the selected lane and large type. Times are ns since the
// run started.
type View struct {
	Path  string `json:"path"`
	Run   string `json:"run,omitempty"`
	T     *int64 `json:"t,omitempty"`
	T0    *int64 `json:"t0,omitempty"`
	T1    *int64 `json:"t1,omitempty"`
	Lane  string `json:"lane,omitempty"`
	Large bool   `json:"large,omitempty"`
}

// View limits, for the messages that refuse a view.
const (
	MaxPathBytes = 1024
	MaxLaneBytes = 200
	MaxRunID     = 32
	// MaxTime is the latest moment a view may name: 10^15 ns, 11.5 days,
	// far past any run's deadline or imported trace.
	MaxTime = int64(1e15)
)

// viewPages are the pages a view may show: a room never sends its
// followers anywhere but this server's own pages.
var viewPages = []string{"/", "/s/", "/r/", "/compare", "/runs", "/w/"}

// Check refuses a view that names anything but a page of this server, or
// whose fields are out of range, naming the field.
func (v View) Check() error {
	p := v.Path
	switch {
	case p == "":
		return &InputError{Field: "path", Message: "missing; want the path of a page of this server, such as /s/locks?engine=go"}
	case len(p) > MaxPathBytes:
		return &InputError{Field: "path", Message: fmt.Sprintf("%d bytes is too long; want at most %d", len(p), MaxPathBytes)}
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\#") || hasControl(p):
		return &InputError{Field: "path", Message: "want a path on this server starting with a single /, such as /s/locks?engine=go (no scheme, host, # or \\)"}
	}
	page := p
	if i := strings.IndexByte(page, '?'); i >= 0 {
		page = page[:i]
	}
	known := page == "/"
	for _, prefix := range viewPages[1:] {
		if strings.HasSuffix(prefix, "/") && strings.HasPrefix(page, prefix) && len(page) > len(prefix) || page == prefix || strings.HasPrefix(page, prefix+"/") {
			known = true
		}
	}
	if !known {
		return &InputError{Field: "path", Message: "want one of this server's pages: /, /s/{scenario}, /r/{run}, /compare, /runs or /w/{code}"}
	}
	if v.Run != "" && !validRunID(v.Run) {
		return &InputError{Field: "run", Message: fmt.Sprintf("want a run id of 1 to %d lower-case letters and digits", MaxRunID)}
	}
	if len(v.Lane) > MaxLaneBytes || hasControl(v.Lane) {
		return &InputError{Field: "lane", Message: fmt.Sprintf("want a lane id of at most %d bytes", MaxLaneBytes)}
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"t", v.T}, {"t0", v.T0}, {"t1", v.T1}} {
		if f.v != nil && (*f.v < 0 || *f.v > MaxTime) {
			return &InputError{Field: f.name, Message: fmt.Sprintf("%d is not allowed; want a whole number of ns from 0 to %d", *f.v, MaxTime)}
		}
	}
	if (v.T0 == nil) != (v.T1 == nil) {
		return &InputError{Field: "t1", Message: "t0 and t1 go together: give both (the window) or neither (the whole run)"}
	}
	if v.T0 != nil && *v.T1 <= *v.T0 {
		return &InputError{Field: "t1", Message: fmt.Sprintf("%d is not after t0 (%d); want t1 > t0", *v.T1, *v.T0)}
	}
	return nil
}

// validRunID reports whether id can be a run id.
func validRunID(id string) bool {
	if len(id) == 0 || len(id) > MaxRunID {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// RunEntry is a run started in the room, as the presenter's list shows it.
type RunEntry struct {
	ID string `json:"id"`
	// Label names who started it: "Presenter" or "Attendee 7" (attendees
	// are numbered in the order they joined; no name is ever asked).
	Label     string         `json:"label"`
	Presenter bool           `json:"presenter,omitempty"`
	Scenario  string         `json:"scenario"`
	Engine    string         `json:"engine"`
	Params    map[string]any `json:"params"`
	Created   time.Time      `json:"created"`
	Status    string         `json:"status"`
	Position  int            `json:"position,omitempty"`
	Verdict   string         `json:"verdict,omitempty"`
	// attendee is the hash of the attendee who started it ("" for the presenter).
	attendee string
}

// finished reports whether a run status is final.
func finished(status string) bool {
	switch status {
	case "queued", "running", "":
		return false
	}
	return true
}

// Room is one workshop: a presenter, attendees, a view, questions, runs.
type Room struct {
	hub     *Hub
	code    string
	keyHash string
	created time.Time
	dirty   atomic.Bool

	mu     sync.Mutex
	active time.Time
	// attendees maps an attendee's hash to their number (Attendee N).
	attendees map[string]int
	// sockets counts each attendee's open subscriptions.
	sockets   map[string]int
	connected int
	view      View
	questions []*question
	nextQ     int
	runs      []*RunEntry
	// reserved holds attendees whose run is being submitted.
	reserved map[string]bool

	// The broadcast: see broadcast.go.
	changed   chan struct{}
	gone      chan struct{}
	ended     bool
	viewSeq   uint64
	viewMsg   []byte
	runsSeq   uint64
	runsMsg   []byte
	peopleSeq uint64
	peopleMsg []byte
	pending   *time.Timer
	// stale marks what a throttled broadcast will refresh.
	staleRuns, stalePeople bool
	staleQuestions         map[*question]bool
}

func newRoom(h *Hub, code, keyHash string, now time.Time) *Room {
	r := &Room{hub: h, code: code, keyHash: keyHash, created: now, active: now, attendees: map[string]int{},
		sockets: map[string]int{}, reserved: map[string]bool{}, view: View{Path: "/w/" + code},
		changed: make(chan struct{}), gone: make(chan struct{}), staleQuestions: map[*question]bool{}}
	r.mu.Lock()
	r.publishViewLocked()
	r.publishRunsLocked()
	r.publishPeopleLocked()
	r.mu.Unlock()
	return r
}

// Code is the room's short code.
func (r *Room) Code() string { return r.code }

// Created is when the room was opened.
func (r *Room) Created() time.Time { return r.created }

// IsPresenter reports whether key is the room's presenter key.
func (r *Room) IsPresenter(key string) bool {
	return key != "" && sameHash(hashToken(key), r.keyHash)
}

// lastActive is when the room was last used.
func (r *Room) lastActive() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

// touchLocked notes that the room is in use.
func (r *Room) touchLocked() {
	r.active = r.hub.cfg.Now()
}

// changedLocked marks the room for saving.
func (r *Room) changedLocked() {
	r.touchLocked()
	r.hub.markDirty(r)
}

// Join admits attendee (the id in their browser's cookie) and returns their
// label; joining again is free. Past Config.MaxAttendees a newcomer gets a
// *LimitError.
func (r *Room) Join(attendee string) (string, error) {
	h := hashToken(attendee)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return "", &NotFoundError{Code: r.code}
	}
	r.touchLocked()
	if n, ok := r.attendees[h]; ok {
		return attendeeLabel(n), nil
	}
	if len(r.attendees) >= r.hub.cfg.MaxAttendees {
		return "", &LimitError{What: fmt.Sprintf("room %s is full: it has %d attendees, its limit", r.code, r.hub.cfg.MaxAttendees), Limit: r.hub.cfg.MaxAttendees}
	}
	n := len(r.attendees) + 1
	r.attendees[h] = n
	r.changedLocked()
	r.stalePeople = true
	r.scheduleLocked()
	return attendeeLabel(n), nil
}

// Member returns the label of attendee, if they joined.
func (r *Room) Member(attendee string) (string, bool) {
	if attendee == "" {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.attendees[hashToken(attendee)]
	if !ok {
		return "", false
	}
	return attendeeLabel(n), true
}

func attendeeLabel(n int) string { return fmt.Sprintf("Attendee %d", n) }

// Attendees returns how many joined and how many have a socket open.
func (r *Room) Attendees() (joined, connected int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attendees), r.connected
}

// SetView makes v what everyone follows, at once.
func (r *Room) SetView(v View) error {
	if err := v.Check(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return &NotFoundError{Code: r.code}
	}
	r.view = v
	r.publishViewLocked()
	r.changedLocked()
	r.broadcastLocked()
	return nil
}

// View returns the current view and its sequence number.
func (r *Room) View() (View, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view, r.viewSeq
}

// ReserveRun lets attendee start a run: one run waiting or running per
// attendee, so that a room cannot fill the queue by itself. It returns a
// *ConflictError naming the run still pending. ended, when not nil, says
// whether a run the room still lists as pending has in fact ended: the
// room's list follows a run's end a moment later, and an attendee who has
// just cancelled (or seen the end of) a run must be able to start the next
// at once. Release or AddRun must follow.
func (r *Room) ReserveRun(attendee string, ended func(id string) bool) error {
	h := hashToken(attendee)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reserved[h] {
		return &ConflictError{Message: "room: your previous run is still being started; one run at a time per attendee"}
	}
	for _, e := range r.runs {
		if e.attendee == h && !finished(e.Status) && (ended == nil || !ended(e.ID)) {
			return &ConflictError{Message: fmt.Sprintf("room: your run %s is still %s; one run at a time per attendee, so that everyone's runs get their turn (cancel it or wait for it to end)", e.ID, e.Status)}
		}
	}
	r.reserved[h] = true
	return nil
}

// Release gives up a reservation whose run was not started.
func (r *Room) Release(attendee string) {
	r.mu.Lock()
	delete(r.reserved, hashToken(attendee))
	r.mu.Unlock()
}

// AddRun lists a run started in the room: by the presenter (attendee "")
// or by an attendee, whose reservation it fulfils. A presenter's run is the
// one that measures the open questions of its scenario that have a
// measure: they close (no prediction after the run has started) and wait
// for its end. It returns the ids of those questions.
func (r *Room) AddRun(e RunEntry, attendee string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if attendee != "" {
		e.attendee = hashToken(attendee)
		delete(r.reserved, e.attendee)
		if n, ok := r.attendees[e.attendee]; ok {
			e.Label = attendeeLabel(n)
		}
	} else {
		e.Presenter = true
		e.Label = "Presenter"
	}
	if e.Created.IsZero() {
		e.Created = r.hub.cfg.Now().UTC()
	}
	entry := e
	r.runs = append(r.runs, &entry)
	r.trimRunsLocked()
	var bound []string
	if e.Presenter {
		bound = r.bindLocked(&entry)
	}
	r.changedLocked()
	r.staleRuns = true
	r.scheduleLocked()
	return bound
}

// trimRunsLocked keeps at most MaxRuns entries: the oldest finished go first.
func (r *Room) trimRunsLocked() {
	for len(r.runs) > r.hub.cfg.MaxRuns {
		i := slices.IndexFunc(r.runs, func(e *RunEntry) bool { return finished(e.Status) })
		if i < 0 {
			i = 0
		}
		r.runs = slices.Delete(r.runs, i, i+1)
	}
}

// UpdateRun records a room run's status, queue position and verdict.
func (r *Room) UpdateRun(id, status string, position int, verdict string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.runs {
		if e.ID == id && (e.Status != status || e.Position != position || e.Verdict != verdict) {
			e.Status, e.Position, e.Verdict = status, position, verdict
			r.hub.markDirty(r)
			r.staleRuns = true
			r.scheduleLocked()
		}
	}
}

// Runs returns the room's runs, newest first.
func (r *Room) Runs() []RunEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RunEntry, 0, len(r.runs))
	for i := len(r.runs) - 1; i >= 0; i-- {
		out = append(out, *r.runs[i])
	}
	return out
}

// HasRun reports whether run id was started in the room.
func (r *Room) HasRun(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.runs, func(e *RunEntry) bool { return e.ID == id })
}
