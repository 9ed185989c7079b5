package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"interleave/scenarios/event"
)

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
	browserTest(t)
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
	browserTest(t)
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
