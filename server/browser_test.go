package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
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

// browserTest skips a browser test, before it sets anything up, where it
// is not run: under -short (CI runs every browser test in its go test ./...
// pass; its -short pass, under the race detector, checks the Go side
// without them) and on a machine without Chromium (unless the browser is
// required). Each TestBrowser calls it first: their set-up (a server, a
// recorded run) took about 2.5 s each in the race pass before skipping.
func browserTest(t testing.TB) {
	t.Helper()
	browserPath(t)
}

// browserPath returns Chromium's path, or skips t as browserTest says.
func browserPath(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test: run without -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("Chromium not found on PATH and %s is set: install it (apt-get install chromium)", requireBrowserEnv)
	}
	t.Skip("Chromium not found on PATH: browser test skipped (apt-get install chromium)")
	return ""
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
	path := browserPath(t)
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
	browserTest(t)
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
	browserTest(t)
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
	browserTest(t)
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

func TestBrowserImportShowsTheReasonThenOpensTheRun(t *testing.T) {
	browserTest(t)
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

// TestBrowserEveryScenarioRunsWithDefaults opens every scenario page on the
// go engine, runs it with its defaults, and checks that lanes and a summary
// appear, and that the real-scheduler toggle shows the scheduler's lanes.
func TestBrowserEveryScenarioRunsWithDefaults(t *testing.T) {
	browserTest(t)
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
	browserTest(t)
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
