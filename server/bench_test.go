package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/scenarios"
	"interleave/scenarios/pyengine"
)

// BenchmarkPipeline measures events per second from a real child process,
// through the server's run log, to one WebSocket viewer that decodes every
// batch: go test ./server -run '^$' -bench Pipeline -benchtime 3x
func BenchmarkPipeline(b *testing.B) {
	const n = 1_000_000
	ts := newBenchServer(b, &floodEngine{events: n})
	var total time.Duration
	cpu0 := processCPU()
	for b.Loop() {
		start := time.Now()
		id := benchStart(b, ts, `{"scenario":"locks","engine":"go"}`)
		got := benchWatch(b, ts, id)
		total += time.Since(start)
		// The server adds its own samples of the machine's load (a few a
		// second) to the child's events.
		if got < n+1 || got > n+1+100 {
			b.Fatalf("viewer got %d events, want the child's %d and a few load samples", got, n+1)
		}
	}
	b.ReportMetric(float64(n+1)*float64(b.N)/total.Seconds(), "events/s")
	// The CPU this process used per event: the server's pipeline (reading
	// fd 3, the run log, the store, the socket) and the one viewer's
	// decoding; less noisy than events/s on a shared machine.
	b.ReportMetric(float64(processCPU()-cpu0)/float64((n+1)*b.N), "cpu-ns/event")
}

// processCPU is this process's CPU time so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFirstEvent measures the time from POST /api/runs to the first
// events message at a WebSocket client, on the go engine:
// go test ./server -run '^$' -bench FirstEvent -benchtime 20x
func BenchmarkFirstEvent(b *testing.B) {
	benchFirstEvent(b, goEngine(), `{"scenario":"locks","engine":"go","params":{"workers":2,"increments":1000}}`)
}

// BenchmarkFirstEventPython is the same on the CPython engine (bar: 250 ms):
// go test ./server -run '^$' -bench FirstEventPython -benchtime 20x
func BenchmarkFirstEventPython(b *testing.B) {
	p, err := pyengine.New("")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Available(); err != nil {
		b.Skip(err)
	}
	benchFirstEvent(b, p, `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":1000}}`)
}

func benchFirstEvent(b *testing.B, engine scenarios.Engine, body string) {
	ts := newBenchServer(b, engine)
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		id := benchStart(b, ts, body)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/runs/"+id+"/events", nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(64 << 20)
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				b.Fatalf("no events: %v", err)
			}
			if strings.HasPrefix(string(msg), `{"type":"events"`) {
				samples = append(samples, time.Since(start))
				break
			}
		}
		c.CloseNow()
		cancel()
		run, _ := ts.srv.runs.Get(id)
		<-run.Done()
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-median-first-event")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "ms-max-first-event")
}

type benchServer struct {
	URL string
	srv *Server
}

func newBenchServer(b *testing.B, engine scenarios.Engine) *benchServer {
	b.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Limits.RunsPerMinute = 1 << 20
	s, err := New(cfg, slog.New(slog.DiscardHandler), []scenarios.Engine{engine})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
		s.Close()
	})
	return &benchServer{URL: hs.URL, srv: s}
}

func benchStart(b *testing.B, ts *benchServer, body string) string {
	resp, err := http.Post(ts.URL+"/api/runs", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out createRunResponse
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("POST = %d", resp.StatusCode)
	}
	return out.ID
}

// benchWatch reads a run's socket to the end and counts its events. A
// browser parses each message with JSON.parse, in native code; Go's
// encoding/json would cost this process more CPU per event than the whole
// server pipeline it measures, on the same two cores. So the viewer counts
// the events with countEvents, a byte scanner that follows strings and
// nesting (TestCountEventsAgreesWithEncodingJSON), and checks with
// encoding/json that the first message is valid JSON.
func benchWatch(b *testing.B, ts *benchServer, id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/runs/"+id+"/events", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	n := 0
	var buf bytes.Buffer // reused: a browser does not allocate per message either
	for first := true; ; first = false {
		_, r, err := c.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				b.Fatalf("socket ended: %v", err)
			}
			return n
		}
		msg := buf.Bytes()
		if first && !json.Valid(msg) {
			b.Fatalf("the first message is not JSON: %.200s", msg)
		}
		n += countEvents(msg)
	}
}

// countEvents counts the elements of an events message's "events" array:
// the objects two levels deep. It follows strings (and their escapes) so
// that a brace in a label is not counted.
func countEvents(msg []byte) int {
	n, depth, inString, escaped := 0, 0, false, false
	for _, c := range msg {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth == 3 && c == '{' {
				n++
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return n
}

// TestCountEventsAgreesWithEncodingJSON: the benchmark viewer's count is
// what encoding/json decodes, braces, brackets and escaped quotes in
// strings included.
func TestCountEventsAgreesWithEncodingJSON(t *testing.T) {
	for _, msg := range []string{
		`{"type":"status","status":"running","position":-1}`,
		`{"type":"events","events":[]}`,
		`{"type":"events","events":[{"t":1,"k":"state","lane":"main","s":"running"}]}`,
		`{"type":"events","events":[{"t":1,"k":"mark","label":"a { brace \"and} [a] quote\\"},{"t":2,"k":"end","summary":{"metrics":{"lost":{"value":1}}},"x":[{"y":1}]},{"t":3}]}`,
	} {
		var m struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal([]byte(msg), &m); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if got := countEvents([]byte(msg)); got != len(m.Events) {
			t.Errorf("countEvents(%s) = %d, encoding/json decodes %d", msg, got, len(m.Events))
		}
	}
}
