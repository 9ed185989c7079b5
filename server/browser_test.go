package server

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// requireBrowserEnv, when set (CI sets it), turns a missing Chromium into a
// failure instead of a skip.
const requireBrowserEnv = "INTERLEAVE_REQUIRE_BROWSER"

// newBrowser starts a real headless Chromium and returns its context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
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
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))(ctx, t)
		return err
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
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go&workers=4&increments=5000&lock=false&yield=true"),
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
		t.Errorf("summary shows %v lost updates, want some with lock=false yield=true", lost)
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
