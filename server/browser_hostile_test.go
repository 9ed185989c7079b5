package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// hostilePage is another site's page that tries, from a visitor's browser,
// to start a run on the server at target: with fetch (no-cors, text/plain,
// which needs no permission) and with a form posted by script.
const hostilePage = `<!doctype html><title>loading</title>
<form id="f" method="post" action="%[1]s/api/runs" enctype="text/plain" target="sink">
<input name='{"scenario":"locks","engine":"go","x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
fetch("%[1]s/api/runs", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({scenario: "locks", engine: "go"})})
  .then(() => { document.getElementById("f").submit(); document.title = "sent"; },
        (e) => { document.title = "failed: " + e; });
</script>`

// TestBrowserHostilePagesStartNothing opens, in real Chromium, a page on
// another site that posts to the server, then the server under a name
// that resolves to it (DNS rebinding): no run starts, and the rebinding
// name gets a page saying the name is not this server's.
func TestBrowserHostilePagesStartNothing(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil)
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, hostilePage, ts.URL)
	}))
	defer evil.Close()
	evilPort := evil.URL[strings.LastIndex(evil.URL, ":")+1:]
	ctx := newBrowser(t, chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1, MAP rebind.example 127.0.0.1"))

	var title string
	err := chromedp.Do(ctx,
		chromedp.Navigate("http://evil.example:"+evilPort+"/"),
		waitJS(`document.title !== "loading"`),
		evalInto("document.title", &title),
	)
	if err != nil {
		t.Fatal(err)
	}
	if title != "sent" {
		t.Fatalf("the hostile page could not send its requests (%q): the test proves nothing", title)
	}
	// The form's answer is in the frame once it has loaded.
	var frameText string
	if err := chromedp.Do(ctx, waitJSAcrossNavigation(`(() => { try { return frames[0].document.body.innerText.includes("cross-origin") } catch (e) { return true } })()`),
		evalInto(`(() => { try { return frames[0].document.body.innerText } catch (e) { return "cross-origin frame" } })()`, &frameText)); err != nil {
		t.Fatal(err)
	}
	t.Logf("the hostile form's answer: %q", frameText)
	code, _, body := ts.request(t, "GET", "/api/runs", nil, "")
	var list runList
	if err := json.Unmarshal(body, &list); code != 200 || err != nil {
		t.Fatalf("GET /api/runs = %d %v", code, err)
	}
	if len(list.Runs) != 0 {
		t.Errorf("a page on evil.example started %d runs", len(list.Runs))
	}

	var msg string
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://rebind.example:"+port+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[role="alert"]`)),
		textInto(chromedp.CSS(`[role="alert"]`), &msg),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "rebind.example is not a name of this server") || !strings.Contains(msg, "-allowed-hosts") {
		t.Errorf("the page under a rebinding name says %q, want that the name is not this server's and how to allow it", msg)
	}
	if path := os.Getenv("INTERLEAVE_SCREENSHOT_REBIND"); path != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(path, png, 0o644)
		}
	}
}
