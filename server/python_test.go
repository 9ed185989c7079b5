package server

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"interleave/scenarios"
	"interleave/scenarios/pyengine"
)

// pythonEngine returns the CPython engine, skipping (or, in CI, failing)
// when python3 is missing.
func pythonEngine(t *testing.T) scenarios.Engine {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("INTERLEAVE_REQUIRE_PYTHON") != "" {
			t.Fatal("python3 not found and INTERLEAVE_REQUIRE_PYTHON is set")
		}
		t.Skip("python3 not found: CPython engine test skipped")
	}
	p, err := pyengine.New("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Available(); err != nil {
		t.Skipf("python engine unavailable: %v", err)
	}
	return p
}

func TestMissingPythonIsUnavailableNotBroken(t *testing.T) {
	p, err := pyengine.New("/nonexistent/python3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ts := newTestServer(t, nil, goEngine(), p)
	code, out, _ := ts.post(t, `{"scenario":"gil","engine":"python"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(out["error"].(string), "install") {
		t.Errorf("python run without python3 = %d %v, want 503 saying how to install it", code, out)
	}
	// The go engine keeps working.
	id := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":100}}`)
	waitStatus(t, ts, id, StatusDone)
	resp, err := http.Get(ts.URL + "/s/gil?engine=python")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("python page without python3 = %d, want 200 with the reason shown", resp.StatusCode)
	}
}

func TestBrowserPythonGILShowsGILWait(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	var gilWaits int
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/gil?engine=python&threads=2&size=200"),
		chromedp.WaitVisible(chromedp.ID("run")),
		chromedp.Click(chromedp.ID("run")),
		waitJS(`window.interleave && window.interleave.status === "done"`),
		evalInto(`(function () {
			// Count gil-wait spans: state code 2 in palette.js's STATES order.
			let n = 0;
			for (const l of window.interleave.model.laneList) for (let i = 0; i < l.n; i++) if (l.states[i] === 2) n++;
			return n;
		})()`, &gilWaits),
	)
	if err != nil {
		t.Fatal(err)
	}
	if gilWaits == 0 {
		t.Errorf("no gil-wait span drawn for two CPU-bound CPython threads")
	}
}
