package server

import (
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// benchmarkResult is what window.interleave.benchmark() returns: frame
// times of a scripted pan/zoom sequence over a synthetic run.
type benchmarkResult struct {
	Frames   int     `json:"frames"`
	MedianMs float64 `json:"medianMs"`
	P95Ms    float64 `json:"p95Ms"`
	MaxMs    float64 `json:"maxMs"`
	Spans    int     `json:"spans"`
	BuildMs  float64 `json:"buildMs"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
}

// BenchmarkBrowserFrames measures the timeline's frame time in real
// Chromium on 1,000,000 spans (100 lanes × 10,000), the quality bar being
// a pan/zoom frame within 16 ms: each iteration loads a synthetic run into
// a fresh model and renders fit, zoom, pan, scroll and zoom-out frames,
// each one rasterised before it is timed.
//
//	go test ./server -run '^$' -bench BrowserFrames -benchtime 3x
func BenchmarkBrowserFrames(b *testing.B) {
	ts := newBenchServer(b, goEngine())
	ctx := newBrowser(b)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/s/locks?engine=go"),
		waitJS(`window.interleave && typeof window.interleave.benchmark === "function"`),
	); err != nil {
		b.Fatal(err)
	}
	var medians, p95s []float64
	var last benchmarkResult
	for b.Loop() {
		if err := chromedp.Do(ctx, evalInto(`window.interleave.benchmark({lanes: 100, spansPerLane: 10000})`, &last)); err != nil {
			b.Fatal(err)
		}
		if last.Spans < 1_000_000 || last.Frames == 0 {
			b.Fatalf("benchmark drew %d spans in %d frames, want 1,000,000 spans", last.Spans, last.Frames)
		}
		medians = append(medians, last.MedianMs)
		p95s = append(p95s, last.P95Ms)
	}
	b.Logf("%d spans, %d frames of %d×%d px; last: median %.2f ms, p95 %.2f ms, max %.2f ms; model built in %.0f ms",
		last.Spans, last.Frames, last.Width, last.Height, last.MedianMs, last.P95Ms, last.MaxMs, last.BuildMs)
	b.ReportMetric(middle(medians), "ms-median-frame")
	b.ReportMetric(middle(p95s), "ms-p95-frame")
}

// middle is the median of xs (the mean of the two middle ones).
func middle(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
