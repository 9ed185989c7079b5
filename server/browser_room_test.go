package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
)

// browserContext is a tab in a fresh browser context of browser: its own
// cookies and storage, as another person's browser would have.
func browserContext(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return ctx
}

// do runs actions in ctx or fails the test, naming who.
func do(t *testing.T, who string, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		var state string
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		chromedp.Do(dctx, evalInto(`location.href + "\n" + JSON.stringify(window.interleave && window.interleave.room && {following: window.interleave.room.following, role: window.interleave.room.role, q: window.interleave.room.questions()}) + "\n" + (document.getElementById("room-dock") || {}).outerHTML`, &state))
		t.Fatalf("%s: %v\npage: %s", who, err, state)
	}
}

// screenshot saves a PNG of the page under docs/ when INTERLEAVE_SCREENSHOTS
// names that directory (the committed ones were made so), else in the
// test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("INTERLEAVE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// viewWindow is a timeline's visible window.
type viewWindow struct{ T0, T1 float64 }

func readWindow(t *testing.T, who string, ctx context.Context) viewWindow {
	t.Helper()
	var w viewWindow
	do(t, who, ctx, evalInto(`(() => { const v = window.interleave.view(); return {T0: v.t0, T1: v.t1}; })()`, &w))
	return w
}

// sameWindow reports whether two windows are the same to the nanosecond
// rounding of a view.
func sameWindow(a, b viewWindow) bool {
	return math.Abs(a.T0-b.T0) <= 2 && math.Abs(a.T1-b.T1) <= 2
}

func TestBrowserWorkshopRoom(t *testing.T) {
	browserTest(t)
	timingclaim.Heavy(t)
	engines := []scenarios.Engine{goEngine()}
	_, pyErr := exec.LookPath("python3")
	if pyErr == nil {
		engines = append(engines, pythonEngine(t))
	}
	ts := newTestServer(t, nil, engines...)
	browser := newBrowser(t, chromedp.WindowSize(1920, 1080))
	presenter := browserContext(t, browser)
	a := browserContext(t, browser)
	b := browserContext(t, browser)
	c := browserContext(t, browser)

	// The presenter starts a workshop from the catalog, on a 1920×1080 projector.
	var code string
	do(t, "presenter", presenter,
		chromedp.EmulateViewport(1920, 1080),
		chromedp.Navigate(ts.URL+"/"),
		chromedp.Click(chromedp.ID("start-workshop")),
		waitJSAcrossNavigation(`location.pathname.startsWith("/w/") && window.interleave && window.interleave.room && window.interleave.room.role === "presenter"`),
		evalInto(`window.interleave.room.code`, &code),
		chromedp.WaitVisible(chromedp.CSS(`svg.qr`)),
	)
	roomPage := ts.URL + "/w/" + code
	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"A", a}, {"B", b}} {
		do(t, who.name, who.ctx,
			chromedp.Navigate(roomPage),
			waitJS(`window.interleave.room && window.interleave.room.role === "attendee" && window.interleave.room.following`),
		)
	}
	do(t, "presenter", presenter, waitJS(`window.interleave.room.people.attendees === 2`))
	screenshot(t, presenter, "workshop-room.png")

	// Follow: the presenter opens locks; A and B land on it.
	locks := "/s/locks?engine=go&workers=4&increments=10000&lock=false&yield=true"
	do(t, "presenter", presenter, chromedp.Navigate(ts.URL+locks), waitJS(`window.interleave.room && window.interleave.room.published`))
	for _, f := range []struct {
		name string
		ctx  context.Context
	}{{"A", a}, {"B", b}} {
		do(t, f.name, f.ctx, waitJSAcrossNavigation(`location.pathname === "/s/locks" && new URLSearchParams(location.search).get("increments") === "10000" && window.interleave.room && window.interleave.room.following`))
	}

	// Predict: the built-in question; A and B answer on their devices.
	do(t, "presenter", presenter,
		chromedp.Click(chromedp.ID("room-ask-toggle")),
		chromedp.Click(chromedp.ID("room-ask-builtin")),
		waitJS(`window.interleave.room.questions().length === 1`),
	)
	var text string
	do(t, "A", a,
		waitJS(`document.querySelector("#room-question-card .q-number")`),
		textInto(chromedp.CSS(`#room-question-card .q-text`), &text),
		chromedp.SendKeys(chromedp.CSS(`#room-question-card .q-number`), "12000"+kb.Enter),
		waitJS(`document.querySelector("#room-question-card .q-yours")`),
	)
	if text != "How many of the 40,000 updates will be lost?" {
		t.Errorf("A sees the question %q", text)
	}
	do(t, "B", b,
		waitJS(`document.querySelector("#room-question-card .q-number")`),
		chromedp.SendKeys(chromedp.CSS(`#room-question-card .q-number`), "30000"+kb.Enter),
		waitJS(`document.querySelector("#room-question-card .q-yours")`),
	)
	do(t, "presenter", presenter, waitJS(`window.interleave.room.questions()[0].answers === 2 && document.querySelectorAll("#room-question-card rect.q-bar").length > 0`))

	// Run: the followers watch the same run; its end draws the measured answer.
	var runID string
	do(t, "presenter", presenter,
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave.runId`),
		evalInto(`window.interleave.runId`, &runID),
		waitJS(`window.interleave.status === "done" && window.interleave.room.questions()[0].measured && document.querySelector("#room-question-card .q-measured-line")`),
	)
	info := ts.info(t, runID)
	var sum struct {
		Metrics map[string]struct{ Value float64 }
	}
	json.Unmarshal(info.Summary, &sum)
	var measured float64
	do(t, "presenter", presenter, evalInto(`window.interleave.room.questions()[0].measured.value`, &measured))
	if measured != sum.Metrics["lost"].Value {
		t.Errorf("the chart draws %v lost, the run measured %v", measured, sum.Metrics["lost"].Value)
	}
	var measuredText string
	do(t, "presenter", presenter, textInto(chromedp.CSS(`#room-question-card .q-measured`), &measuredText))
	if !strings.Contains(measuredText, formatThousands(int64(measured))) {
		t.Errorf("measured line %q does not give %v", measuredText, measured)
	}
	for _, f := range []struct {
		name string
		ctx  context.Context
	}{{"A", a}, {"B", b}} {
		do(t, f.name, f.ctx, waitJSAcrossNavigation(`window.interleave.runId === "`+runID+`" && window.interleave.status === "done" && document.querySelector("#room-question-card .q-measured-line")`))
	}
	screenshot(t, presenter, "workshop-projector.png")
	do(t, "A", a, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload(),
		waitJSAcrossNavigation(`window.interleave && window.interleave.room && window.interleave.room.following && document.querySelector("#room-question-card .q-measured-line") && window.interleave.status === "done"`))
	screenshot(t, a, "workshop-phone.png")

	// A late joiner lands on the presenter's current view, the run included.
	do(t, "C", c,
		chromedp.Navigate(roomPage),
		waitJSAcrossNavigation(`window.interleave && window.interleave.room && window.interleave.room.following && window.interleave.runId === "`+runID+`" && window.interleave.status === "done"`),
	)

	// The projector counts who is here: three attendees, one page each.
	do(t, "presenter", presenter, waitJS(`window.interleave.room.people.attendees === 3 && window.interleave.room.people.connected === 3`))

	// Zoom on the projector: every follower shows the same window.
	do(t, "presenter", presenter, chromedp.Click(chromedp.ID("zoom-in")), chromedp.Click(chromedp.ID("zoom-in")))
	pw := readWindow(t, "presenter", presenter)
	for _, f := range []struct {
		name string
		ctx  context.Context
	}{{"A", a}, {"B", b}, {"C", c}} {
		do(t, f.name, f.ctx, waitJS(fmt.Sprintf(`Math.abs(window.interleave.view().t0 - %f) <= 2 && Math.abs(window.interleave.view().t1 - %f) <= 2`, pw.T0, pw.T1)))
	}

	// B breaks away: zooming out pauses following, the presenter's pan no longer moves B.
	do(t, "B", b, chromedp.Click(chromedp.ID("timeline")), chromedp.KeyEvent("-"), waitJS(`!window.interleave.room.following && !document.getElementById("room-rejoin").hidden`))
	var paused string
	do(t, "B", b, textInto(chromedp.ID("room-follow"), &paused))
	if !strings.Contains(paused, "Following paused") {
		t.Errorf("B's bar says %q", paused)
	}
	bw := readWindow(t, "B", b)
	do(t, "presenter", presenter, chromedp.Click(chromedp.ID("timeline")), chromedp.KeyEvent(kb.ArrowRight))
	pw2 := readWindow(t, "presenter", presenter)
	if sameWindow(pw, pw2) {
		t.Fatal("the presenter's pan did not move the window")
	}
	do(t, "A", a, waitJS(fmt.Sprintf(`Math.abs(window.interleave.view().t0 - %f) <= 2`, pw2.T0)))
	if got := readWindow(t, "B", b); !sameWindow(got, bw) {
		t.Errorf("B broke away but its window moved with the presenter: %+v → %+v", bw, got)
	}
	// Rejoin (key f) jumps to the presenter's current view.
	do(t, "B", b, chromedp.KeyEvent("f"), waitJS(fmt.Sprintf(`window.interleave.room.following && Math.abs(window.interleave.view().t0 - %f) <= 2 && Math.abs(window.interleave.view().t1 - %f) <= 2`, pw2.T0, pw2.T1)))

	// B breaks away to run its own variation: 3 workers.
	var bRun string
	do(t, "B", b,
		chromedp.SetValue(chromedp.ID("p-workers"), "3"),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`!window.interleave.room.following && window.interleave.runId && window.interleave.runId !== "`+runID+`"`),
		evalInto(`window.interleave.runId`, &bRun),
	)
	// The presenter's room page lists it; Show puts it on every follower's screen.
	do(t, "presenter", presenter,
		chromedp.Navigate(roomPage),
		waitJS(`document.querySelector('#room-runs tr[data-run="`+bRun+`"][data-status="done"] .run-label')`),
	)
	var label string
	do(t, "presenter", presenter, textInto(chromedp.CSS(`#room-runs tr[data-run="`+bRun+`"] .run-label`), &label))
	if label != "Attendee 2" {
		t.Errorf("B's run is labelled %q, want Attendee 2", label)
	}
	do(t, "presenter", presenter, chromedp.Click(chromedp.CSS(`#room-runs tr[data-run="`+bRun+`"] .room-show`)),
		waitJSAcrossNavigation(`location.pathname === "/r/`+bRun+`"`))
	for _, f := range []struct {
		name string
		ctx  context.Context
	}{{"A", a}, {"C", c}} {
		do(t, f.name, f.ctx, waitJSAcrossNavigation(`location.pathname === "/r/`+bRun+`" && window.interleave.room && window.interleave.room.following`))
	}
	// B, who broke away, stays where it was.
	var bPath string
	do(t, "B", b, evalInto(`location.pathname`, &bPath))
	if bPath != "/s/locks" {
		t.Errorf("B, not following, was moved to %s", bPath)
	}

	// The GIL on the projector: who holds it reads without hovering.
	if pyErr == nil {
		do(t, "presenter", presenter,
			chromedp.Navigate(ts.URL+"/s/gil?engine=python&threads=2&size=150&io_thread=true"),
			waitJS(`window.interleave.room && window.interleave.room.published`),
			chromedp.Click(chromedp.ID("run")),
			waitJS(`window.interleave.status === "done"`),
			chromedp.Click(chromedp.ID("fit")),
		)
		do(t, "A", a, waitJSAcrossNavigation(`location.pathname === "/s/gil" && window.interleave.status === "done"`))
		screenshot(t, presenter, "workshop-projector-gil.png")
	}
}

// formatThousands writes 17342 as 17,342.
func formatThousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// BenchmarkFollowRedraw measures a presenter's view change (PUT
// /api/rooms/{code}/view, as the presenter's page sends it) until three
// followed pages in real Chromium have redrawn their timeline with it (the
// animation frame that drew the new window), on a finished run's page:
// go test ./server -run '^$' -bench FollowRedraw -benchtime 1x
func BenchmarkFollowRedraw(b *testing.B) {
	ts := newBenchServer(b, goEngine())
	presenter := newRoomClientAt(b, ts.URL)
	code := presenter.openRoom()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watch := presenter.follow(ctx, code)
	status, out, _ := presenter.do("POST", "/api/runs", map[string]any{"scenario": "locks", "engine": "go", "room": code, "params": map[string]any{"workers": 4, "increments": 10000}})
	if status != http.StatusCreated {
		b.Fatalf("run: %d %v", status, out)
	}
	run := out["id"].(string)
	for done := false; !done; {
		for _, r := range readType(b, ctx, watch, "runs")["runs"].([]any) {
			done = done || r.(map[string]any)["status"] == "done"
		}
	}
	if status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", map[string]any{"path": "/r/" + run, "run": run}); status != http.StatusOK {
		b.Fatalf("view: %d %v", status, out)
	}
	browser := newBrowser(b, chromedp.WindowSize(1400, 900))
	var pages []context.Context
	for range 3 {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		b.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/w/"+code),
			waitJSAcrossNavigation(`location.pathname === "/r/`+run+`" && window.interleave.replay && window.interleave.replay.ready && window.interleave.room && window.interleave.room.following`)); err != nil {
			b.Fatal(err)
		}
		pages = append(pages, ctx)
	}
	var lat []float64
	for b.Loop() {
		for r := range 20 {
			t0 := int64(1_000_000 + r*100_000)
			sent := float64(time.Now().UnixNano()) / 1e6
			status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", map[string]any{"path": "/r/" + run, "run": run, "t0": t0, "t1": t0 + 20_000_000})
			if status != http.StatusOK {
				b.Fatalf("view: %d %v", status, out)
			}
			seq := int(out["seq"].(float64))
			for _, ctx := range pages {
				var at float64
				if err := chromedp.Do(ctx, waitJS(fmt.Sprintf(`window.interleave.room.applied.seq >= %d`, seq)),
					evalInto(`window.interleave.room.applied.at`, &at)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, at-sent)
			}
		}
	}
	slices.Sort(lat)
	pick := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(pick(0.5), "p50-ms")
	b.ReportMetric(pick(0.9), "p90-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
}
