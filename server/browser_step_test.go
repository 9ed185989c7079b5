package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"interleave/internal/timingclaim"
)

// screenshotDirEnv names a directory where browser tests save screenshots
// of what they checked, for a person to look at.
const screenshotDirEnv = "INTERLEAVE_SCREENSHOTS"

// saveScreenshot saves the whole page as name.png in $INTERLEAVE_SCREENSHOTS.
func saveScreenshot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		dir := os.Getenv(screenshotDirEnv)
		if dir == "" {
			return nil
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// pressStep presses a thread's number key and waits until the panel shows
// the step taken (the schedule so far has grown to want).
func pressStep(key, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(key)); err != nil {
			return err
		}
		cond := `window.interleave.stepping.state && window.interleave.stepping.state.schedule === "` + want + `"`
		_, err := chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		if err != nil {
			var seen string
			chromedp.Do(ctx, evalInto(`JSON.stringify({live: window.interleave.stepping.live, status: window.interleave.status, schedule: window.interleave.stepping.state && window.interleave.stepping.state.schedule, threads: window.interleave.stepping.state && window.interleave.stepping.state.threads.map((th) => [th.lane, th.status, th.line, th.canStep]), message: document.getElementById('step-message').textContent, events: window.interleave.eventCount()})`, &seen))
			return fmt.Errorf("after key %s the schedule is not %s: %v; the page shows %s", key, want, err, seen)
		}
		return nil
	})
}

// TestBrowserStepALostUpdateWithTheKeyboard: the learner steps two threads
// of real CPython with the number keys so that both read the counter
// before either writes it back; the panel shows each thread's line and
// locals, the URL carries the schedule, and stepping on to the end reaches
// the verdict that counts the lost update.
func TestBrowserStepALostUpdateWithTheKeyboard(t *testing.T) {
	browserTest(t)
	timingclaim.Heavy(t)
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	var url, verdict, w2Line, w2Value, counter string
	schedule := []string{"1", "1", "2", "2", "1", "2"}
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(ts.URL + "/s/locks?engine=python&workers=2&increments=2&step=true"),
		chromedp.WaitVisible(chromedp.ID("run")),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave.stepping && window.interleave.stepping.live && window.interleave.stepping.state.threads.length === 2 && window.interleave.stepping.state.threads.every((th) => th.canStep)`),
	}
	done := ""
	for _, key := range schedule {
		if done != "" {
			done += ","
		}
		done += key
		actions = append(actions, pressStep(key, done))
	}
	actions = append(actions,
		// Both read 0; worker 1 wrote back 1, and so did worker 2.
		waitJS(`document.querySelector('#step-shared') && document.querySelector('#step-shared').textContent.includes('counter 1')`),
		textInto(chromedp.CSS(`.step-thread[data-lane="worker-2"] .step-code li.current`), &w2Line),
		textInto(chromedp.CSS(`.step-thread[data-lane="worker-2"] .step-locals`), &w2Value),
		textInto(chromedp.ID("step-shared"), &counter),
		evalInto(`location.search`, &url),
		saveScreenshot("stepping-lost-update"),
	)
	// Step on: worker 1 finishes its second increment, then worker 2.
	for _, key := range []string{"1", "1", "1", "1", "2", "2", "2", "2"} {
		done += "," + key
		actions = append(actions, pressStep(key, done))
	}
	actions = append(actions,
		waitJS(`window.interleave.status === "done" && window.interleave.summary !== null`),
		chromedp.WaitVisible(chromedp.ID("verdict")),
		textInto(chromedp.ID("verdict"), &verdict),
		saveScreenshot("stepping-verdict"),
	)
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(url, "schedule=1,1,2,2,1,2") || !strings.Contains(url, "step=true") {
		t.Errorf("address bar %q does not carry the schedule stepped", url)
	}
	if !strings.Contains(w2Line, "for i in range(increments):") {
		t.Errorf("worker 2's current line %q, want the loop after its write", w2Line)
	}
	if !strings.Contains(w2Value, "value") || !strings.Contains(w2Value, "0") {
		t.Errorf("worker 2's locals %q, want value = 0 (what it read)", w2Value)
	}
	if !strings.Contains(verdict, "1 of 4 updates were lost") {
		t.Errorf("verdict %q, want 1 of 4 updates lost", verdict)
	}
}

// TestBrowserSearchOpensTheLostUpdate: "Find an interleaving that loses an
// update" searches, opens the shortest interleaving found as a step run
// that follows it, and the learner takes the last step that loses it.
func TestBrowserSearchOpensTheLostUpdate(t *testing.T) {
	browserTest(t)
	timingclaim.Heavy(t)
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	var message, verdict, firstRun, newRun, newSchedule string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=python&workers=2&increments=2"),
		chromedp.WaitVisible(chromedp.CSS(`.step-search[data-goal="lost-update"]`)),
		chromedp.Click(chromedp.CSS(`.step-search[data-goal="lost-update"]`)),
		waitJS(`window.interleave.stepping && window.interleave.stepping.live && window.interleave.stepping.state.schedule.split(",").length === 9`),
		textInto(chromedp.ID("step-message"), &message),
		saveScreenshot("stepping-search-found"),
		chromedp.Click(chromedp.ID("step-free")),
		waitJS(`window.interleave.status === "done" && window.interleave.summary !== null`),
		textInto(chromedp.ID("verdict"), &verdict),
		evalInto(`window.firstRun = window.interleave.runId`, &firstRun),
		// Start over: a new step run from the first line.
		chromedp.Click(chromedp.ID("step-restart")),
		waitJS(`window.interleave.runId !== window.firstRun && window.interleave.stepping.live && window.interleave.stepping.state.threads.length === 2`),
		evalInto(`window.interleave.runId`, &newRun),
		evalInto(`window.interleave.stepping.state.schedule`, &newSchedule),
	)
	if err != nil {
		t.Fatal(err)
	}
	if newRun == firstRun || newSchedule != "" {
		t.Errorf("Start over: run %s (was %s) with schedule %q, want a new run with no step taken", newRun, firstRun, newSchedule)
	}
	if !strings.Contains(message, "Explored all 3432 interleavings") {
		t.Errorf("message %q, want the search's sentence", message)
	}
	if !strings.Contains(verdict, "updates were lost") {
		t.Errorf("verdict %q, want updates lost", verdict)
	}
}
