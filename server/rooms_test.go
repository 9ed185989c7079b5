package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// roomClient is one browser in a room: its own cookies.
type roomClient struct {
	t    testing.TB
	base string
	http *http.Client
}

func newRoomClient(t testing.TB, ts *testServer) *roomClient { return newRoomClientAt(t, ts.URL) }

// newRoomClientAt is a browser of the server at base.
func newRoomClientAt(t testing.TB, base string) *roomClient {
	jar, _ := cookiejar.New(nil)
	return &roomClient{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request with a JSON body (nil for none) and decodes the JSON answer.
func (c *roomClient) do(method, path string, body any, header ...string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &out)
	return resp.StatusCode, out, resp.Header
}

// openRoom makes c the presenter of a new room and returns its code.
func (c *roomClient) openRoom() string {
	c.t.Helper()
	status, out, h := c.do("POST", "/api/rooms", map[string]any{})
	if status != http.StatusCreated {
		c.t.Fatalf("POST /api/rooms = %d %v", status, out)
	}
	code := out["code"].(string)
	if !strings.HasSuffix(out["url"].(string), "/w/"+code) || h.Get("Location") != "/w/"+code {
		c.t.Fatalf("room url %v, location %q", out["url"], h.Get("Location"))
	}
	return code
}

// follow opens the room's socket with c's cookies.
func (c *roomClient) follow(ctx context.Context, code string) *websocket.Conn {
	c.t.Helper()
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/api/rooms/" + code + "/events"
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.t.Fatalf("follow %s: %v (%d)", code, err, status)
	}
	c.t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// readType reads messages until one of type typ arrives.
func readType(t testing.TB, ctx context.Context, conn *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for a %s message: %v", typ, err)
		}
		var m map[string]any
		json.Unmarshal(data, &m)
		if m["type"] == typ {
			return m
		}
	}
}

func TestRoomCreateAndPermissions(t *testing.T) {
	ts := newTestServer(t, nil)
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	u, _ := http.NewRequest("GET", ts.URL, nil)
	var key *http.Cookie
	for _, c := range presenter.http.Jar.Cookies(u.URL) {
		if c.Name == presenterCookiePrefix+code {
			key = c
		}
	}
	if key == nil || len(key.Value) < 40 {
		t.Fatalf("no presenter key cookie: %v", presenter.http.Jar.Cookies(u.URL))
	}
	// The cookie is HttpOnly: read it from a raw answer.
	resp, _ := http.Post(ts.URL+"/api/rooms", "application/json", strings.NewReader("{}"))
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("presenter cookie %q, want HttpOnly and SameSite=Lax", sc)
	}

	attendee := newRoomClient(t, ts)
	if status, out, _ := attendee.do("POST", "/api/rooms/"+strings.ToLower(code)+"/join", map[string]any{}); status != 200 || out["role"] != "attendee" || out["label"] != "Attendee 1" {
		t.Fatalf("join = %d %v", status, out)
	}
	stranger := newRoomClient(t, ts)
	view := map[string]any{"path": "/s/locks?engine=go", "large": true}
	for _, c := range []*roomClient{attendee, stranger} {
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{"PUT", "/view", view},
			{"POST", "/questions", map[string]any{"text": "How many?", "kind": "number"}},
			{"POST", "/questions/q1/close", map[string]any{}},
		} {
			if status, out, _ := c.do(tc.method, "/api/rooms/"+code+tc.path, tc.body); status != http.StatusForbidden || !strings.Contains(out["error"].(string), "only the presenter") {
				t.Errorf("%s %s without the key = %d %v, want 403", tc.method, tc.path, status, out)
			}
		}
	}
	if status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", view); status != 200 {
		t.Fatalf("presenter PUT view = %d %v", status, out)
	}
	// Another site's page cannot use the presenter's cookie.
	if status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", view, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden || !strings.Contains(out["error"].(string), "cross-origin") {
		t.Fatalf("cross-site PUT view = %d %v, want 403", status, out)
	}
	for _, path := range []string{"/join", "/questions", "/questions/q1/answers", "/questions/q1/close"} {
		if status, _, _ := attendee.do("POST", "/api/rooms/"+code+path, map[string]any{}, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
			t.Errorf("cross-site POST %s = %d, want 403", path, status)
		}
	}
	if status, _, _ := newRoomClient(t, ts).do("POST", "/api/rooms", map[string]any{}, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); status != http.StatusForbidden {
		t.Errorf("cross-site POST /api/rooms = %d, want 403", status)
	}
	// Bad views name their field.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"path": "https://evil.example/"}, "path"},
		{map[string]any{"path": "/r/x", "t": -5}, "t"},
		{map[string]any{"path": "/r/x", "t0": 5}, "t1"},
		{map[string]any{"path": "/r/x", "large": "yes"}, "large"},
		{map[string]any{"path": "/r/x", "zoom": 2}, "zoom"},
	} {
		status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", tc.body)
		if msg, _ := out["error"].(string); status != 400 || !strings.HasPrefix(msg, tc.field+":") {
			t.Errorf("PUT view %v = %d %v, want 400 naming %s", tc.body, status, out, tc.field)
		}
	}
	if status, _, _ := presenter.do("GET", "/api/rooms/XXXXX", nil); status != 404 {
		t.Errorf("unknown room = %d", status)
	}
	if status, _, _ := presenter.do("GET", "/w/XXXXX", nil); status != 404 {
		t.Errorf("unknown room page = %d", status)
	}
}

func TestRoomQuestionsOverHTTP(t *testing.T) {
	ts := newTestServer(t, nil)
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := presenter.follow(ctx, code)
	if m := readType(t, ctx, watch, "view"); m["view"].(map[string]any)["path"] != "/w/"+code {
		t.Fatalf("first view: %v", m)
	}
	status, out, _ := presenter.do("POST", "/api/rooms/"+code+"/questions", map[string]any{"scenario": "locks", "engine": "go", "params": map[string]any{"workers": 2, "increments": 5000}})
	if status != 201 {
		t.Fatalf("ask = %d %v", status, out)
	}
	q := out["id"].(string)
	a := newRoomClient(t, ts)
	a.do("POST", "/api/rooms/"+code+"/join", map[string]any{})
	// An attendee who joins late gets the question, the view first.
	follower := a.follow(ctx, code)
	_, first, _ := follower.Read(ctx)
	if !strings.Contains(string(first), `"type":"view"`) {
		t.Fatalf("a late joiner's first message: %s", first)
	}
	if m := readType(t, ctx, follower, "question"); m["question"].(map[string]any)["text"] != "How many of the 10,000 updates will be lost?" {
		t.Fatalf("question: %v", m)
	}
	if status, out, _ := a.do("POST", "/api/rooms/"+code+"/questions/"+q+"/answers", map[string]any{"value": 2500}); status != 201 {
		t.Fatalf("answer = %d %v", status, out)
	}
	if status, out, _ := a.do("POST", "/api/rooms/"+code+"/questions/"+q+"/answers", map[string]any{"value": 1}); status != http.StatusConflict {
		t.Fatalf("second answer = %d %v, want 409", status, out)
	}
	if status, out, _ := newRoomClient(t, ts).do("POST", "/api/rooms/"+code+"/questions/"+q+"/answers", map[string]any{"value": 1}); status != http.StatusForbidden {
		t.Fatalf("an answer without joining = %d %v, want 403", status, out)
	}
	b := newRoomClient(t, ts)
	b.do("POST", "/api/rooms/"+code+"/join", map[string]any{})
	if status, out, _ := b.do("POST", "/api/rooms/"+code+"/questions/"+q+"/answers", map[string]any{"value": "many"}); status != 400 || !strings.HasPrefix(out["error"].(string), "value:") {
		t.Fatalf("a text answer = %d %v", status, out)
	}
	// The presenter's run of locks measures the question.
	status, out, _ = presenter.do("POST", "/api/runs", map[string]any{"scenario": "locks", "engine": "go", "room": code,
		"params": map[string]any{"workers": 2, "increments": 5000, "sched": false}})
	if status != 201 {
		t.Fatalf("presenter's run = %d %v", status, out)
	}
	runID := out["id"].(string)
	for {
		m := readType(t, ctx, watch, "question")
		qs := m["question"].(map[string]any)
		if measured, ok := qs["measured"].(map[string]any); ok {
			if measured["run"] != runID || qs["open"] != false {
				t.Fatalf("measured %v", qs)
			}
			info := ts.info(t, runID)
			var sum struct {
				Metrics map[string]struct{ Value float64 }
			}
			json.Unmarshal(info.Summary, &sum)
			if measured["value"].(float64) != sum.Metrics["lost"].Value {
				t.Fatalf("measured %v, the run's summary says %v lost", measured["value"], sum.Metrics["lost"].Value)
			}
			break
		}
	}
	// The room's runs: the presenter's socket lists it done, with its verdict.
	for {
		m := readType(t, ctx, watch, "runs")
		runs := m["runs"].([]any)
		if len(runs) == 1 && runs[0].(map[string]any)["status"] == "done" {
			if runs[0].(map[string]any)["label"] != "Presenter" || runs[0].(map[string]any)["verdict"] == "" {
				t.Fatalf("room run %v", runs[0])
			}
			break
		}
	}
	// An attendee never hears of the runs, and the list is at /runs?room=.
	status, list, _ := a.do("GET", "/api/runs?room="+code, nil)
	if status != 200 || len(list["runs"].([]any)) != 1 || list["runs"].([]any)[0].(map[string]any)["label"] != "Presenter" {
		t.Fatalf("GET /api/runs?room = %d %v", status, list)
	}
}

func TestRoomAttendeeRunsAndLimits(t *testing.T) {
	ts := newTestServerConfig(t, func(cfg *Config) {
		cfg.Rooms.MaxAttendees = 2
		cfg.Rooms.MaxRooms = 2
	}, testLogger(t))
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	presenter.openRoom()
	if status, out, _ := presenter.do("POST", "/api/rooms", map[string]any{}); status != http.StatusTooManyRequests || !strings.Contains(out["error"].(string), "2 open rooms") {
		t.Fatalf("a third room with a limit of 2 = %d %v", status, out)
	}
	a, b, c := newRoomClient(t, ts), newRoomClient(t, ts), newRoomClient(t, ts)
	for _, cl := range []*roomClient{a, b} {
		if status, _, _ := cl.do("POST", "/api/rooms/"+code+"/join", map[string]any{}); status != 200 {
			t.Fatal(status)
		}
	}
	if status, out, _ := c.do("POST", "/api/rooms/"+code+"/join", map[string]any{}); status != http.StatusTooManyRequests || !strings.Contains(out["error"].(string), "2 attendees") {
		t.Fatalf("a third attendee = %d %v", status, out)
	}
	// An attendee who did not join can neither run in the room nor follow it.
	if status, out, _ := c.do("POST", "/api/runs", map[string]any{"scenario": "locks", "room": code}); status != http.StatusForbidden {
		t.Fatalf("a run from outside the room = %d %v", status, out)
	}
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/rooms/" + code + "/events"
	if _, resp, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPClient: c.http}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a stranger followed the room: %v", err)
	}
	// One run at a time per attendee.
	body := map[string]any{"scenario": "threads", "engine": "go", "room": code, "params": map[string]any{"work": "io", "size": 2000, "tasks": 8}}
	status, out, _ := a.do("POST", "/api/runs", body)
	if status != 201 {
		t.Fatalf("attendee's run = %d %v", status, out)
	}
	first := out["id"].(string)
	if status, out, _ := a.do("POST", "/api/runs", body); status != http.StatusConflict || !strings.Contains(out["error"].(string), first) {
		t.Fatalf("a second run while %s runs = %d %v, want 409 naming it", first, status, out)
	}
	if status, _, _ := b.do("POST", "/api/runs", body); status != 201 {
		t.Fatalf("another attendee's run = %d", status)
	}
	runs := roomsRuns(t, a, code)
	if len(runs) != 2 || runs[1]["label"] != "Attendee 1" || runs[0]["label"] != "Attendee 2" {
		t.Fatalf("room runs: %v", runs)
	}
	a.do("DELETE", "/api/runs/"+first, nil)
	if status, out, _ := a.do("POST", "/api/runs", body); status != 201 {
		t.Fatalf("a run after the first was cancelled = %d %v", status, out)
	}
}

func roomsRuns(t *testing.T, c *roomClient, code string) []map[string]any {
	status, out, _ := c.do("GET", "/api/runs?room="+code, nil)
	if status != 200 {
		t.Fatalf("GET /api/runs?room= %d %v", status, out)
	}
	var runs []map[string]any
	for _, r := range out["runs"].([]any) {
		runs = append(runs, r.(map[string]any))
	}
	return runs
}

func TestRoomPageAndQR(t *testing.T) {
	ts := newTestServer(t, nil)
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	resp, err := presenter.http.Get(ts.URL + "/w/" + code)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-role="presenter"`) || !strings.Contains(string(page), `<svg xmlns="http://www.w3.org/2000/svg" class="qr"`) {
		t.Fatalf("presenter's room page lacks the QR code")
	}
	if !strings.Contains(string(page), `id="room-unreachable"`) {
		t.Fatal("a room served on loopback does not say that phones cannot reach it")
	}
	resp, _ = http.Get(ts.URL + "/w/" + strings.ToLower(code))
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/w/"+code || !strings.Contains(string(page), `data-role="attendee"`) || strings.Contains(string(page), `class="qr"`) {
		t.Fatalf("an attendee's page at %s", resp.Request.URL.Path)
	}
	ts.srv.SetRoomURLs([]string{"http://192.0.2.7:8080"})
	_, out, _ := newRoomClient(t, ts).do("POST", "/api/rooms", map[string]any{})
	if out["url"] != "http://192.0.2.7:8080/w/"+out["code"].(string) || out["reachable"] != true {
		t.Fatalf("room link with -lan: %v", out)
	}
}

func TestRoomPeopleCountsOpenSockets(t *testing.T) {
	ts := newTestServer(t, nil)
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch := presenter.follow(ctx, code)
	a := newRoomClient(t, ts)
	a.do("POST", "/api/rooms/"+code+"/join", map[string]any{})
	for range 3 {
		conn := a.follow(ctx, code)
		readType(t, ctx, conn, "view")
		conn.Close(websocket.StatusGoingAway, "page left")
	}
	last := a.follow(ctx, code)
	readType(t, ctx, last, "view")
	for {
		m := readType(t, ctx, watch, "people")
		if m["attendees"].(float64) == 1 && m["connected"].(float64) == 1 {
			break
		}
		t.Logf("people: %v", m)
	}
}

func TestRoomSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first := newTestServerIn(t, dir, nil)
	presenter := newRoomClient(t, first)
	code := presenter.openRoom()
	a := newRoomClient(t, first)
	a.do("POST", "/api/rooms/"+code+"/join", map[string]any{})
	_, out, _ := presenter.do("POST", "/api/rooms/"+code+"/questions", map[string]any{"text": "Which first?", "kind": "choice", "choices": []string{"threads", "processes"}})
	q := out["id"].(string)
	if status, _, _ := a.do("POST", "/api/rooms/"+code+"/questions/"+q+"/answers", map[string]any{"value": 1}); status != 201 {
		t.Fatal(status)
	}
	presenter.do("PUT", "/api/rooms/"+code+"/view", map[string]any{"path": "/s/gil?engine=go", "large": true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if err := first.srv.Close(); err != nil {
		t.Fatal(err)
	}

	second := newTestServerIn(t, dir, nil)
	presenter.base, a.base = second.URL, second.URL
	// The cookies were set for the first server's address: carry them over.
	for _, c := range []*roomClient{presenter, a} {
		u1, _ := http.NewRequest("GET", first.URL, nil)
		u2, _ := http.NewRequest("GET", second.URL, nil)
		c.http.Jar.SetCookies(u2.URL, c.http.Jar.Cookies(u1.URL))
	}
	status, state, _ := a.do("GET", "/api/rooms/"+code, nil)
	if status != 200 || state["role"] != "attendee" || state["answered"].(map[string]any)[q] != float64(1) {
		t.Fatalf("after a restart the attendee sees %d %v", status, state)
	}
	qs := state["questions"].([]any)
	if len(qs) != 1 || qs[0].(map[string]any)["counts"].([]any)[1] != float64(1) {
		t.Fatalf("questions after a restart: %v", qs)
	}
	if v := state["view"].(map[string]any); v["path"] != "/s/gil?engine=go" || v["large"] != true {
		t.Fatalf("view after a restart: %v", v)
	}
	if status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", map[string]any{"path": "/"}); status != 200 {
		t.Fatalf("the presenter's key after a restart: %d %v", status, out)
	}
}
