package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/scenarios/event"
)

// goTrace records a real, small execution trace of this process: goroutines
// contending for a mutex, sleeping and passing a value over a channel.
func goTrace(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatalf("runtime/trace: %v", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan int, 1)
	for i := range 4 {
		wg.Go(func() {
			trace.Log(context.Background(), "worker", "started")
			for range 40 {
				mu.Lock()
				x := 0
				for j := range 20000 {
					x += j
				}
				_ = x
				mu.Unlock()
			}
			time.Sleep(time.Millisecond)
			if i == 0 {
				ch <- 1
			}
		})
	}
	<-ch
	wg.Wait()
	trace.Stop()
	return buf.Bytes()
}

// upload posts body to /api/imports with contentType.
func (ts *testServer) upload(t *testing.T, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(ts.URL+"/api/imports", contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%d answer is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func multipartBody(t *testing.T, field, name string, data []byte) (string, *bytes.Buffer) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("note", "a field before the file")
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), &body
}

func TestImportGoTraceBecomesARun(t *testing.T) {
	ts := newTestServer(t, nil)
	data := goTrace(t)
	ctype, body := multipartBody(t, "trace", "my.trace", data)
	code, out := ts.upload(t, ctype, body)
	if code != http.StatusCreated {
		t.Fatalf("upload = %d %v", code, out)
	}
	id, _ := out["id"].(string)
	if out["url"] != "/r/"+id || out["status"] != StatusDone || out["procs"].(float64) < 1 {
		t.Errorf("answer %v", out)
	}
	in := ts.info(t, id)
	if in.Scenario != ImportScenario || in.Engine != ImportEngine || in.Status != StatusDone || in.Params["file"] != "my.trace" ||
		int(in.Params.Int("bytes")) != len(data) || !strings.HasPrefix(in.SourceVersion, "upload:") || string(in.Summary) == "null" {
		t.Errorf("GET /api/runs/%s = %+v", id, in)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := readAll(ctx, ts.dial(t, ctx, id))
	if v.final() != StatusDone || v.close != websocket.StatusNormalClosure {
		t.Fatalf("replay: final %q close %v", v.final(), v.close)
	}
	kinds := map[string]int{}
	states := map[string]int{}
	for _, ev := range v.events {
		switch ev.K {
		case event.KindLane:
			if ev.Group != "sched" {
				t.Errorf("lane %s group %q, want sched", ev.ID, ev.Group)
			}
			kinds[ev.Kind]++
		case event.KindState:
			states[ev.S]++
		}
	}
	if kinds[event.LaneCPU] < 1 || kinds[event.LaneGoroutine] < 5 {
		t.Errorf("lanes %v: want Ps and the goroutines", kinds)
	}
	if states[event.Running] == 0 || states[event.Runnable] == 0 || states[event.Idle] == 0 {
		t.Errorf("states %v", states)
	}

	// Its page and its Perfetto export work like any run's.
	resp, err := http.Get(ts.URL + "/r/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("Imported Go trace")) {
		t.Errorf("GET /r/%s = %d", id, resp.StatusCode)
	}
	check := checkChromeTrace(t, getTrace(t, ts, id))
	if !check.procs["Go scheduler (runtime/trace)"] || len(check.tracks) < 5 {
		t.Errorf("export of the import: %d tracks, processes %v", len(check.tracks), check.procs)
	}

	// And it is listed, under its own scenario and engine.
	drainStore(t, ts)
	_, list := ts.listRuns(t, "scenario=import&engine=go-trace")
	if len(list.Runs) != 1 || list.Runs[0].ID != id {
		t.Errorf("list of imports %v, want %s", ids(list), id)
	}
}

func TestImportRawBody(t *testing.T) {
	ts := newTestServer(t, nil)
	code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(goTrace(t)))
	if code != http.StatusCreated {
		t.Fatalf("raw upload = %d %v", code, out)
	}
}

func TestImportRejectsBadFiles(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxImportBytes = 1 << 20 })
	data := goTrace(t)
	ctype, noFile := func() (string, *bytes.Buffer) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("trace", "not a file")
		mw.Close()
		return mw.FormDataContentType(), &body
	}()
	tests := []struct {
		name, ctype string
		body        []byte
		code        int
		mention     string
	}{
		{"empty", "application/octet-stream", nil, 400, "not a Go execution trace"},
		{"garbage", "application/octet-stream", []byte("GIF89a this is a picture, not a trace"), 400, "not a Go execution trace"},
		{"text", "text/plain", []byte(strings.Repeat("hello\n", 1000)), 400, "not a Go execution trace"},
		{"truncated", "application/octet-stream", data[:len(data)/2], 400, "truncated"},
		{"cut near the end", "application/octet-stream", data[:len(data)-5], 400, "truncated"},
		{"no file in the form", ctype, noFile.Bytes(), 400, "trace"},
		{"too large", "application/octet-stream", bytes.Repeat(data, (2<<20)/len(data)+1), 413, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := ts.upload(t, tt.ctype, bytes.NewReader(tt.body))
			if code != tt.code {
				t.Fatalf("status %d %v, want %d", code, out, tt.code)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q does not mention %q", msg, tt.mention)
			}
		})
	}
	// None of them became a run.
	drainStore(t, ts)
	if _, list := ts.listRuns(t, ""); len(list.Runs) != 0 {
		t.Errorf("rejected uploads left runs %v", ids(list))
	}
	// The server still works.
	code, out := ts.upload(t, "application/octet-stream", bytes.NewReader(data))
	if code != http.StatusCreated {
		t.Errorf("good upload after bad ones = %d %v", code, out)
	}
}
