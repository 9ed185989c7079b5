package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/event"
)

// requireBrowserEnv, when set (CI sets it), turns a missing Chromium into a
// failure instead of a skip.
const requireBrowserEnv = "INTERLEAVE_REQUIRE_BROWSER"

// newBrowser starts a real headless Chromium (with any extra options) and
// returns its context. A browser loads the machine, so the test holds the
// machine-wide lock as a heavy test: no timing claim measures while it runs.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return startBrowser(t, true, extra...)
}

// softwareCanvas makes Chromium draw 2D canvases in software, as its CPU
// would next to a real GPU, instead of through SwiftShader, the CPU
// emulation of a GPU that headless Chromium on a machine without one uses
// (several times costlier): for tests that measure what the page costs
// the machine.
var softwareCanvas = []chromedp.ExecAllocatorOption{
	chromedp.Flag("disable-accelerated-2d-canvas", true),
	chromedp.Flag("disable-gpu-rasterization", true),
}

// startBrowser starts Chromium; heavy says whether to take the machine-wide
// lock as a heavy test (a test that already holds a timing claim, because
// the browser is part of what it measures, must not).
func startBrowser(t testing.TB, heavy bool, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return startBrowserFor(t, heavy, 90*time.Second, extra...)
}

// startBrowserFor is startBrowser with the test's time budget in the browser.
func startBrowserFor(t testing.TB, heavy bool, budget time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		// CI runs every browser test in its go test ./... pass; its -short
		// pass, under the race detector, checks the Go side without them.
		t.Skip("a browser test: run without -short")
	}
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatalf("Chromium not found on PATH and %s is set: install it (apt-get install chromium)", requireBrowserEnv)
		}
		t.Skip("Chromium not found on PATH: browser test skipped (apt-get install chromium)")
	}
	if heavy {
		timingclaim.Heavy(t)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, budget)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript expression until it is truthy.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return waitJSFor(expr, 60*time.Second)
}

// waitJSFor is waitJS with its own time budget.
func waitJSFor(expr string, budget time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(budget))(ctx, t)
		if err != nil {
			return fmt.Errorf("waiting %v for %s: %w", budget, expr, err)
		}
		return nil
	})
}

// waitJSAcrossNavigation is waitJS for a condition that a navigation (the
// page moving to another URL) brings about: it asks again, every 50 ms,
// until the new page answers true.
func waitJSAcrossNavigation(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+expr+")")(ctx, t)
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last error: %v)", expr, ctx.Err(), err)
			case <-tick.C:
			}
		}
	})
}

// evalInto evaluates expr and decodes the result into dst.
func evalInto[T any](expr string, dst *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[T](expr)(ctx, t)
		*dst = v
		return err
	})
}

// textInto reads the text of the element matching sel into dst.
func textInto[S chromedp.Selectable](sel S, dst *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Text(sel)(ctx, t)
		*dst = v
		return err
	})
}

// valueInto reads the value of the form control matching sel into dst.
func valueInto[S chromedp.Selectable](sel S, dst *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Value(sel)(ctx, t)
		*dst = v
		return err
	})
}

func TestBrowserRunLocksDrawsTimelineAndSummary(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := newBrowser(t)
	var lanes []struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Spans int    `json:"spans"`
	}
	var verdict, status string
	var lost float64
	// A race is a matter of luck (see TestLocksLoseUpdatesOnlyWithoutLock in
	// goengine): press Run again, up to three times, until updates are lost.
	for attempt := 0; attempt < 3 && lost <= 0; attempt++ {
		err := chromedp.Do(ctx,
			chromedp.Navigate(ts.URL+"/s/locks?engine=go&workers=4&increments=20000&lock=false&yield=true"),
			chromedp.WaitVisible(chromedp.ID("run")),
			chromedp.Click(chromedp.ID("run")),
			waitJS(`window.interleave && window.interleave.status === "done" && window.interleave.summary !== null`),
			evalInto(`window.interleave.lanes()`, &lanes),
			evalInto(`window.interleave.summary.metrics.lost.value`, &lost),
			chromedp.WaitVisible(chromedp.ID("verdict")),
			textInto(chromedp.ID("verdict"), &verdict),
			textInto(chromedp.ID("status"), &status),
		)
		if err != nil {
			t.Fatal(err)
		}
	}
	workers := 0
	for _, l := range lanes {
		if strings.HasPrefix(l.ID, "worker-") && l.Spans > 0 {
			workers++
		}
	}
	if workers != 4 {
		t.Errorf("timeline has %d worker lanes with spans, want 4: %+v", workers, lanes)
	}
	if lost <= 0 {
		t.Errorf("summary shows %v lost updates, want some with lock=false yield=true; verdict %q", lost, verdict)
	}
	if !strings.Contains(verdict, "lost") {
		t.Errorf("verdict %q does not say what was lost", verdict)
	}
	if !strings.Contains(strings.ToLower(status), "done") {
		t.Errorf("status line %q, want done", status)
	}
}

func TestBrowserShareLinkRestoresForm(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := newBrowser(t)
	var workers, lock, increments string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go&workers=7&increments=123&lock=true"),
		chromedp.WaitVisible(chromedp.ID("p-workers")),
		valueInto(chromedp.ID("p-workers"), &workers),
		valueInto(chromedp.ID("p-increments"), &increments),
		valueInto(chromedp.ID("p-lock"), &lock),
	)
	if err != nil {
		t.Fatal(err)
	}
	if workers != "7" || increments != "123" || lock != "true" {
		t.Errorf("form shows workers=%q increments=%q lock=%q, want 7, 123, true", workers, increments, lock)
	}
}

func TestBrowserBadLinkShowsTheMessage(t *testing.T) {
	ts := newTestServer(t, nil)
	resp, err := http.Get(ts.URL + "/s/locks?workers=99")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad link answered %d, want 400", resp.StatusCode)
	}
	ctx := newBrowser(t)
	var msg string
	err = chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?workers=99"),
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)),
		textInto(chromedp.CSS(`[role="alert"]`), &msg),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "workers") || !strings.Contains(msg, "1 to 64") {
		t.Errorf("alert %q does not name the field and the range", msg)
	}
}

// laneCount is one lane of window.interleave.lanes().
type laneCount struct {
	ID    string `json:"id"`
	Spans int    `json:"spans"`
}

// replayed is what a replay at time cut should show, computed from the
// recorded events: per lane, the spans that had begun before cut, and how
// many spans overlap (0, cut).
type replayed struct {
	perLane map[string]int
	overlap int
}

// spansUpTo replays events to time cut the way the page's model does: a
// lane's states in time order, each lasting until the next (the last until
// end), "done" a gap, and nothing from cut on.
func spansUpTo(events []event.Event, cut, end int64) replayed {
	states := map[string][]event.Event{}
	for _, ev := range events {
		if ev.K == event.KindState {
			states[ev.Lane] = append(states[ev.Lane], ev)
		}
	}
	r := replayed{perLane: map[string]int{}}
	busy := func(s string) bool { return s == event.Active || s == event.Running || s == event.Runnable }
	for lane, ss := range states {
		slices.SortStableFunc(ss, func(a, b event.Event) int { return int(a.T - b.T) })
		// Each state event starts a span drawn in the state the drawn-state
		// rule gives (scenarios/invariant): a scheduler state shows only
		// while the program's own state says the lane is busy.
		app, sched := "", ""
		for i, st := range ss {
			if st.Src == event.SrcSched {
				sched = st.S
			} else {
				app = st.S
			}
			drawn := app
			if sched != "" && (app == "" || busy(app)) {
				drawn = sched
			}
			if drawn == event.Done || st.T >= cut {
				continue
			}
			r.perLane[lane]++
			e := end
			if i+1 < len(ss) {
				e = ss[i+1].T
			}
			if min(e, cut) > 0 {
				r.overlap++
			}
		}
	}
	return r
}

// busiestLane is the lane with the most state events.
func busiestLane(events []event.Event) string {
	n := map[string]int{}
	best := ""
	for _, ev := range events {
		if ev.K == event.KindState {
			n[ev.Lane]++
			if n[ev.Lane] > n[best] {
				best = ev.Lane
			}
		}
	}
	return best
}

// runEnd is where the page's replay ends: the latest event of the run.
func runEnd(events []event.Event) int64 {
	var end int64
	for _, ev := range events {
		end = max(end, ev.T)
	}
	return end
}

// recordedRun runs the threads scenario (I/O waits overlapping: a few
// hundred state changes in under a second) to the end and returns its id
// and everything it recorded.
func recordedRun(t *testing.T, ts *testServer) (string, []event.Event) {
	t.Helper()
	id := ts.start(t, `{"scenario":"threads","engine":"go"}`)
	v := ts.watch(t, id)
	if v.final() != StatusDone {
		t.Fatalf("run %s ended %q, want done", id, v.final())
	}
	if v.count(event.KindState) < 20 {
		t.Fatalf("run %s has %d state events: too few to replay", id, v.count(event.KindState))
	}
	return id, v.events
}

// checkReplayAt asserts that the page shows exactly the spans that had
// begun before cut, and none after it.
func checkReplayAt(t *testing.T, ctx context.Context, events []event.Event, cut, end int64) {
	t.Helper()
	var lanes []laneCount
	var overlap, after float64
	err := chromedp.Do(ctx,
		evalInto(`window.interleave.lanes()`, &lanes),
		evalInto(fmt.Sprintf(`window.interleave.spansBetween(0, %d)`, cut), &overlap),
		evalInto(fmt.Sprintf(`window.interleave.spansBetween(%d, %d)`, cut+1, 4*end), &after),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := spansUpTo(events, cut, end)
	got := map[string]int{}
	for _, l := range lanes {
		if l.Spans > 0 {
			got[l.ID] = l.Spans
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want.perLane) {
		t.Errorf("spans per lane at t=%d: page shows %v, the events up to then give %v", cut, got, want.perLane)
	}
	if int(overlap) != want.overlap {
		t.Errorf("spans visible in (0, %d): page shows %v, the events give %d", cut, overlap, want.overlap)
	}
	if after != 0 {
		t.Errorf("the page shows %v spans after the replay position %d, want none", after, cut)
	}
}

func TestBrowserReplayPermalinkOpensAtItsMoment(t *testing.T) {
	ts := newTestServer(t, nil)
	id, events := recordedRun(t, ts)
	end := runEnd(events)
	mid := end / 2
	lane := busiestLane(events)
	ctx := newBrowser(t)
	t0, t1 := end/4, end*3/4 // the window the link zooms to
	var replayT, duration float64
	var scrub, traceHref, search string
	var download bool
	var window struct{ T0, T1 float64 }
	err := chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/r/%s?t=%d&t0=%d&t1=%d&lane=%s", ts.URL, id, mid, t0, t1, url.QueryEscape(lane))),
		waitJS(`window.interleave && window.interleave.replay && window.interleave.replay.ready`),
		chromedp.WaitVisible(chromedp.ID("replay")),
		evalInto(`window.interleave.replay.t`, &replayT),
		evalInto(`window.interleave.replay.duration`, &duration),
		valueInto(chromedp.ID("replay-scrub"), &scrub),
		evalInto(`document.getElementById("trace-link").href`, &traceHref),
		evalInto(`document.getElementById("trace-link").hasAttribute("download")`, &download),
		evalInto(`location.search`, &search),
		evalInto(`(() => { const v = window.interleave.view(); return {T0: v.t0, T1: v.t1}; })()`, &window),
	)
	if err != nil {
		t.Fatal(err)
	}
	if int64(window.T0) != t0 || int64(window.T1) != t1 {
		t.Errorf("the timeline shows [%v, %v], want the link's window [%d, %d]", window.T0, window.T1, t0, t1)
	}
	if int64(replayT) != mid || int64(duration) != end {
		t.Errorf("replay at %v of %v, want %d of %d (from ?t=)", replayT, duration, mid, end)
	}
	if v, _ := strconv.ParseFloat(scrub, 64); int64(v) != mid {
		t.Errorf("the scrubber is at %q, want %d", scrub, mid)
	}
	checkReplayAt(t, ctx, events, mid, end)
	var selected string
	if err := chromedp.Do(ctx, evalInto(`window.interleave.selectedLane`, &selected)); err != nil {
		t.Fatal(err)
	}
	if selected != lane {
		t.Errorf("selected lane %q, want %q from ?lane=", selected, lane)
	}
	if !strings.Contains(search, fmt.Sprintf("t=%d", mid)) || !strings.Contains(search, "lane="+url.QueryEscape(lane)) {
		t.Errorf("the URL lost the moment it points at: %q", search)
	}

	// The download button points at the run's Chrome trace.
	if want := ts.URL + "/api/runs/" + id + "/trace.json"; traceHref != want || !download {
		t.Errorf("trace button href=%q download=%v, want %q with download", traceHref, download, want)
	}
	resp, err := http.Get(traceHref)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var trace struct {
		TraceEvents []json.RawMessage `json:"traceEvents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&trace); err != nil || resp.StatusCode != http.StatusOK || len(trace.TraceEvents) == 0 {
		t.Errorf("GET %s: %d, %d trace events, err %v; want the run's trace", traceHref, resp.StatusCode, len(trace.TraceEvents), err)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q, want an attachment", cd)
	}
}

func TestBrowserReplayScrubToTheMiddle(t *testing.T) {
	ts := newTestServer(t, nil)
	id, events := recordedRun(t, ts)
	end := runEnd(events)
	ctx := newBrowser(t)
	var replayT float64
	var rect struct{ X, Y, W, H float64 }
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/r/"+id),
		waitJS(`window.interleave && window.interleave.replay && window.interleave.replay.ready`),
		chromedp.WaitVisible(chromedp.ID("replay-scrub")),
		evalInto(`window.interleave.replay.t`, &replayT),
	)
	if err != nil {
		t.Fatal(err)
	}
	if int64(replayT) != end {
		t.Fatalf("a run page opens at %v, want the end %d (the whole run)", replayT, end)
	}
	checkReplayAt(t, ctx, events, math.MaxInt64/8, end)

	// Click the middle of the scrubber, as a reader would.
	err = chromedp.Do(ctx, evalInto(`(() => { const r = document.getElementById("replay-scrub").getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, &rect))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.MouseClickXY(rect.X+rect.W/2, rect.Y+rect.H/2),
		waitJS(`window.interleave.replay.t < window.interleave.replay.duration`),
		evalInto(`window.interleave.replay.t`, &replayT),
	)
	if err != nil {
		t.Fatal(err)
	}
	cut := int64(math.Ceil(replayT))
	if math.Abs(replayT-float64(end)/2) > 0.05*float64(end) {
		t.Errorf("the middle of the scrubber is %v, want about %d", replayT, end/2)
	}
	if float64(cut) != replayT {
		// The position is a float; the events are whole ns: compare at the next whole ns
		// only if no event falls in between.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.interleave.replay.seek(%d)`, cut))); err != nil {
			t.Fatal(err)
		}
	}
	checkReplayAt(t, ctx, events, cut, end)

	// The URL follows the position, so the link points at this moment.
	var search string
	err = chromedp.Do(ctx,
		waitJS(fmt.Sprintf(`location.search.includes("t=%d")`, cut)),
		evalInto(`location.search`, &search),
	)
	if err != nil {
		t.Fatalf("the URL does not carry t=%d: %v", cut, err)
	}

	// End shows the whole run again; "," steps back to the last event.
	var cursor any
	var back float64
	err = chromedp.Do(ctx,
		chromedp.KeyEvent(kb.End),
		waitJS(`window.interleave.replay.t === window.interleave.replay.duration`),
		evalInto(`window.interleave.model.cursor`, &cursor),
		chromedp.KeyEvent(","),
		evalInto(`window.interleave.replay.t`, &back),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cursor != nil {
		t.Errorf("after End the cursor is %v, want none (the whole run)", cursor)
	}
	var last int64
	for _, ev := range events {
		if ev.T < end {
			last = max(last, ev.T)
		}
	}
	if int64(back) != last {
		t.Errorf("',' from the end went to %v, want the last event before it, %d", back, last)
	}

	// Space plays from the position to the end of the run, in real time at 1x.
	var playing bool
	start := time.Now()
	err = chromedp.Do(ctx,
		chromedp.KeyEvent(kb.Home),
		chromedp.KeyEvent(" "),
		evalInto(`window.interleave.replay.playing`, &playing),
		waitJS(`!window.interleave.replay.playing && window.interleave.replay.t === window.interleave.replay.duration`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); !playing || took < time.Duration(end)*8/10 {
		t.Errorf("playing (%v) the %v run took %v: want about real time", playing, time.Duration(end), took)
	}
}

func TestBrowserImportShowsTheReasonThenOpensTheRun(t *testing.T) {
	ts := newTestServer(t, nil)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "not-a-trace.out")
	good := filepath.Join(dir, "trace.out")
	if err := os.WriteFile(garbage, []byte("this is not a Go execution trace\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, goTrace(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	var msg string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/runs"),
		chromedp.WaitVisible(chromedp.ID("import-file")),
		chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{garbage}),
		chromedp.Click(chromedp.ID("import-submit")),
		chromedp.WaitVisible(chromedp.ID("import-error")),
		textInto(chromedp.ID("import-error"), &msg),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "trace:") || len(msg) < 20 {
		t.Errorf("import error %q, want the server's reason", msg)
	}
	var path string
	var lanes []laneCount
	err = chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{good}),
		chromedp.Click(chromedp.ID("import-submit")),
		waitJSAcrossNavigation(`location.pathname.startsWith("/r/") && window.interleave && window.interleave.replay && window.interleave.replay.ready`),
		evalInto(`location.pathname`, &path),
		evalInto(`window.interleave.lanes()`, &lanes),
	)
	if err != nil {
		t.Fatal(err)
	}
	spans := 0
	for _, l := range lanes {
		spans += l.Spans
	}
	if len(lanes) < 2 || spans == 0 {
		t.Errorf("the imported run %s shows %d lanes and %d spans, want its goroutines and Ps", path, len(lanes), spans)
	}
}

func TestBrowserCompareSaysWhyItCannotRun(t *testing.T) {
	ts := newTestServer(t, nil) // no python engine on this server
	ctx := newBrowser(t)
	var notice, note string
	var disabled bool
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/compare?workload=cpu&engine=python&size=small&workers=2"),
		waitJS(`window.interleave && window.interleave.compare`),
		textInto(chromedp.ID("engine-errors"), &notice),
		chromedp.WaitVisible(chromedp.ID("compare-engine-note")),
		textInto(chromedp.ID("compare-engine-note"), &note),
		evalInto(`document.getElementById("compare-run").disabled`, &disabled),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "CPython") || !strings.Contains(notice, "not configured") {
		t.Errorf("unavailable engines %q, want CPython and why", notice)
	}
	if !strings.Contains(note, "not configured") || !disabled {
		t.Errorf("engine note %q, Run disabled %v: want the reason and Run disabled", note, disabled)
	}

	// A comparison the server refuses: its message, next to the field it names.
	var msg, field, invalid, path string
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const e = document.getElementById("c-engine");
			e.value = "go";
			e.dispatchEvent(new Event("change"));
			document.getElementById("c-workers").value = "999";
		})()`),
		chromedp.WaitNotVisible(chromedp.ID("compare-engine-note")),
		chromedp.Click(chromedp.ID("compare-run")),
		chromedp.WaitVisible(chromedp.ID("compare-message")),
		textInto(chromedp.ID("compare-message"), &msg),
		evalInto(`(document.getElementById("compare-message").textContent.match(/^(\w+):/) || ["", ""])[1]`, &field),
		evalInto(`document.querySelector("#compare-form [aria-invalid=true]")?.name || ""`, &invalid),
		evalInto(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if field == "" || !strings.Contains(msg, "not") {
		t.Errorf("message %q, want the server's 400 naming the field and what is wrong", msg)
	}
	if invalid != field {
		t.Errorf("field marked invalid: %q, want %q (named by %q)", invalid, field, msg)
	}
	if path != "/compare" {
		t.Errorf("a comparison that did not start moved the page to %s", path)
	}
}

// pythonStandIn answers to the python engine's name with the flood child,
// so that the comparison page can be driven end to end without python3.
type pythonStandIn struct{ floodEngine }

func (*pythonStandIn) Name() string { return scenarios.EnginePython }

func TestBrowserCompareStacksTimelinesOnOneAxis(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	var path string
	var models []string
	var walls []string
	var badgesEarly int
	var badges []string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/compare?workload=cpu&engine=python&size=small&workers=2"),
		waitJS(`window.interleave && window.interleave.compare`),
		chromedp.Click(chromedp.ID("compare-run")),
		// While a model is still to run, no model is starred, even one
		// already measured.
		waitJS(`(() => { const r = window.interleave.compare.result; return r && r.status === "running" && r.models.some((m) => m.status === "done"); })()`),
		evalInto(`document.querySelectorAll("#results .best").length`, &badgesEarly),
		waitJS(`window.interleave.compare.status === "done" && window.interleave.compare.timelines().every((t) => t.status === "done")`),
		evalInto(`[...document.querySelectorAll("#results td[data-col=wall] .best")].map((b) => b.textContent.trim())`, &badges),
		evalInto(`location.pathname`, &path),
		evalInto(`[...document.querySelectorAll("#results tbody tr")].filter((tr) => tr.querySelector(".status").dataset.status === "done" && tr.querySelector("th a")).map((tr) => tr.dataset.model)`, &models),
		evalInto(`[...document.querySelectorAll("#results tbody tr td[data-col=wall]")].map((td) => td.textContent.trim())`, &walls),
	)
	if err != nil {
		t.Fatal(err)
	}
	if badgesEarly != 0 {
		t.Errorf("%d winner badges shown while models were still to run", badgesEarly)
	}
	// Once all ran: one fastest model, or a tie of several, said in words.
	if !(len(badges) == 1 && strings.HasPrefix(badges[0], "★ fastest")) && !(len(badges) >= 2 && strings.HasPrefix(badges[0], "= tie")) {
		t.Errorf("wall-time badges %q, want one ★ fastest or a tie of several", badges)
	}
	want := scenarios.Workloads[0].Models()
	if !slices.Equal(models, want) {
		t.Errorf("results rows done with a run: %v, want every model %v", models, want)
	}
	for i, w := range walls {
		if !strings.Contains(w, "ms") && !strings.Contains(w, "s") {
			t.Errorf("row %d of the results table shows wall time %q, want a measured time", i, w)
		}
	}
	if len(walls) != len(want) {
		t.Errorf("%d wall-time cells, want %d", len(walls), len(want))
	}
	var id string
	if err := chromedp.Do(ctx, evalInto(`window.interleave.compare.id`, &id)); err != nil {
		t.Fatal(err)
	}
	if path != "/compare/"+id || id == "" {
		t.Errorf("the page is at %s, want the comparison's permalink /compare/%s", path, id)
	}

	var before, after []struct {
		Model string  `json:"model"`
		Lanes int     `json:"lanes"`
		T0    float64 `json:"t0"`
		T1    float64 `json:"t1"`
	}
	// Zoom and pan the third timeline with the keyboard: every one follows.
	err = chromedp.Do(ctx,
		evalInto(`window.interleave.compare.timelines()`, &before),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll(".compare-timeline")[2].focus()`),
		chromedp.KeyEvent("+"),
		chromedp.KeyEvent("+"),
		chromedp.KeyEvent(kb.ArrowRight),
		evalInto(`window.interleave.compare.timelines()`, &after),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(want) {
		t.Fatalf("%d timelines, want one per model (%d)", len(after), len(want))
	}
	for _, tl := range after {
		if tl.Lanes == 0 {
			t.Errorf("timeline of %s has no lanes", tl.Model)
		}
		if tl.T0 != after[0].T0 || tl.T1 != after[0].T1 {
			t.Errorf("timeline of %s shows [%v, %v], %s shows [%v, %v]: not one axis", tl.Model, tl.T0, tl.T1, after[0].Model, after[0].T0, after[0].T1)
		}
	}
	if spanBefore, spanAfter := before[0].T1-before[0].T0, after[0].T1-after[0].T0; spanAfter > 0.6*spanBefore || after[0].T0 <= before[0].T0 {
		t.Errorf("zoom and pan on one timeline: window went from [%v, %v] to [%v, %v], want narrower and later", before[0].T0, before[0].T1, after[0].T0, after[0].T1)
	}
}

// TestBrowserEveryScenarioRunsWithDefaults opens every scenario page on the
// go engine, runs it with its defaults, and checks that lanes and a summary
// appear, and that the real-scheduler toggle shows the scheduler's lanes.
func TestBrowserEveryScenarioRunsWithDefaults(t *testing.T) {
	ts := newTestServer(t, nil)
	ctx := newBrowser(t)
	for _, sc := range scenarios.All() {
		if !sc.HasEngine(scenarios.EngineGo) || sc.ID == scenarios.CompareID {
			continue
		}
		t.Run(sc.ID, func(t *testing.T) {
			var appLanes, schedLanes int
			var verdict string
			var pressed, released string
			err := chromedp.Do(ctx,
				chromedp.Navigate(ts.URL+"/s/"+sc.ID+"?engine=go"),
				chromedp.WaitVisible(chromedp.ID("run")),
				chromedp.Click(chromedp.ID("run")),
				waitJS(`window.interleave && ["done", "failed"].includes(window.interleave.status) && window.interleave.summary !== null`),
				evalInto(`window.interleave.lanes().filter(l => l.group !== "sched" && l.spans > 0).length`, &appLanes),
				evalInto(`window.interleave.lanes().filter(l => l.group === "sched").length`, &schedLanes),
				textInto(chromedp.ID("verdict"), &verdict),
				evalInto(`document.getElementById("sched-toggle").getAttribute("aria-pressed")`, &pressed),
				chromedp.Click(chromedp.ID("sched-toggle")),
				evalInto(`document.getElementById("sched-toggle").getAttribute("aria-pressed")`, &released),
			)
			if err != nil {
				t.Fatal(err)
			}
			if appLanes == 0 || verdict == "" {
				t.Errorf("%s: %d lanes with spans, verdict %q", sc.ID, appLanes, verdict)
			}
			wantSched := sc.ID != "locks" // locks records the scheduler only when asked (sched=true)
			// One P lane per core the run may use (mental-model's default,
			// concurrent, has one); the scenario's goroutines are drawn on
			// their own lanes.
			if wantSched && schedLanes < 1 {
				t.Errorf("%s: %d scheduler lanes, want the P lanes at least", sc.ID, schedLanes)
			}
			// The core lanes show by default on the go engine; the toggle hides them.
			if pressed != "true" || released != "false" {
				t.Errorf("%s: the scheduler toggle is %q by default and %q after a click, want on then off", sc.ID, pressed, released)
			}
		})
	}
}

// TestBrowserEveryScenarioRunsOnCPython does the same on the python engine.
func TestBrowserEveryScenarioRunsOnCPython(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	for _, sc := range scenarios.All() {
		if !sc.HasEngine(scenarios.EnginePython) || sc.ID == scenarios.CompareID {
			continue
		}
		t.Run(sc.ID, func(t *testing.T) {
			var lanes int
			var verdict, status string
			err := chromedp.Do(ctx,
				chromedp.Navigate(ts.URL+"/s/"+sc.ID+"?engine=python"),
				chromedp.WaitVisible(chromedp.ID("run")),
				chromedp.Click(chromedp.ID("run")),
				waitJS(`window.interleave && ["done", "failed"].includes(window.interleave.status) && window.interleave.summary !== null`),
				evalInto(`window.interleave.lanes().filter(l => l.spans > 0).length`, &lanes),
				evalInto(`window.interleave.status`, &status),
				textInto(chromedp.ID("verdict"), &verdict),
			)
			if err != nil {
				t.Fatal(err)
			}
			if lanes == 0 || verdict == "" || status != "done" {
				t.Errorf("%s on CPython: status %s, %d lanes with spans, verdict %q", sc.ID, status, lanes, verdict)
			}
		})
	}
}
