package server

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/html"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// rawViewer is what one WebSocket client received, event lines unparsed.
type rawViewer struct {
	lines    [][]byte
	statuses []string
	close    websocket.StatusCode
	err      error
}

func (ts *testServer) watchRaw(ctx context.Context, t *testing.T, id string) rawViewer {
	t.Helper()
	return readRaw(ctx, ts.dial(t, ctx, id))
}

func readRaw(ctx context.Context, c *websocket.Conn) rawViewer {
	defer c.CloseNow()
	var v rawViewer
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			v.close, v.err = websocket.CloseStatus(err), err
			return v
		}
		var m struct {
			Type   string            `json:"type"`
			Status string            `json:"status"`
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			v.err = err
			return v
		}
		for _, ev := range m.Events {
			v.lines = append(v.lines, ev)
		}
		if m.Type == "status" {
			v.statuses = append(v.statuses, m.Status)
		}
	}
}

func (v rawViewer) final() string {
	if len(v.statuses) == 0 {
		return ""
	}
	return v.statuses[len(v.statuses)-1]
}

func TestReplayAfterRestartEqualsWhatLiveViewersSaw(t *testing.T) {
	const n = 60_000
	dir := t.TempDir()
	engine := &floodEngine{events: n, printKiB: 4}
	first := newTestServerIn(t, dir, nil, engine)
	id := first.start(t, `{"scenario":"locks","engine":"go"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	live := make(chan rawViewer, 3)
	for range 3 {
		c := first.dial(t, ctx, id)
		go func() { live <- readRaw(ctx, c) }()
	}
	var viewers []rawViewer
	for range 3 {
		v := <-live
		if v.final() != StatusDone || v.close != websocket.StatusNormalClosure {
			t.Fatalf("live viewer: final %q, close %v (%v)", v.final(), v.close, v.err)
		}
		viewers = append(viewers, v)
	}
	if len(viewers[0].lines) < n+2 { // n events, output, the end
		t.Fatalf("live viewer got %d events, want at least %d", len(viewers[0].lines), n+2)
	}
	for i, v := range viewers[1:] {
		sameLines(t, fmt.Sprintf("live viewer %d", i+2), v.lines, viewers[0].lines)
	}
	before := first.info(t, id)

	// Restart: a new server on the same data directory.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := first.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	first.Close()
	if err := first.srv.Close(); err != nil {
		t.Fatal(err)
	}
	second := newTestServerIn(t, dir, nil, engine)
	after := second.info(t, id)
	if after.Status != StatusDone || after.Events != int64(len(viewers[0].lines)) || string(after.Summary) != string(before.Summary) ||
		after.SourceVersion != before.SourceVersion || !after.Created.Equal(before.Created) {
		t.Errorf("after restart GET /api/runs/%s = %+v\nbefore: %+v", id, after, before)
	}
	replay := second.watchRaw(ctx, t, id)
	if replay.final() != StatusDone || replay.close != websocket.StatusNormalClosure {
		t.Fatalf("replay: final %q, close %v (%v)", replay.final(), replay.close, replay.err)
	}
	sameLines(t, "replay after restart", replay.lines, viewers[0].lines)
	// The run page works from the store too.
	resp, err := http.Get(second.URL + "/r/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /r/%s after restart = %d", id, resp.StatusCode)
	}
}

// serverChild is the test binary as a whole server (INTERLEAVE_TEST_ROLE=server):
// it records into $INTERLEAVE_TEST_DATA, runs a flood engine whose runs
// write their events and then wait a minute, prints its URL and serves
// until it is killed.
func serverChild() int {
	cfg := DefaultConfig()
	cfg.DataDir = os.Getenv("INTERLEAVE_TEST_DATA")
	n, _ := strconv.Atoi(os.Getenv("INTERLEAVE_TEST_EVENTS"))
	s, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)), []scenarios.Engine{&floodEngine{events: n, sleep: time.Minute}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("http://%s\n", ln.Addr())
	fmt.Fprintln(os.Stderr, http.Serve(ln, s))
	return 1
}

func TestKillNineMidRunLeavesItInterrupted(t *testing.T) {
	const n = 20_000
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testRoleEnv+"=server", "INTERLEAVE_TEST_DATA="+dir, "INTERLEAVE_TEST_EVENTS="+strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	}()
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	ts := &testServer{Server: &httptest.Server{URL: strings.TrimSpace(url)}}
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)

	// Watch the database itself: once it holds every event the child wrote
	// (it then sleeps for a minute, while the server adds samples of the
	// machine's load), kill the server without warning.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, StoreFile)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var stored int
		db.QueryRow(`SELECT coalesce(sum(events.n), 0) FROM events JOIN runs ON runs.n = events.run WHERE runs.id = ?`, id).Scan(&stored)
		if stored >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %d of the run's %d events", stored, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	childPID := ts.info(t, id).PID
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	db.Close()

	// The run's own child dies with the server (it is the parent-death signal).
	for deadline := time.Now().Add(5 * time.Second); childPID != 0 && alive(childPID); {
		if time.Now().After(deadline) {
			t.Fatalf("the run's child %d outlived the killed server", childPID)
		}
		time.Sleep(5 * time.Millisecond)
	}

	restarted := newTestServerIn(t, dir, nil, &floodEngine{events: 10})
	in := restarted.info(t, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := restarted.watchRaw(ctx, t, id)
	if v.final() != StatusInterrupted || v.close != websocket.StatusNormalClosure {
		t.Fatalf("replay: final %q close %v (%v)", v.final(), v.close, v.err)
	}
	if in.Status != StatusInterrupted || in.Events != int64(len(v.lines)) || in.Finished == nil {
		t.Fatalf("after restart: %+v; want interrupted with the %d events replayed", in, len(v.lines))
	}
	v.lines = withoutLoadSamples(v.lines)
	if len(v.lines) != n+1 {
		t.Fatalf("replay has %d events, want %d and the mark", len(v.lines), n)
	}
	var first, last event.Event
	json.Unmarshal(v.lines[0], &first)
	json.Unmarshal(v.lines[n], &last)
	if first.K != event.KindLane || last.K != event.KindMark || !strings.HasPrefix(last.Label, "interrupted") {
		t.Errorf("first event %s, last %s", v.lines[0], v.lines[n])
	}
	// The interrupted mark sits after the last recorded event.
	var before event.Event
	json.Unmarshal(v.lines[n-1], &before)
	if last.T < before.T {
		t.Errorf("mark at %d before the last event at %d", last.T, before.T)
	}
}

// withoutLoadSamples drops the server's samples of the machine's load
// from a run's lines, leaving the child's events and the server's marks.
func withoutLoadSamples(lines [][]byte) [][]byte {
	var out [][]byte
	for _, line := range lines {
		if !bytes.Contains(line, []byte(`"k":"counter","name":"`+LoadCounter+`"`)) {
			out = append(out, line)
		}
	}
	return out
}

// drainStore waits until every run the server recorded is in the database.
func drainStore(t *testing.T, ts *testServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.srv.store.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// listRuns calls GET /api/runs with query.
func (ts *testServer) listRuns(t *testing.T, query string) (int, runList) {
	t.Helper()
	resp, err := http.Get(ts.URL + "/api/runs?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list runList
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, list
}

func ids(list runList) []string {
	var out []string
	for _, r := range list.Runs {
		out = append(out, r.ID)
	}
	return out
}

func (ts *testServer) runToEnd(t *testing.T, body string) string {
	t.Helper()
	id := ts.start(t, body)
	waitStatus(t, ts, id, StatusDone)
	drainStore(t, ts)
	return id
}

func (ts *testServer) pin(t *testing.T, method, id string) (int, Info) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+"/api/runs/"+id+"/pin", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in Info
	json.NewDecoder(resp.Body).Decode(&in)
	return resp.StatusCode, in
}

func TestRetentionEvictsOldestUnpinned(t *testing.T) {
	skipUnderRace(t)
	ts := newTestServer(t, func(l *Limits) { l.KeepRuns = 3 }, &floodEngine{events: 50})
	const body = `{"scenario":"locks","engine":"go"}`
	r1 := ts.runToEnd(t, body)
	if code, in := ts.pin(t, http.MethodPost, r1); code != http.StatusOK || !in.Pinned {
		t.Fatalf("pin = %d %+v", code, in)
	}
	r2 := ts.runToEnd(t, body)
	r3 := ts.runToEnd(t, body)
	r4 := ts.runToEnd(t, body)
	r5 := ts.runToEnd(t, body)
	_, list := ts.listRuns(t, "")
	if got, want := strings.Join(ids(list), " "), strings.Join([]string{r5, r4, r1}, " "); got != want {
		t.Fatalf("kept %s, want the newest two and the pinned one: %s (r2 %s, r3 %s)", got, want, r2, r3)
	}
	for _, gone := range []string{r2, r3} {
		resp, _ := http.Get(ts.URL + "/api/runs/" + gone)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("evicted run %s answers %d, want 404", gone, resp.StatusCode)
		}
	}
	// Unpinned, the oldest goes next.
	if code, in := ts.pin(t, http.MethodDelete, r1); code != http.StatusOK || in.Pinned {
		t.Fatalf("unpin = %d %+v", code, in)
	}
	r6 := ts.runToEnd(t, body)
	_, list = ts.listRuns(t, "")
	if got, want := strings.Join(ids(list), " "), strings.Join([]string{r6, r5, r4}, " "); got != want {
		t.Errorf("kept %s, want %s", got, want)
	}
	var events int64
	ts.srv.store.DB().QueryRow(`SELECT coalesce(sum(n), 0) FROM events`).Scan(&events)
	// 50 events and the end each, and the server's samples of the
	// machine's load (a few a second, more on a slow machine).
	var kept int64
	for _, id := range []string{r6, r5, r4} {
		kept += ts.info(t, id).Events
	}
	if events != kept || kept < 3*51 {
		t.Errorf("the events table holds %d rows, want the 3 kept runs' %d (at least %d)", events, kept, 3*51)
	}
	if code, _ := ts.pin(t, http.MethodPost, "nosuchrun"); code != http.StatusNotFound {
		t.Errorf("pin of an unknown run = %d, want 404", code)
	}
}

func TestRetentionByBytes(t *testing.T) {
	skipUnderRace(t)
	ts := newTestServer(t, nil, &floodEngine{events: 2000})
	const body = `{"scenario":"locks","engine":"go"}`
	all := []string{ts.runToEnd(t, body)}
	// Room for two and a half runs like the first, on disk.
	size := ts.info(t, all[0]).StoredBytes
	keep := size * 5 / 2
	if err := ts.srv.store.SetKeepBytes(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		all = append(all, ts.runToEnd(t, body))
	}
	_, list := ts.listRuns(t, "")
	var stored int64
	for _, r := range list.Runs {
		stored += r.StoredBytes
	}
	if len(list.Runs) != 2 || list.Runs[0].ID != all[3] || list.Runs[1].ID != all[2] || stored > keep {
		t.Errorf("kept %v (%d bytes on disk), want the newest two of %v within %d bytes (a run is %d)", ids(list), stored, all, keep, size)
	}
}

func TestListRunsPaginatesAndFilters(t *testing.T) {
	skipUnderRace(t)
	ts := newTestServer(t, nil, &floodEngine{events: 20})
	var want []string
	for range 5 {
		want = append([]string{ts.runToEnd(t, `{"scenario":"locks","engine":"go"}`)}, want...)
	}
	other := ts.runToEnd(t, `{"scenario":"mental-model","engine":"go"}`)

	code, page1 := ts.listRuns(t, "scenario=locks&limit=2")
	if code != http.StatusOK || strings.Join(ids(page1), " ") != strings.Join(want[:2], " ") || page1.Next != want[1] {
		t.Fatalf("page 1 = %d %v next %q, want %v next %q", code, ids(page1), page1.Next, want[:2], want[1])
	}
	_, page2 := ts.listRuns(t, "scenario=locks&limit=2&before="+page1.Next)
	_, page3 := ts.listRuns(t, "scenario=locks&limit=2&before="+page2.Next)
	if got := strings.Join(append(append(ids(page1), ids(page2)...), ids(page3)...), " "); got != strings.Join(want, " ") || page3.Next != "" {
		t.Errorf("pages %s (last next %q), want %v", got, page3.Next, want)
	}
	_, all := ts.listRuns(t, "engine=go")
	if len(all.Runs) != 6 || all.Runs[0].ID != other {
		t.Errorf("engine=go lists %v, want all six, newest first", ids(all))
	}
	_, none := ts.listRuns(t, "engine=python")
	if len(none.Runs) != 0 || none.Runs == nil {
		t.Errorf("engine=python lists %v, want an empty list", none.Runs)
	}
	e := all.Runs[1]
	if e.Status != StatusDone || e.Events != 21 || e.Bytes == 0 || e.Finished == nil || e.SourceVersion == "" || e.Params == nil || string(e.Summary) == "null" {
		t.Errorf("list entry %+v", e)
	}
	for _, bad := range []string{"limit=0", "limit=1000", "limit=x", "before=nosuchrun"} {
		if code, _ := ts.listRuns(t, bad); code != http.StatusBadRequest {
			t.Errorf("GET /api/runs?%s = %d, want 400", bad, code)
		}
	}
}

func TestRunsPageListsRecordedRuns(t *testing.T) {
	skipUnderRace(t)
	ts := newTestServer(t, nil, &floodEngine{events: 20})
	var want []string
	for range 3 {
		want = append([]string{ts.runToEnd(t, `{"scenario":"locks","engine":"go"}`)}, want...)
	}
	resp, err := http.Get(ts.URL + "/runs?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /runs = %d", resp.StatusCode)
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	next := ""
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if n.Data == "tr" && a.Key == "data-run" {
					rows = append(rows, a.Val)
				}
				if n.Data == "a" && a.Key == "rel" && a.Val == "next" {
					for _, b := range n.Attr {
						if b.Key == "href" {
							next = b.Val
						}
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if strings.Join(rows, " ") != strings.Join(want[:2], " ") {
		t.Errorf("rows %v, want %v", rows, want[:2])
	}
	if !strings.Contains(next, "before="+want[1]) || !strings.Contains(next, "limit=2") {
		t.Errorf("next page link %q, want before=%s and the limit kept", next, want[1])
	}
}

// BenchmarkStoreWrite measures how fast a run's events reach SQLite while
// they stream to a viewer: a real child floods 1,000,000 events; the clock
// stops when the last one is committed.
// go test ./server -run '^$' -bench StoreWrite -benchtime 3x
func BenchmarkStoreWrite(b *testing.B) {
	const n = 1_000_000
	ts := newBenchServer(b, &floodEngine{events: n})
	var total, viewer time.Duration
	for b.Loop() {
		start := time.Now()
		id := benchStart(b, ts, `{"scenario":"locks","engine":"go"}`)
		if got := benchWatch(b, ts, id); got < n+1 || got > n+1+100 {
			b.Fatalf("viewer got %d events, want the child's %d and a few load samples", got, n+1)
		}
		viewer += time.Since(start)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := ts.srv.store.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total += time.Since(start)
	}
	b.ReportMetric(float64(n+1)*float64(b.N)/total.Seconds(), "stored-events/s")
	b.ReportMetric(float64(n+1)*float64(b.N)/viewer.Seconds(), "viewer-events/s")
	reportDBSize(b, ts.srv.store, float64(b.N)*(n+1))
}

// reportDBSize reports the database's size per 1,000,000 events.
func reportDBSize(b *testing.B, st *Store, events float64) {
	if _, err := st.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var pages, size int64
	st.DB().QueryRow(`PRAGMA page_count`).Scan(&pages)
	st.DB().QueryRow(`PRAGMA page_size`).Scan(&size)
	b.ReportMetric(float64(pages*size)/events*1e6/(1<<20), "MiB/1M-events")
}

// storedBenchRun records a finished run of n synthetic events straight into
// the server's store and returns its id.
func storedBenchRun(b *testing.B, srv *Server, n int) string {
	b.Helper()
	lines := stateLines(n - 1)
	lines = append(lines, event.Marshal(&event.Event{T: int64(n) * 137, K: event.KindEnd, Summary: &event.Summary{Metrics: map[string]event.Metric{}, Verdict: "bench"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := srv.store.RecordLines(ctx, "locks", "go", lines, StatusDone)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := srv.runs.Live(id); ok {
		b.Fatal("the run is still in memory after it was stored")
	}
	return id
}

// BenchmarkReplayStart measures, for a recorded 1,000,000-event run, the
// time from dialling its event socket to the first events message, and the
// time to receive the whole replay.
// go test ./server -run '^$' -bench ReplayStart -benchtime 20x
func BenchmarkReplayStart(b *testing.B) {
	const n = 1_000_000
	ts := newBenchServer(b, &floodEngine{events: 1})
	id := storedBenchRun(b, ts.srv, n)
	reportDBSize(b, ts.srv.store, n)
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/runs/" + id + "/events"
	var first []time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(64 << 20)
		_, msg, err := c.Read(ctx)
		if err != nil || !bytes.HasPrefix(msg, []byte(`{"type":"events"`)) {
			b.Fatalf("first message %.60q: %v", msg, err)
		}
		first = append(first, time.Since(start))
		c.CloseNow()
		cancel()
	}
	b.ReportMetric(float64(median(first).Microseconds())/1000, "ms-to-first-events")

	// The whole replay, once, for scale.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	got := 0
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			break
		}
		got += bytes.Count(msg, []byte(`{"t":`))
	}
	if got != n {
		b.Fatalf("replay sent %d events, want %d", got, n)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s-full-replay")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
