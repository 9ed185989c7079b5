package server

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

// observerQuery is the run the observer benchmark measures: CPython's
// 2-process speedup (2 workers, fork, no payload, 1,000 ms each), the run
// the page most easily spoils, since it needs both cores.
const observerQuery = "workers=2&mode=processes&size=1000&payload_kb=0&start=fork"

// observed is one run of the observer benchmark.
type observed struct {
	speedup, other, observer float64
}

func observedOf(t *testing.T, raw json.RawMessage) observed {
	t.Helper()
	var s event.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("summary %s: %v", raw, err)
	}
	return observed{s.Metrics["speedup"].Value, s.Metrics[event.MetricOtherLoad].Value, s.Metrics[event.MetricObserverLoad].Value}
}

// TestBrowserWatchingDoesNotSlowTheRun is the observer benchmark: the same
// python run alternately with no viewer and with headless Chromium drawing
// its live page, on the same machine. The page must not be what slows a
// run: the watched speedup within 10 % of the unwatched one.
//
//	INTERLEAVE_REQUIRE_BROWSER=1 go test ./server -run TestBrowserWatchingDoesNotSlowTheRun -v
func TestBrowserWatchingDoesNotSlowTheRun(t *testing.T) {
	timingclaim.Claim(t) // the browser is part of the measure: no other test may load the machine
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := startBrowser(t, false)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	alone := func() observed {
		id := ts.start(t, `{"scenario":"multiprocessing","engine":"python","params":{"workers":2,"mode":"processes","size":1000,"payload_kb":0,"start":"fork"}}`)
		return observedOf(t, waitStatus(t, ts, id, StatusDone).Summary)
	}
	watched := func() observed {
		var id string
		err := chromedp.Do(ctx,
			chromedp.Navigate(ts.URL+"/s/multiprocessing?engine=python&"+observerQuery),
			chromedp.WaitVisible(chromedp.ID("run")),
			chromedp.Click(chromedp.ID("run")),
			waitJS(`window.interleave.status === "done" && window.interleave.summary`),
			evalInto(`window.interleave.runId`, &id),
			chromedp.Navigate("about:blank"),
		)
		if err != nil {
			t.Fatal(err)
		}
		return observedOf(t, ts.info(t, id).Summary)
	}
	median := func(xs []observed, f func(observed) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	speedup := func(o observed) float64 { return o.speedup }
	const pairs = 3
	ratio := timingclaim.Best(t, 3, 0.9, func() float64 {
		var a, w []observed
		for range pairs {
			a = append(a, alone())
			w = append(w, watched())
		}
		for i := range pairs {
			t.Logf("pair %d: alone %.2fx (other %.2f, server %.2f cores); watched %.2fx (other %.2f, server %.2f cores)",
				i+1, a[i].speedup, a[i].other, a[i].observer, w[i].speedup, w[i].other, w[i].observer)
		}
		r := median(w, speedup) / median(a, speedup)
		t.Logf("median speedup alone %.2fx, watched by a browser %.2fx: ratio %.3f; median other load alone %.2f, watched %.2f cores",
			median(a, speedup), median(w, speedup), r, median(a, func(o observed) float64 { return o.other }), median(w, func(o observed) float64 { return o.other }))
		return r
	})
	if ratio < 0.9 {
		t.Errorf("a browser watching the run cut its speedup to %.3f of the unwatched one, want within 10 %%", ratio)
	}
}
