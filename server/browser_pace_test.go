package server

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// countRenders wraps the page's timeline so that every frame it draws is
// recorded with the run's status at that moment.
const countRenders = `(function () {
	const tl = window.interleave.timeline;
	const draw = tl.render.bind(tl);
	window.renders = [];
	tl.render = (...args) => {
		const m = window.interleave.model;
		window.renders.push({ at: performance.now(), live: m.status === 'running' && !m.finished });
		return draw(...args);
	};
	return true;
})()`

type renderLog struct {
	Live    int     `json:"live"`
	After   int     `json:"after"`
	LiveFor float64 `json:"liveFor"`
}

// liveRenders counts the frames drawn while the run executed and after.
const liveRenders = `(function () {
	const live = window.renders.filter((r) => r.live);
	const span = live.length > 1 ? live[live.length - 1].at - live[0].at : 0;
	return { live: live.length, after: window.renders.length - live.length, liveFor: span };
})()`

func TestBrowserLivePageDrawsAFewTimesASecond(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil, &floodEngine{events: 2000, sleep: 2 * time.Second})
	ctx := startBrowser(t, true, softwareCanvas...)
	var got renderLog
	var cpu0, cpu1, took time.Duration
	var wall time.Time
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go"),
		waitJS(`window.interleave && window.interleave.timeline`),
		waitJS(countRenders),
		asAUserSeesIt(),
		waitBrowserQuiet(ctx),
		chromedp.Func(func(context.Context, *chromedp.Target) error { cpu0, wall = browserCPU(ctx), time.Now(); return nil }),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave.model.finished`),
		chromedp.Func(func(context.Context, *chromedp.Target) error {
			cpu1, took = browserCPU(ctx), time.Since(wall)
			return nil
		}),
		waitJS(`window.interleave.status === "done" && window.interleave.eventCount() > 2000`),
		evalInto(liveRenders, &got),
	)
	if err != nil {
		t.Fatal(err)
	}
	perSecond := float64(got.Live) / (got.LiveFor / 1000)
	t.Logf("%d frames over %.0f ms while the run executed (%.1f a second), %d after", got.Live, got.LiveFor, perSecond, got.After)
	t.Logf("the browser used %v of CPU while the %v run executed: %.3f cores", cpu1-cpu0, took.Round(time.Millisecond), (cpu1-cpu0).Seconds()/took.Seconds())
	if got.Live < 2 {
		t.Errorf("%d frames drawn during a 2 s run: the live page must still show it progress", got.Live)
	}
	if perSecond > 3 {
		t.Errorf("the page drew %.1f frames a second while the run executed, want a few (at most 3)", perSecond)
	}
	if got.After == 0 {
		t.Errorf("no frame drawn once the run ended: the page must catch up")
	}
}

// hidePage makes the page behave as a hidden tab does: document.hidden is
// true and animation frames wait until the page is shown (showPage runs
// them, as the browser does).
const hidePage = `(function () {
	Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
	window.heldFrames = [];
	window.realRAF = window.requestAnimationFrame;
	window.requestAnimationFrame = (fn) => window.heldFrames.push(fn);
	window.cancelAnimationFrame = (id) => { if (id > 0) window.heldFrames[id - 1] = null; };
	return true;
})()`

const showPage = `(function () {
	Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
	window.requestAnimationFrame = window.realRAF;
	for (const fn of window.heldFrames) if (fn) window.requestAnimationFrame(fn);
	document.dispatchEvent(new Event('visibilitychange'));
	return true;
})()`

func TestBrowserHiddenPageDoesNotDrawUntilShown(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil, &floodEngine{events: 2000, sleep: 1 * time.Second})
	ctx := newBrowser(t)
	var whileHidden, afterShown int
	var events int
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go"),
		waitJS(`window.interleave && window.interleave.timeline`),
		waitJS(countRenders),
		waitJS(hidePage),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave.status === "done"`),
		evalInto(`window.renders.length`, &whileHidden),
		evalInto(`window.interleave.eventCount()`, &events),
		waitJS(showPage),
		waitJS(`window.renders.length > 0`),
		evalInto(`window.renders.length`, &afterShown),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d frames while hidden (%d events taken in), %d once shown", whileHidden, events, afterShown)
	if whileHidden != 0 {
		t.Errorf("a hidden page drew %d frames", whileHidden)
	}
	if events < 2000 {
		t.Errorf("the hidden page took in %d events, want the whole run ready to show", events)
	}
}

func TestBrowserBusyMachineSaysSoAndRunsAgain(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil, &floodEngine{events: 10, sleep: 800 * time.Millisecond})
	ctx := newBrowser(t)
	startSpinner(t)
	var first, second, caveat string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go&workers=3&increments=500"),
		chromedp.WaitVisible(chromedp.ID("run")),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave.status === "done" && !document.getElementById("caveat").hidden`),
		evalInto(`window.interleave.runId`, &first),
		textInto(chromedp.ID("caveat-text"), &caveat),
		chromedp.Click(chromedp.ID("run-again-now")),
		waitJS(`window.interleave.runId !== `+jsString(first)+` && window.interleave.status === "done"`),
		evalInto(`window.interleave.runId`, &second),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("caveat: %s", caveat)
	if !strings.HasPrefix(caveat, "Disturbed: other programs on this machine used ") {
		t.Errorf("caveat %q, want it to say how busy the machine was", caveat)
	}
	a, b := ts.info(t, first), ts.info(t, second)
	if a.Scenario != b.Scenario || a.Engine != b.Engine || !reflect.DeepEqual(a.Params, b.Params) {
		t.Errorf("run again started %s %s %v, want %s %s %v", b.Scenario, b.Engine, b.Params, a.Scenario, a.Engine, a.Params)
	}

	// The run page's button opens the new run's page.
	var path string
	err = chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/r/"+second),
		waitJS(`window.interleave && window.interleave.status === "done" && !document.getElementById("caveat").hidden`),
		chromedp.Click(chromedp.ID("run-again-now")),
		waitJSAcrossNavigation(`location.pathname !== "/r/`+second+`" && window.interleave && window.interleave.status === "done"`),
		evalInto(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	third := strings.TrimPrefix(path, "/r/")
	if c := ts.info(t, third); c.Scenario != a.Scenario || !reflect.DeepEqual(c.Params, a.Params) {
		t.Errorf("the run page's Run again started %+v", c)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserInterruptedRunReplaysAsFinished opens a run the server did
// not see finish (stopped mid-run, found so at the next start): its page
// must treat it as over, with the replay bar and its spans closed at the
// last event, not as a live run waiting for more.
func TestBrowserInterruptedRunReplaysAsFinished(t *testing.T) {
	browserTest(t)
	dir := t.TempDir()
	st := openTestStore(t, dir, 100, 1<<30)
	lines := stateLines(200)
	id, err := st.RecordLines(context.Background(), "locks", "go", lines, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	ts := newTestServerIn(t, dir, nil)
	ctx := newBrowser(t)
	var status, statusText string
	var openEnd, maxT float64
	err = chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/r/"+id),
		waitJS(`window.interleave && window.interleave.replay && window.interleave.replay.ready && !document.getElementById("replay").hidden`),
		evalInto(`window.interleave.status`, &status),
		textInto(chromedp.ID("status"), &statusText),
		evalInto(`window.interleave.model.openEnd`, &openEnd),
		evalInto(`window.interleave.model.maxT`, &maxT),
	)
	if err != nil {
		t.Fatal(err)
	}
	if status != StatusInterrupted || statusText != "interrupted (the server stopped)" {
		t.Errorf("status %q shown as %q, want interrupted", status, statusText)
	}
	if openEnd != maxT {
		t.Errorf("the last spans end at %v, want at the last event (%v): an interrupted run does not grow", openEnd, maxT)
	}
}
