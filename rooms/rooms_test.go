package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func openHub(t *testing.T, cfg Config) *Hub {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	h, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestCodesAvoidLookAlikes(t *testing.T) {
	for _, c := range "0OQD1IL2Z5S8B6GUVAEaeiou" {
		if strings.ContainsRune(CodeAlphabet, c) {
			t.Errorf("the code alphabet has %q, which is read as another character or spells words", c)
		}
	}
	h := openHub(t, Config{MaxRooms: 1000})
	seen := map[string]bool{}
	for range 200 {
		r, key, err := h.Create()
		if err != nil {
			t.Fatal(err)
		}
		code := r.Code()
		if n, ok := NormalizeCode(strings.ToLower(code)); !ok || n != code {
			t.Fatalf("code %q does not read back from lower case (%q, %v)", code, n, ok)
		}
		if seen[code] {
			t.Fatalf("code %s given twice", code)
		}
		seen[code] = true
		if len(key) < 40 || !r.IsPresenter(key) || r.IsPresenter(key+"x") || r.IsPresenter("") {
			t.Fatalf("presenter key check wrong for %q", key)
		}
	}
	if _, err := h.Get("0OOOO"); !errors.As(err, new(*NotFoundError)) {
		t.Fatalf("a code with look-alikes: %v, want not found", err)
	}
}

func TestRoomLimit(t *testing.T) {
	h := openHub(t, Config{MaxRooms: 3})
	for range 3 {
		if _, _, err := h.Create(); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := h.Create()
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != 3 || !strings.Contains(err.Error(), "3 open rooms") {
		t.Fatalf("fourth room: %v, want the limit of 3 named", err)
	}
}

func TestAttendeeLimit(t *testing.T) {
	h := openHub(t, Config{MaxAttendees: 300})
	r, _, _ := h.Create()
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = NewAttendeeID()
		label, err := r.Join(ids[i])
		if err != nil {
			t.Fatalf("attendee %d: %v", i+1, err)
		}
		if label != fmt.Sprintf("Attendee %d", i+1) {
			t.Fatalf("label %q, want Attendee %d", label, i+1)
		}
	}
	if _, err := r.Join(NewAttendeeID()); !errors.As(err, new(*LimitError)) || !strings.Contains(err.Error(), "300 attendees") {
		t.Fatalf("attendee 301: %v, want the room full at 300", err)
	}
	// Someone already in comes back freely, with the same label.
	if label, err := r.Join(ids[41]); err != nil || label != "Attendee 42" {
		t.Fatalf("rejoin: %q %v", label, err)
	}
	if joined, _ := r.Attendees(); joined != 300 {
		t.Fatalf("joined %d, want 300", joined)
	}
}

func TestExpiryAfterIdle(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	h := openHub(t, Config{Dir: dir, Now: clock.Now})
	idle, _, _ := h.Create()
	busy, _, _ := h.Create()
	sub, err := idle.Subscribe(true, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	h.saveDirty()
	clock.Add(11 * time.Hour)
	if err := busy.SetView(View{Path: "/s/locks"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	h.Expire()
	if _, err := h.Get(idle.Code()); !errors.As(err, new(*NotFoundError)) {
		t.Fatalf("a room idle for 12 h: %v, want not found", err)
	}
	if _, err := h.Get(busy.Code()); err != nil {
		t.Fatalf("a room used an hour ago expired: %v", err)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, ErrGone) {
		t.Fatalf("a subscriber of an expired room: %v, want ErrGone", err)
	}
	if _, err := os.Stat(filepath.Join(dir, idle.Code()+roomFileSuffix)); !os.IsNotExist(err) {
		t.Fatalf("the expired room's file is still there: %v", err)
	}
}

func TestViewCheck(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		v     View
		field string
	}{
		{View{Path: "/s/locks?engine=go&workers=4"}, ""},
		{View{Path: "/r/abc123", Run: "abc123", T: n(5), T0: n(1), T1: n(9), Lane: "worker-2", Large: true}, ""},
		{View{Path: "/"}, ""},
		{View{Path: "/compare?workload=cpu"}, ""},
		{View{Path: ""}, "path"},
		{View{Path: "https://evil.example/"}, "path"},
		{View{Path: "//evil.example/x"}, "path"},
		{View{Path: "/api/runs"}, "path"},
		{View{Path: "/s/locks\n"}, "path"},
		{View{Path: "/" + strings.Repeat("a", MaxPathBytes)}, "path"},
		{View{Path: "/r/x", Run: "../etc"}, "run"},
		{View{Path: "/r/x", T: n(-1)}, "t"},
		{View{Path: "/r/x", T0: n(5)}, "t1"},
		{View{Path: "/r/x", T0: n(5), T1: n(5)}, "t1"},
		{View{Path: "/r/x", Lane: strings.Repeat("l", 201)}, "lane"},
	} {
		err := tc.v.Check()
		var ie *InputError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: refused: %v", tc.v, err)
		case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
			t.Errorf("%+v: %v, want an error naming %s", tc.v, err, tc.field)
		}
	}
}

func TestQuestionsAndAnswers(t *testing.T) {
	h := openHub(t, Config{})
	r, _, _ := h.Create()
	a, b := NewAttendeeID(), NewAttendeeID()
	r.Join(a)
	r.Join(b)
	sc, _ := scenarios.Lookup("locks")
	params, err := sc.Validate("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Builtin("locks", params)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Text != "How many of the 40,000 updates will be lost?" || spec.Kind != KindNumber {
		t.Fatalf("built-in locks question: %+v", spec)
	}
	id, err := r.Ask(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Answer(id, a, 12000); err != nil {
		t.Fatal(err)
	}
	var ce *ConflictError
	if err := r.Answer(id, a, 5); !errors.As(err, &ce) || !strings.Contains(err.Error(), "one answer per attendee") {
		t.Fatalf("second answer: %v", err)
	}
	var ie *InputError
	if err := r.Answer(id, b, 40001); !errors.As(err, &ie) || ie.Field != "value" || !strings.Contains(err.Error(), "from 0 to 40000") {
		t.Fatalf("out-of-range answer: %v", err)
	}
	if err := r.Answer(id, NewAttendeeID(), 3); !errors.As(err, new(*ForbiddenError)) {
		t.Fatalf("an answer from someone who never joined: %v", err)
	}
	if err := r.Answer(id, b, 0); err != nil {
		t.Fatal(err)
	}
	// The presenter's run of locks measures it: the question closes.
	bound := r.AddRun(RunEntry{ID: "run1", Scenario: "locks", Engine: "go", Status: "queued"}, "")
	if len(bound) != 1 || bound[0] != id {
		t.Fatalf("bound %v, want [%s]", bound, id)
	}
	if err := r.Answer(id, NewAttendeeID(), 1); err == nil {
		t.Fatal("answer accepted after the run started")
	}
	r.RunEnded("run1", "done", &event.Summary{Metrics: map[string]event.Metric{"lost": {Value: 17342, Label: "lost updates"}}})
	qs := r.Questions()
	if len(qs) != 1 || qs[0].Measured == nil || qs[0].Measured.Value != 17342 || qs[0].Answers != 2 || fmt.Sprint(qs[0].Values) != "[12000 0]" || qs[0].Open {
		t.Fatalf("question after the run: %+v", qs[0])
	}
	if got := r.Answered(a); got[id] != 12000 {
		t.Fatalf("attendee a's answers: %v", got)
	}
}

func TestChoiceMeasured(t *testing.T) {
	spec, err := Builtin("threads", scenarios.Params{"workers": int64(8)})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Text != "8 threads or 1: which finishes first, and by how much?" || len(spec.Choices) != 4 {
		t.Fatalf("threads question: %+v", spec)
	}
	for _, tc := range []struct {
		speedup float64
		choice  int
	}{{0.5, 0}, {0.8, 1}, {1.1, 1}, {1.25, 2}, {3.9, 2}, {4, 3}, {7.8, 3}} {
		if got := choiceOf(spec.Measure.Bins, tc.speedup); got != tc.choice {
			t.Errorf("speedup %v: choice %d (%s), want %d (%s)", tc.speedup, got, spec.Choices[got], tc.choice, spec.Choices[tc.choice])
		}
	}
	h := openHub(t, Config{})
	r, _, _ := h.Create()
	id, _ := r.Ask(spec)
	// A cancelled run measures nothing: the next run will.
	r.AddRun(RunEntry{ID: "r1", Scenario: "threads"}, "")
	r.RunEnded("r1", "cancelled", nil)
	q := r.Questions()[0]
	if q.Measured != nil || q.Run != "" || !strings.Contains(q.Note, "cancelled") {
		t.Fatalf("after a cancelled run: %+v", q)
	}
	r.AddRun(RunEntry{ID: "r2", Scenario: "threads"}, "")
	r.RunEnded("r2", "done", &event.Summary{Metrics: map[string]event.Metric{"speedup": {Value: 7.6, Unit: "x"}}})
	q = r.Questions()[0]
	if q.ID != id || q.Measured == nil || *q.Measured.Choice != 3 {
		t.Fatalf("after a run of 7.6x: %+v", q)
	}
	if _, err := Builtin("threads", scenarios.Params{"workers": int64(1)}); err == nil {
		t.Fatal("a threads question with one worker")
	}
	if _, err := Builtin("asyncio", nil); err == nil {
		t.Fatal("a built-in question for asyncio")
	}
}

func TestQuestionCheck(t *testing.T) {
	for _, tc := range []struct {
		q     QuestionSpec
		field string
	}{
		{QuestionSpec{Text: "Which?", Kind: KindChoice, Choices: []string{"a", "b"}}, ""},
		{QuestionSpec{Text: "How many?", Kind: KindNumber}, ""},
		{QuestionSpec{Text: " ", Kind: KindNumber}, "text"},
		{QuestionSpec{Text: strings.Repeat("x", 301), Kind: KindNumber}, "text"},
		{QuestionSpec{Text: "x", Kind: "essay"}, "kind"},
		{QuestionSpec{Text: "x"}, "kind"},
		{QuestionSpec{Text: "x", Kind: KindChoice, Choices: []string{"only"}}, "choices"},
		{QuestionSpec{Text: "x", Kind: KindChoice, Choices: []string{"a", ""}}, "choices"},
		{QuestionSpec{Text: "x", Kind: KindChoice, Choices: make([]string, 7)}, "choices"},
	} {
		err := tc.q.Check()
		var ie *InputError
		if tc.field == "" && err != nil || tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field) {
			t.Errorf("%+v: %v, want field %q", tc.q, err, tc.field)
		}
	}
	h := openHub(t, Config{MaxQuestions: 2})
	r, _, _ := h.Create()
	for range 2 {
		if _, err := r.Ask(QuestionSpec{Text: "x", Kind: KindNumber}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Ask(QuestionSpec{Text: "x", Kind: KindNumber}); !errors.As(err, new(*LimitError)) {
		t.Fatalf("third question with a limit of 2: %v", err)
	}
}

func TestOneRunAtATimePerAttendee(t *testing.T) {
	h := openHub(t, Config{})
	r, _, _ := h.Create()
	a := NewAttendeeID()
	r.Join(a)
	if err := r.ReserveRun(a, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.ReserveRun(a, nil); !errors.As(err, new(*ConflictError)) {
		t.Fatalf("second reservation: %v", err)
	}
	r.AddRun(RunEntry{ID: "r1", Scenario: "locks", Status: "queued"}, a)
	if err := r.ReserveRun(a, nil); !errors.As(err, new(*ConflictError)) || !strings.Contains(err.Error(), "r1 is still queued") {
		t.Fatalf("while r1 waits: %v", err)
	}
	if err := r.ReserveRun(a, func(id string) bool { return id == "r1" }); err != nil {
		t.Fatalf("r1 has ended though the room's list still says queued: %v", err)
	}
	r.Release(a)
	r.UpdateRun("r1", "done", 0, "no update was lost")
	if err := r.ReserveRun(a, nil); err != nil {
		t.Fatalf("after r1 ended: %v", err)
	}
	r.Release(a)
	runs := r.Runs()
	if len(runs) != 1 || runs[0].Label != "Attendee 1" || runs[0].Verdict != "no update was lost" {
		t.Fatalf("runs: %+v", runs)
	}
}

func TestBroadcastCoalesces(t *testing.T) {
	h := openHub(t, Config{Throttle: 20 * time.Millisecond})
	r, _, _ := h.Create()
	a := NewAttendeeID()
	r.Join(a)
	sub, err := r.Subscribe(false, a)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	first, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kind(first[0]) != "view" {
		t.Fatalf("first message %s, want the view", first[0])
	}
	// Ten view changes while the subscriber is not reading: it gets the last.
	for i := range 10 {
		r.SetView(View{Path: fmt.Sprintf("/s/locks?workers=%d", i+1)})
	}
	msgs, _ := sub.Next(ctx)
	if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "workers=10") {
		t.Fatalf("after 10 changes: %q, want only the latest view", msgs)
	}
	// An attendee never gets the runs list.
	r.AddRun(RunEntry{ID: "r1", Scenario: "locks"}, "")
	r.SetView(View{Path: "/r/r1", Run: "r1"})
	for _, m := range mustNext(t, sub) {
		if kind(m) == "runs" {
			t.Fatal("an attendee got the room's runs")
		}
	}
	// An attendee who did not join cannot subscribe; nor can one with too many tabs.
	if _, err := r.Subscribe(false, NewAttendeeID()); !errors.As(err, new(*ForbiddenError)) {
		t.Fatalf("a stranger subscribed: %v", err)
	}
	var subs []*Subscription
	for range 3 {
		s, err := r.Subscribe(false, a)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := r.Subscribe(false, a); !errors.As(err, new(*LimitError)) {
		t.Fatalf("a fifth tab: %v", err)
	}
	for _, s := range subs {
		s.Close()
	}
}

func mustNext(t *testing.T, s *Subscription) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func kind(msg []byte) string {
	var m struct{ Type string }
	json.Unmarshal(msg, &m)
	return m.Type
}

func TestRestartKeepsRooms(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Logger: testLogger(t)}
	h, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, key, _ := h.Create()
	a := NewAttendeeID()
	r.Join(a)
	id, _ := r.Ask(QuestionSpec{Text: "Which?", Kind: KindChoice, Choices: []string{"x", "y"}})
	r.Answer(id, a, 1)
	r.SetView(View{Path: "/s/gil?engine=python", Large: true})
	r.AddRun(RunEntry{ID: "r9", Scenario: "gil", Status: "done"}, a)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, r.Code()+roomFileSuffix))
	if err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Fatalf("room file: %v %v, want readable by this user only", info, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, r.Code()+roomFileSuffix))
	if strings.Contains(string(data), key) || strings.Contains(string(data), a) {
		t.Fatal("the room's file holds the presenter key or an attendee id in clear")
	}

	h2 := openHub(t, cfg)
	r2, err := h2.Get(r.Code())
	if err != nil {
		t.Fatal(err)
	}
	if !r2.IsPresenter(key) {
		t.Fatal("the presenter key no longer works after a restart")
	}
	if label, ok := r2.Member(a); !ok || label != "Attendee 1" {
		t.Fatalf("member after restart: %q %v", label, ok)
	}
	if v, _ := r2.View(); v.Path != "/s/gil?engine=python" || !v.Large {
		t.Fatalf("view after restart: %+v", v)
	}
	qs := r2.Questions()
	if len(qs) != 1 || qs[0].Counts[1] != 1 {
		t.Fatalf("questions after restart: %+v", qs)
	}
	if err := r2.Answer(id, a, 0); !errors.As(err, new(*ConflictError)) {
		t.Fatalf("a second answer after restart: %v", err)
	}
	if runs := r2.Runs(); len(runs) != 1 || runs[0].Label != "Attendee 1" {
		t.Fatalf("runs after restart: %+v", runs)
	}
	if _, err := r2.Ask(QuestionSpec{Text: "Next?", Kind: KindNumber}); err != nil {
		t.Fatal(err)
	}
	if qs := r2.Questions(); qs[1].ID == id {
		t.Fatal("a new question reused an id after restart")
	}
}
