package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// request sends one request to the test server and returns its status,
// headers and body. A "Host" entry in header replaces the request's Host.
func (ts *testServer) request(t *testing.T, method, path string, header http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// apiError decodes the {"error"} of a JSON answer, failing the test when
// the answer is not JSON.
func apiError(t *testing.T, h http.Header, body []byte) string {
	t.Helper()
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %.200q", ct, body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("body %.200q is not {\"error\": ...}: %v", body, err)
	}
	return e.Error
}

// longRun is a run that waits (it uses no CPU) until it is cancelled.
const longRun = `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":1000}}`

// TestCrossSiteWritesRefused is a page on another site trying every write
// the API has: none of them gets through, and the run it aimed at is
// untouched. The same requests from the page itself, or from a program
// (no Origin), still work.
func TestCrossSiteWritesRefused(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, longRun)
	defer func() {
		ts.srv.runs.Cancel(id)
		waitStatus(t, ts, id, StatusCancelled)
	}()
	evil := func(contentType string) http.Header {
		h := http.Header{"Origin": {"http://evil.example"}}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		return h
	}
	browser := func(contentType string) http.Header {
		h := evil(contentType)
		h.Set("Sec-Fetch-Site", "cross-site")
		return h
	}
	for _, tt := range []struct {
		name         string
		method, path string
		header       http.Header
		body         string
	}{
		{"start a run with a text/plain form", "POST", "/api/runs", evil("text/plain"), `{"scenario":"locks","engine":"go"}`},
		{"start a run as JSON from a browser", "POST", "/api/runs", browser("application/json"), `{"scenario":"locks","engine":"go"}`},
		{"pin a run", "POST", "/api/runs/" + id + "/pin", evil(""), ""},
		{"unpin a run", "DELETE", "/api/runs/" + id + "/pin", browser(""), ""},
		{"cancel a run", "DELETE", "/api/runs/" + id, evil(""), ""},
		{"start a comparison", "POST", "/api/compare", evil("text/plain"), `{"workload":"cpu","engine":"go","size":"small"}`},
		{"start a comparison with a GET", "GET", "/api/compare?workload=cpu&engine=go&size=small", browser(""), ""},
		{"upload a trace", "POST", "/api/imports", browser("multipart/form-data; boundary=x"), "--x--\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := ts.request(t, tt.method, tt.path, tt.header, tt.body)
			if code != http.StatusForbidden {
				t.Fatalf("%s %s from http://evil.example = %d %.200q, want 403", tt.method, tt.path, code, body)
			}
			if msg := apiError(t, h, body); !strings.Contains(msg, "evil.example") || !strings.Contains(msg, "cross-origin") {
				t.Errorf("error %q does not say which origin was refused", msg)
			}
		})
	}
	if info := ts.info(t, id); info.Status != StatusRunning || info.Pinned {
		t.Errorf("after the hostile requests the run is %s pinned=%v, want running and not pinned", info.Status, info.Pinned)
	}
	code, _, body := ts.request(t, "GET", "/api/runs", nil, "")
	var list runList
	if err := json.Unmarshal(body, &list); code != 200 || err != nil {
		t.Fatalf("GET /api/runs = %d %v", code, err)
	}
	if len(list.Runs) != 1 {
		t.Errorf("%d runs recorded, want only the test's own: a hostile request started one", len(list.Runs))
	}

	// The page itself (same origin, as a browser says it) may pin.
	same := http.Header{"Origin": {ts.URL}, "Sec-Fetch-Site": {"same-origin"}}
	if code, _, body := ts.request(t, "POST", "/api/runs/"+id+"/pin", same, ""); code != http.StatusOK {
		t.Errorf("same-origin pin = %d %.200q, want 200", code, body)
	}
}

// TestJSONAPIsWantJSON checks that the JSON endpoints refuse a body that is
// not declared JSON (the form a cross-site page can send without asking).
func TestJSONAPIsWantJSON(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tt := range []struct{ path, contentType, body string }{
		{"/api/runs", "text/plain", `{"scenario":"locks","engine":"go"}`},
		{"/api/runs", "", `{"scenario":"locks","engine":"go"}`},
		{"/api/runs", "application/x-www-form-urlencoded", `scenario=locks`},
		{"/api/compare", "text/plain;charset=UTF-8", `{"workload":"cpu","engine":"go","size":"small"}`},
	} {
		h := http.Header{}
		if tt.contentType != "" {
			h.Set("Content-Type", tt.contentType)
		}
		code, rh, body := ts.request(t, "POST", tt.path, h, tt.body)
		if code != http.StatusUnsupportedMediaType {
			t.Errorf("POST %s as %q = %d %.200q, want 415", tt.path, tt.contentType, code, body)
			continue
		}
		if msg := apiError(t, rh, body); !strings.Contains(msg, "Content-Type") || !strings.Contains(msg, "application/json") {
			t.Errorf("POST %s as %q: error %q does not say what Content-Type it wants", tt.path, tt.contentType, msg)
		}
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	code, _, body := ts.request(t, "POST", "/api/runs", h, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
	if code != http.StatusCreated {
		t.Fatalf("POST /api/runs as JSON with a charset = %d %.200q, want 201", code, body)
	}
	var created createRunResponse
	json.Unmarshal(body, &created)
	waitStatus(t, ts, created.ID, StatusDone)
}

// TestForeignHostRefused is DNS rebinding: a name the attacker controls
// pointing at this machine. Requests that name it are refused, the event
// socket included; loopback names, IP literals and the names given with
// AllowedHosts are served.
func TestForeignHostRefused(t *testing.T) {
	ts := newTestServerConfig(t, func(c *Config) { c.AllowedHosts = []string{"class.example"} }, testLogger(t))
	id := ts.start(t, longRun)
	defer func() {
		ts.srv.runs.Cancel(id)
		waitStatus(t, ts, id, StatusCancelled)
	}()
	for _, host := range []string{"rebind.example", "rebind.example:" + strings.Split(ts.URL, ":")[2], "evil.class.example", "class.example.evil", "localhost.evil"} {
		t.Run(host, func(t *testing.T) {
			h := http.Header{"Host": {host}, "Origin": {"http://" + host}}
			code, rh, body := ts.request(t, "GET", "/api/runs/"+id, h, "")
			if code != http.StatusMisdirectedRequest {
				t.Fatalf("GET /api/runs/{id} with Host %s = %d, want 421", host, code)
			}
			if msg := apiError(t, rh, body); !strings.Contains(msg, strings.Split(host, ":")[0]) || !strings.Contains(msg, "-allowed-hosts") {
				t.Errorf("error %q does not name the host and how to allow it", msg)
			}
			if code, _, body := ts.request(t, "GET", "/", h, ""); code != http.StatusMisdirectedRequest || !strings.Contains(string(body), "-allowed-hosts") {
				t.Errorf("GET / with Host %s = %d, want 421 with a page saying how to allow it", host, code)
			}
			h.Set("Content-Type", "application/json")
			if code, _, _ := ts.request(t, "POST", "/api/runs", h, `{"scenario":"locks"}`); code != http.StatusMisdirectedRequest {
				t.Errorf("POST /api/runs with Host and Origin %s = %d, want 421", host, code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
			c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Host: host, HTTPHeader: http.Header{"Origin": {"http://" + host}}})
			if err == nil {
				c.CloseNow()
				t.Fatalf("event socket with Host and Origin %s was accepted", host)
			}
			if resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("event socket with Host %s: %v, want 421", host, err)
			}
		})
	}
	port := strings.Split(ts.URL, ":")[2]
	for _, host := range []string{"localhost", "localhost:" + port, "LocalHost.", "app.localhost:" + port, "127.0.0.1", "[::1]:" + port, "192.0.2.7", "[fd00::2]", "class.example:" + port, "CLASS.example"} {
		if code, _, body := ts.request(t, "GET", "/healthz", http.Header{"Host": {host}}, ""); code != http.StatusOK {
			t.Errorf("GET /healthz with Host %s = %d %.100q, want 200", host, code, body)
		}
	}
	// The event socket's Origin must be this server as the page named it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Host: "localhost:" + port, HTTPHeader: http.Header{"Origin": {"http://localhost:" + port}}})
	if err != nil {
		t.Fatalf("event socket from http://localhost:%s refused: %v", port, err)
	}
	c.CloseNow()
	if _, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Host: "localhost:" + port, HTTPHeader: http.Header{"Origin": {"http://rebind.example:" + port}}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("event socket from Origin rebind.example: %v, want 403", err)
	}
}

// TestAPIAnswersJSONForUnknownRoutesAndMethods checks that a client of the
// API always gets {"error"} it can show, with the methods a route allows.
func TestAPIAnswersJSONForUnknownRoutesAndMethods(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tt := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"PUT", "/api/runs", 405, "GET, POST"},
		{"PUT", "/api/compare/abc", 405, "GET, DELETE"},
		{"PATCH", "/api/runs/abc", 405, "GET, DELETE"},
		{"GET", "/api/imports", 405, "POST"},
		{"GET", "/api/nothing-here", 404, ""},
		{"GET", "/api/runs/abc/nothing", 404, ""},
	} {
		code, h, body := ts.request(t, tt.method, tt.path, nil, "")
		if code != tt.code {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, code, tt.code)
			continue
		}
		msg := apiError(t, h, body)
		if tt.code == 405 {
			if got := strings.Join(h.Values("Allow"), ", "); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
			}
			if !strings.Contains(msg, tt.method) || !strings.Contains(msg, tt.allow) {
				t.Errorf("%s %s: error %q does not name the method and the allowed ones (%s)", tt.method, tt.path, msg, tt.allow)
			}
		}
	}
	// Outside /api/ a wrong method gets a page that says the same.
	if code, h, body := ts.request(t, "POST", "/runs", nil, ""); code != 405 || h.Get("Allow") != "GET" || !strings.Contains(string(body), "GET") {
		t.Errorf("POST /runs = %d Allow %q, want 405 with a page naming GET", code, h.Get("Allow"))
	}
}

// TestStaticNeverListsADirectory checks that /static/ serves files only.
func TestStaticNeverListsADirectory(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, p := range []string{"/static/", "/static/test/", "/static/test", "/static//", "/static/./"} {
		code, _, body := ts.request(t, "GET", p, nil, "")
		if code != http.StatusNotFound || strings.Contains(string(body), `href="app.js"`) {
			t.Errorf("GET %s = %d %.200q, want 404 without a listing", p, code, body)
		}
	}
	if code, _, body := ts.request(t, "GET", "/static/app.js", nil, ""); code != http.StatusOK || len(body) == 0 {
		t.Errorf("GET /static/app.js = %d, want the file", code)
	}
}

// TestStoreFilesArePrivate checks that other users of the machine cannot
// read the recorded runs: the data directory is 0700 and every database
// file 0600, also for a database an older version left readable.
func TestStoreFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ts := newTestServerIn(t, dir, nil)
	id := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
	waitStatus(t, ts, id, StatusDone)
	check := func() {
		t.Helper()
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("data directory: %v mode %v, want 0700", err, fi.Mode().Perm())
		}
		files, _ := filepath.Glob(filepath.Join(dir, StoreFile+"*"))
		if len(files) == 0 {
			t.Fatal("no database file in the data directory")
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v mode %v, want 0600", filepath.Base(f), err, fi.Mode().Perm())
			}
		}
	}
	check()

	// A database left 0644 by an older version is made private on start.
	old := t.TempDir()
	st, err := OpenStore(old, 10, 1<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	files, _ := filepath.Glob(filepath.Join(old, StoreFile+"*"))
	for _, f := range files {
		os.Chmod(f, 0o644)
	}
	newTestServerIn(t, old, nil)
	files, _ = filepath.Glob(filepath.Join(old, StoreFile+"*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("old %s: %v mode %v, want 0600 after a restart", filepath.Base(f), err, fi.Mode().Perm())
		}
	}
}
