package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"interleave/rooms"
	"interleave/runs"
	"interleave/scenarios"
	"interleave/web"
)

// This file routes the workshop rooms (package rooms holds them): who is
// the presenter (a cookie with the room's key), who is an attendee (a
// cookie with a random id, given when they join), and the JSON of each
// route. Nothing here decides what a room does.

// Cookies of the rooms. The presenter's is one per room; the attendee's
// one per browser, for every room it joins.
const (
	presenterCookiePrefix = "interleave_presenter_"
	attendeeCookie        = "interleave_attendee"
	// cookieLife outlasts any room (they expire after 12 h idle).
	cookieLife = 7 * 24 * time.Hour
)

// roomStatusError is a room's refusal with its status and the words the
// user sees (a statusError: waiting does not help).
type roomStatusError struct {
	status int
	msg    string
}

func (e *roomStatusError) Error() string             { return e.msg }
func (e *roomStatusError) httpStatus() int           { return e.status }
func (e *roomStatusError) retryAfter() time.Duration { return 0 }

// roomError turns what package rooms refuses into a status and words.
func roomError(err error) error {
	var (
		ie *rooms.InputError
		nf *rooms.NotFoundError
		fe *rooms.ForbiddenError
		le *rooms.LimitError
		ce *rooms.ConflictError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return &scenarios.ParamError{Field: ie.Field, Message: ie.Message}
	case errors.As(err, &nf):
		return &roomStatusError{status: http.StatusNotFound, msg: nf.Error()}
	case errors.As(err, &fe):
		return &roomStatusError{status: http.StatusForbidden, msg: fe.Error()}
	case errors.As(err, &le):
		return &roomStatusError{status: http.StatusTooManyRequests, msg: le.Error()}
	case errors.As(err, &ce):
		return &roomStatusError{status: http.StatusConflict, msg: ce.Error()}
	case errors.Is(err, rooms.ErrClosed), errors.Is(err, rooms.ErrGone):
		return &roomStatusError{status: http.StatusServiceUnavailable, msg: err.Error()}
	}
	return err
}

// lookupRoom returns the room of the {code} in the URL.
func (s *Server) lookupRoom(r *http.Request) (*rooms.Room, error) {
	room, err := s.rooms.Get(chi.URLParam(r, "code"))
	return room, roomError(err)
}

// isPresenter reports whether r carries room's presenter key.
func isPresenter(r *http.Request, room *rooms.Room) bool {
	c, err := r.Cookie(presenterCookiePrefix + room.Code())
	return err == nil && room.IsPresenter(c.Value)
}

// attendeeID is the attendee id r carries ("" for none).
func attendeeID(r *http.Request) string {
	if c, err := r.Cookie(attendeeCookie); err == nil && len(c.Value) <= 64 {
		return c.Value
	}
	return ""
}

// requirePresenter refuses anyone but room's presenter to take action.
func requirePresenter(r *http.Request, room *rooms.Room, action string) error {
	if !isPresenter(r, room) {
		return roomError(&rooms.ForbiddenError{Action: action})
	}
	return nil
}

// setCookie sets an HttpOnly cookie for the whole site. SameSite=Lax keeps
// it off other sites' requests that change anything (cross-origin
// protection refuses those anyway).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(cookieLife.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
}

// roomLink is the room's URL as attendees can open it, and whether anyone
// but this machine can: the address the presenter used when it is not
// loopback, else the server's first room address (-lan), else loopback.
func (s *Server) roomLink(r *http.Request, code string) (string, bool) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := canonicalHost(r.Host)
	loopback := host == "localhost" || strings.HasSuffix(host, ".localhost")
	if ip, err := netip.ParseAddr(host); err == nil {
		loopback = ip.IsLoopback()
	}
	if !loopback {
		return scheme + "://" + r.Host + "/w/" + code, true
	}
	if len(s.roomURLs) > 0 {
		return s.roomURLs[0] + "/w/" + code, true
	}
	return scheme + "://" + r.Host + "/w/" + code, false
}

// createRoomResponse is the 201 body of POST /api/rooms.
type createRoomResponse struct {
	Code string `json:"code"`
	URL  string `json:"url"`
	// Reachable is false when only this machine can open URL (the server
	// listens on loopback: start it with -lan for the room).
	Reachable bool `json:"reachable"`
}

// createRoom is POST /api/rooms (body {}): a new room, and the presenter's
// cookie holding its key.
func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) error {
	if _, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, nil); err != nil {
		return err
	}
	room, key, err := s.rooms.Create()
	if err != nil {
		return roomError(err)
	}
	setCookie(w, r, presenterCookiePrefix+room.Code(), key)
	link, reachable := s.roomLink(r, room.Code())
	w.Header().Set("Location", "/w/"+room.Code())
	writeJSON(w, http.StatusCreated, createRoomResponse{Code: room.Code(), URL: link, Reachable: reachable})
	s.logger.Info("room opened", "room", room.Code())
	return nil
}

// roomState is GET /api/rooms/{code}: the room as the caller may see it.
type roomState struct {
	Code      string                `json:"code"`
	URL       string                `json:"url"`
	Reachable bool                  `json:"reachable"`
	Role      string                `json:"role"` // presenter, attendee or visitor (not joined)
	Label     string                `json:"label,omitempty"`
	View      rooms.View            `json:"view"`
	ViewSeq   uint64                `json:"view_seq"`
	Questions []rooms.QuestionState `json:"questions"`
	// Answered are the caller's own answers, by question id.
	Answered     map[string]float64 `json:"answered"`
	Attendees    int                `json:"attendees"`
	Connected    int                `json:"connected"`
	MaxAttendees int                `json:"max_attendees"`
	// Runs are the room's runs, newest first (to the presenter only).
	Runs []rooms.RunEntry `json:"runs,omitempty"`
	// Builtin lists the scenarios with a built-in question.
	Builtin []string `json:"builtin"`
}

func (s *Server) getRoom(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.roomStateFor(r, room))
	return nil
}

func (s *Server) roomStateFor(r *http.Request, room *rooms.Room) roomState {
	link, reachable := s.roomLink(r, room.Code())
	view, seq := room.View()
	joined, connected := room.Attendees()
	st := roomState{Code: room.Code(), URL: link, Reachable: reachable, Role: "visitor", View: view, ViewSeq: seq,
		Questions: room.Questions(), Answered: map[string]float64{}, Attendees: joined, Connected: connected,
		MaxAttendees: s.rooms.Config().MaxAttendees, Builtin: rooms.BuiltinScenarios}
	if isPresenter(r, room) {
		st.Role, st.Label, st.Runs = "presenter", "Presenter", room.Runs()
	} else if id := attendeeID(r); id != "" {
		if label, ok := room.Member(id); ok {
			st.Role, st.Label, st.Answered = "attendee", label, room.Answered(id)
		}
	}
	return st
}

// joinRoom is POST /api/rooms/{code}/join (body {}): the caller becomes an
// attendee (a cookie with a fresh id when it has none) and gets the room's
// state. The presenter stays the presenter.
func (s *Server) joinRoom(w http.ResponseWriter, r *http.Request) error {
	if _, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, nil); err != nil {
		return err
	}
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if !isPresenter(r, room) {
		id := attendeeID(r)
		if id == "" {
			id = rooms.NewAttendeeID()
			setCookie(w, r, attendeeCookie, id)
			r.AddCookie(&http.Cookie{Name: attendeeCookie, Value: id})
		}
		if _, err := room.Join(id); err != nil {
			return roomError(err)
		}
	}
	writeJSON(w, http.StatusOK, s.roomStateFor(r, room))
	return nil
}

// viewFields are the names of PUT /api/rooms/{code}/view's body.
var viewFields = []string{"path", "run", "t", "t0", "t1", "lane", "large"}

// putView is PUT /api/rooms/{code}/view: the presenter's view, which every
// follower's page follows at once.
func (s *Server) putView(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if err := requirePresenter(r, room, "change the view everyone follows"); err != nil {
		return err
	}
	obj, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, viewFields)
	if err != nil {
		return err
	}
	var v rooms.View
	if v.Path, err = obj.text("path"); err != nil {
		return err
	}
	if v.Run, err = obj.text("run"); err != nil {
		return err
	}
	if v.Lane, err = obj.text("lane"); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"t", &v.T}, {"t0", &v.T0}, {"t1", &v.T1}} {
		if !obj.has(f.name) {
			continue
		}
		p := scenarios.IntParam(f.name, f.name, 0, rooms.MaxTime, 0, "")
		ps, err := scenarios.Validate([]scenarios.Param{p}, map[string]any{f.name: obj.value(f.name)})
		if err != nil {
			return err
		}
		n := int64(ps.Int(f.name))
		*f.dst = &n
	}
	if obj.has("large") {
		b, ok := obj.value("large").(bool)
		if !ok {
			return &scenarios.ParamError{Field: "large", Message: "want true or false"}
		}
		v.Large = b
	}
	if err := room.SetView(v); err != nil {
		return roomError(err)
	}
	_, seq := room.View()
	writeJSON(w, http.StatusOK, map[string]any{"seq": seq})
	return nil
}

// questionFields are the names of POST /api/rooms/{code}/questions's body:
// a question of the presenter's own (text, kind, choices), or the built-in
// question of a scenario with the params about to run (scenario, engine,
// params).
var questionFields = []string{"text", "kind", "choices", "scenario", "engine", "params"}

// askQuestion is POST /api/rooms/{code}/questions (presenter only): 201 {"id"}.
func (s *Server) askQuestion(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if err := requirePresenter(r, room, "ask the room a question"); err != nil {
		return err
	}
	obj, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, questionFields)
	if err != nil {
		return err
	}
	spec, err := questionRequest(obj)
	if err != nil {
		return err
	}
	id, err := room.Ask(spec)
	if err != nil {
		return roomError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	return nil
}

// questionRequest reads a question: the presenter's own, or a scenario's
// built-in one for the params given (checked as a run's would be).
func questionRequest(obj jsonObject) (rooms.QuestionSpec, error) {
	var spec rooms.QuestionSpec
	if obj.has("scenario") {
		for _, name := range []string{"text", "kind", "choices"} {
			if obj.has(name) {
				return spec, &scenarios.ParamError{Field: name, Message: "give either scenario (its built-in question) or text, kind and choices (your own), not both"}
			}
		}
		id, err := obj.text("scenario")
		if err != nil {
			return spec, err
		}
		sc, ok := scenarios.Lookup(id)
		if !ok || len(sc.Engines) == 0 {
			return spec, &scenarios.ParamError{Field: "scenario", Message: scenarios.Describe(id) + " is not a scenario; want one of " + strings.Join(rooms.BuiltinScenarios, ", ")}
		}
		engine, err := obj.text("engine")
		if err != nil {
			return spec, err
		}
		if engine == "" {
			engine = sc.Engines[0]
		}
		raw, err := obj.params("params")
		if err != nil {
			return spec, err
		}
		params, err := sc.Validate(engine, raw)
		if err != nil {
			return spec, err
		}
		spec, err = rooms.Builtin(sc.ID, params)
		return spec, roomError(err)
	}
	var err error
	if spec.Text, err = obj.text("text"); err != nil {
		return spec, err
	}
	if spec.Kind, err = obj.text("kind"); err != nil {
		return spec, err
	}
	if obj.has("choices") {
		list, ok := obj.value("choices").([]any)
		if !ok {
			return spec, &scenarios.ParamError{Field: "choices", Message: "want a list of texts"}
		}
		for _, c := range list {
			text, ok := c.(string)
			if !ok {
				return spec, &scenarios.ParamError{Field: "choices", Message: "want a list of texts, got " + scenarios.Describe(c)}
			}
			spec.Choices = append(spec.Choices, text)
		}
	}
	return spec, nil
}

// closeQuestion is POST /api/rooms/{code}/questions/{q}/close (presenter
// only): no more answers.
func (s *Server) closeQuestion(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if err := requirePresenter(r, room, "close a question"); err != nil {
		return err
	}
	if err := room.CloseQuestion(chi.URLParam(r, "q")); err != nil {
		return roomError(err)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"closed": true})
	return nil
}

// answerQuestion is POST /api/rooms/{code}/questions/{q}/answers, body
// {"value"}: one answer per attendee, counted anonymously.
func (s *Server) answerQuestion(w http.ResponseWriter, r *http.Request) error {
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	obj, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, []string{"value"})
	if err != nil {
		return err
	}
	if !obj.has("value") {
		return &scenarios.ParamError{Field: "value", Message: "missing; want a number (or the number of a choice)"}
	}
	n, ok := obj.value("value").(json.Number)
	if !ok {
		return &scenarios.ParamError{Field: "value", Message: "want a number (or the number of a choice), got " + jsonKind([]byte(strings.TrimSpace(string(obj.fields["value"]))))}
	}
	f, err := n.Float64()
	if err != nil {
		return &scenarios.ParamError{Field: "value", Message: "want a number from -1e12 to 1e12"}
	}
	id := attendeeID(r)
	if id == "" {
		return roomError(&rooms.ForbiddenError{Action: "be answered by joined attendees; open the room's page first to join"})
	}
	if err := room.Answer(chi.URLParam(r, "q"), id, f); err != nil {
		return roomError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]float64{"value": f})
	return nil
}

// roomPage is GET /w/{code}: the room. The presenter sees the link and QR
// code to project, the questions and the room's runs; an attendee joins
// (static/room.js) and follows.
func (s *Server) roomPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := readQuery(r, nil); err != nil {
		return err
	}
	room, err := s.lookupRoom(r)
	if err != nil {
		return err
	}
	if chi.URLParam(r, "code") != room.Code() {
		// A code typed in lower case lands on the one spelling of the room.
		http.Redirect(w, r, "/w/"+room.Code(), http.StatusSeeOther)
		return nil
	}
	link, reachable := s.roomLink(r, room.Code())
	v := web.RoomView{Code: room.Code(), URL: link, Reachable: reachable, Presenter: isPresenter(r, room),
		MaxAttendees: s.rooms.Config().MaxAttendees}
	if u, err := url.Parse(link); err == nil {
		v.Host = u.Host
	}
	s.render(w, r, http.StatusOK, web.RoomPage(v))
	return nil
}

// roomRuns lists the runs of room code, newest first, with who started
// each: a page of f.Limit after the run f.Before, filtered like any list.
func (s *Server) roomRuns(r *http.Request, f runs.RunFilter, code string) (runList, error) {
	room, err := s.rooms.Get(code)
	if err != nil {
		return runList{}, roomError(err)
	}
	var out []runs.Info
	skipping := f.Before != ""
	next := ""
	for _, e := range room.Runs() {
		if skipping {
			skipping = e.ID != f.Before
			continue
		}
		if f.Scenario != "" && e.Scenario != f.Scenario || f.Engine != "" && e.Engine != f.Engine {
			continue
		}
		if len(out) == f.Limit {
			next = out[len(out)-1].ID
			break
		}
		in := runs.Info{ID: e.ID, Scenario: e.Scenario, Engine: e.Engine, Params: e.Params, Status: e.Status, Created: e.Created,
			Summary: json.RawMessage("null")}
		if run, err := s.runs.Lookup(r.Context(), e.ID); err == nil {
			in = run.Info()
		}
		in.Label = e.Label
		out = append(out, in)
	}
	if out == nil {
		out = []runs.Info{}
	}
	return runList{Runs: out, Next: next}, nil
}
