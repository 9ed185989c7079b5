// Package rooms is Interleave's workshop mode: a room that a presenter
// opens, attendees join with a short code, and everyone follows. It holds
// each room's state (the presenter's view, the questions asked and their
// answers, the runs started in the room), enforces the limits of rooms and
// attendees, broadcasts every change to the room's subscribers, keeps rooms
// on disk so that a restart loses nothing, and forgets a room after it has
// been idle for a while.
//
// It knows nothing of HTTP: server/ routes requests to it, checks the
// presenter's key through it, and writes what a Subscription yields to a
// WebSocket.
package rooms

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config bounds the rooms of one server. Every limit is enforced and tested.
type Config struct {
	// Dir keeps one file per room, so that a restart finds its rooms again;
	// "" keeps rooms in memory only.
	Dir string
	// MaxRooms is how many rooms may be open at once (default 100): a room
	// holds sockets and state, and creating one needs no account.
	MaxRooms int
	// MaxAttendees is how many attendees may join one room (default 300).
	MaxAttendees int
	// IdleExpiry forgets a room nobody has used for this long (default 12 h):
	// its code becomes unknown and its file is deleted.
	IdleExpiry time.Duration
	// MaxQuestions is how many questions one room keeps (default 100).
	MaxQuestions int
	// MaxRuns is how many runs one room's list keeps (default 500); past it
	// the oldest finished ones leave the list (the runs themselves stay).
	MaxRuns int
	// SocketsPerAttendee is how many sockets one attendee (one browser) may
	// hold open in a room at once (default 4: a few tabs).
	SocketsPerAttendee int
	// Throttle is the longest a change that comes in bursts (an answer, a
	// join, a run's status) waits before it is broadcast, so that 300
	// answers in a second cost a few messages per subscriber, not 300
	// (default 150 ms). The presenter's view is never throttled.
	Throttle time.Duration
	// Now is the clock (default time.Now); tests move it to test expiry.
	Now func() time.Time
	// Logger reports rooms that could not be saved or read back.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{MaxRooms: 100, MaxAttendees: 300, IdleExpiry: 12 * time.Hour, MaxQuestions: 100, MaxRuns: 500,
		SocketsPerAttendee: 4, Throttle: 150 * time.Millisecond}
}

// LimitError is a limit of the rooms reached: which, and its value.
type LimitError struct {
	What  string
	Limit int
}

func (e *LimitError) Error() string { return e.What }

// NotFoundError is a code that names no open room (never opened, or expired).
type NotFoundError struct{ Code string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("room %s not found: it was never opened here or it expired after being idle", e.Code)
}

// ForbiddenError is an action only the room's presenter may take.
type ForbiddenError struct{ Action string }

func (e *ForbiddenError) Error() string {
	return "only the presenter of this room may " + e.Action + "; the presenter is the browser that started the room"
}

// InputError is a request the room refuses because of one of its fields.
type InputError struct{ Field, Message string }

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// ConflictError is an action that clashes with the room's state (a second
// answer, a second waiting run).
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// ErrClosed is returned once the hub is closed.
var ErrClosed = errors.New("rooms are closed: the server is shutting down")

// CodeAlphabet is the alphabet of room codes: capital letters and digits
// without look-alikes (no 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G, U/V) and
// without vowels, so that a code read off a projector is typed right and
// never spells a word.
const CodeAlphabet = "CFHJKMNPRTWXY3479"

// CodeLength is the length of a room code: 17^5 ≈ 1.4 million codes.
const CodeLength = 5

// NormalizeCode returns code in capitals and reports whether it can be a
// room code at all.
func NormalizeCode(code string) (string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != CodeLength {
		return code, false
	}
	for _, c := range code {
		if !strings.ContainsRune(CodeAlphabet, c) {
			return code, false
		}
	}
	return code, true
}

// Hub holds every open room.
type Hub struct {
	cfg   Config
	store *fileStore

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool

	quit    chan struct{}
	stopped chan struct{}
	dirty   chan struct{}
}

// Open returns the hub of cfg, with the rooms saved in cfg.Dir (expired
// ones are deleted), and starts its housekeeping: saving changed rooms and
// forgetting idle ones. Close stops it.
func Open(cfg Config) (*Hub, error) {
	def := DefaultConfig()
	if cfg.MaxRooms == 0 {
		cfg.MaxRooms = def.MaxRooms
	}
	if cfg.MaxAttendees == 0 {
		cfg.MaxAttendees = def.MaxAttendees
	}
	if cfg.IdleExpiry == 0 {
		cfg.IdleExpiry = def.IdleExpiry
	}
	if cfg.MaxQuestions == 0 {
		cfg.MaxQuestions = def.MaxQuestions
	}
	if cfg.MaxRuns == 0 {
		cfg.MaxRuns = def.MaxRuns
	}
	if cfg.SocketsPerAttendee == 0 {
		cfg.SocketsPerAttendee = def.SocketsPerAttendee
	}
	if cfg.Throttle == 0 {
		cfg.Throttle = def.Throttle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		return nil, errors.New("rooms need a logger")
	}
	if cfg.MaxRooms < 1 || cfg.MaxAttendees < 1 || cfg.IdleExpiry <= 0 || cfg.MaxQuestions < 1 || cfg.MaxRuns < 1 || cfg.SocketsPerAttendee < 1 {
		return nil, fmt.Errorf("rooms: invalid limits %+v", cfg)
	}
	h := &Hub{cfg: cfg, rooms: map[string]*Room{}, quit: make(chan struct{}), stopped: make(chan struct{}), dirty: make(chan struct{}, 1)}
	if cfg.Dir != "" {
		st, err := openFileStore(cfg.Dir)
		if err != nil {
			return nil, err
		}
		h.store = st
		recs, err := st.loadAll(cfg.Logger)
		if err != nil {
			return nil, err
		}
		now := cfg.Now()
		// Past MaxRooms, the most recently used rooms are kept.
		slices.SortFunc(recs, func(a, b record) int { return b.Active.Compare(a.Active) })
		for _, rec := range recs {
			if now.Sub(rec.Active) >= cfg.IdleExpiry || len(h.rooms) >= cfg.MaxRooms {
				st.remove(rec.Code)
				continue
			}
			h.rooms[rec.Code] = roomFromRecord(h, rec)
		}
	}
	go h.housekeep()
	return h, nil
}

// Close saves every changed room and stops the housekeeping; subscribers
// are told the room is gone.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.quit)
	<-h.stopped
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	for _, r := range h.rooms {
		err = errors.Join(err, h.save(r))
		r.end()
	}
	return err
}

// Config returns the hub's limits.
func (h *Hub) Config() Config { return h.cfg }

// Create opens a new room and returns it with the presenter's key: whoever
// holds the key presents. Only a hash of the key is kept.
func (h *Hub) Create() (*Room, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, "", ErrClosed
	}
	h.expireLocked()
	if len(h.rooms) >= h.cfg.MaxRooms {
		return nil, "", &LimitError{What: fmt.Sprintf("rooms: this server already has %d open rooms, its limit; try again when one has expired (after %s idle)", h.cfg.MaxRooms, h.cfg.IdleExpiry), Limit: h.cfg.MaxRooms}
	}
	var code string
	for {
		code = randomCode()
		if _, taken := h.rooms[code]; !taken {
			break
		}
	}
	key := randomToken(32)
	now := h.cfg.Now()
	r := newRoom(h, code, hashToken(key), now)
	h.rooms[code] = r
	h.markDirty(r)
	return r, key, nil
}

// Get returns the open room of code (in any case); an unknown or expired
// code is a *NotFoundError.
func (h *Hub) Get(code string) (*Room, error) {
	norm, ok := NormalizeCode(code)
	if !ok {
		return nil, &NotFoundError{Code: strings.ToUpper(shorten(code, 16))}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.rooms[norm]
	if !ok {
		return nil, &NotFoundError{Code: norm}
	}
	if h.cfg.Now().Sub(r.lastActive()) >= h.cfg.IdleExpiry {
		h.dropLocked(r)
		return nil, &NotFoundError{Code: norm}
	}
	return r, nil
}

// Rooms returns the open rooms.
func (h *Hub) Rooms() []*Room {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Room, 0, len(h.rooms))
	for _, r := range h.rooms {
		out = append(out, r)
	}
	return out
}

// Expire forgets every room idle for Config.IdleExpiry or longer; the
// housekeeping calls it every minute.
func (h *Hub) Expire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expireLocked()
}

func (h *Hub) expireLocked() {
	now := h.cfg.Now()
	for _, r := range h.rooms {
		if now.Sub(r.lastActive()) >= h.cfg.IdleExpiry {
			h.dropLocked(r)
		}
	}
}

// dropLocked forgets room r: its subscribers are told, its file deleted.
func (h *Hub) dropLocked(r *Room) {
	delete(h.rooms, r.code)
	r.end()
	if h.store != nil {
		h.store.remove(r.code)
	}
}

// markDirty asks the housekeeping to save r soon.
func (h *Hub) markDirty(r *Room) {
	r.dirty.Store(true)
	select {
	case h.dirty <- struct{}{}:
	default:
	}
}

// saveEvery spaces the saves of a busy room.
const saveEvery = 250 * time.Millisecond

// housekeep saves changed rooms (at most every saveEvery) and expires idle
// ones every minute, until Close.
func (h *Hub) housekeep() {
	defer close(h.stopped)
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-expire.C:
			h.Expire()
		case <-h.dirty:
			h.saveDirty()
			select {
			case <-h.quit:
				return
			case <-time.After(saveEvery):
			}
		}
	}
}

// saveDirty writes every room changed since its last save.
func (h *Hub) saveDirty() {
	for _, r := range h.Rooms() {
		if r.dirty.Load() {
			if err := h.save(r); err != nil {
				h.cfg.Logger.Error("save room", "room", r.code, "err", err)
			}
		}
	}
}

// save writes r's record to disk (nothing without a directory).
func (h *Hub) save(r *Room) error {
	if h.store == nil || !r.dirty.Swap(false) {
		return nil
	}
	rec := r.record()
	if err := h.store.save(rec); err != nil {
		r.dirty.Store(true)
		return err
	}
	return nil
}

// randomCode returns a room code drawn uniformly from CodeAlphabet.
func randomCode() string {
	b := make([]byte, CodeLength)
	for i := range b {
		b[i] = CodeAlphabet[randomIndex(len(CodeAlphabet))]
	}
	return string(b)
}

// randomIndex returns a uniform number in [0, n) (n < 256), rejecting the
// bytes that would bias it.
func randomIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// randomToken returns n random bytes as URL-safe base64.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewAttendeeID returns a fresh attendee identity, for a browser's cookie.
func NewAttendeeID() string { return randomToken(18) }

// hashToken is the form in which keys and attendee ids are kept: knowing a
// room's file does not let anyone present or answer as someone else.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// sameHash compares two hashes in constant time.
func sameHash(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// shorten cuts s to at most n bytes, for messages.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
