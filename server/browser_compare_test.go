package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"interleave/scenarios"
)

func TestBrowserCompareSaysWhyItCannotRun(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil) // no python engine on this server
	ctx := newBrowser(t)
	var notice, note string
	var disabled bool
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/compare?workload=cpu&engine=python&size=small&workers=2"),
		waitJS(`window.interleave && window.interleave.compare`),
		textInto(chromedp.ID("engine-errors"), &notice),
		chromedp.WaitVisible(chromedp.ID("compare-engine-note")),
		textInto(chromedp.ID("compare-engine-note"), &note),
		evalInto(`document.getElementById("compare-run").disabled`, &disabled),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice, "CPython") || !strings.Contains(notice, "not configured") {
		t.Errorf("unavailable engines %q, want CPython and why", notice)
	}
	if !strings.Contains(note, "not configured") || !disabled {
		t.Errorf("engine note %q, Run disabled %v: want the reason and Run disabled", note, disabled)
	}

	// A comparison the server refuses: its message, next to the field it names.
	var msg, field, invalid, path string
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => {
			const e = document.getElementById("c-engine");
			e.value = "go";
			e.dispatchEvent(new Event("change"));
			document.getElementById("c-workers").value = "999";
		})()`),
		chromedp.WaitNotVisible(chromedp.ID("compare-engine-note")),
		chromedp.Click(chromedp.ID("compare-run")),
		chromedp.WaitVisible(chromedp.ID("compare-message")),
		textInto(chromedp.ID("compare-message"), &msg),
		evalInto(`(document.getElementById("compare-message").textContent.match(/^(\w+):/) || ["", ""])[1]`, &field),
		evalInto(`document.querySelector("#compare-form [aria-invalid=true]")?.name || ""`, &invalid),
		evalInto(`location.pathname`, &path),
	)
	if err != nil {
		t.Fatal(err)
	}
	if field == "" || !strings.Contains(msg, "not") {
		t.Errorf("message %q, want the server's 400 naming the field and what is wrong", msg)
	}
	if invalid != field {
		t.Errorf("field marked invalid: %q, want %q (named by %q)", invalid, field, msg)
	}
	if path != "/compare" {
		t.Errorf("a comparison that did not start moved the page to %s", path)
	}
}

func TestBrowserCompareStacksTimelinesOnOneAxis(t *testing.T) {
	browserTest(t)
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ctx := newBrowser(t)
	var path string
	var models []string
	var walls []string
	var badgesEarly int
	var badges []string
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/compare?workload=cpu&engine=python&size=small&workers=2"),
		waitJS(`window.interleave && window.interleave.compare`),
		chromedp.Click(chromedp.ID("compare-run")),
		// While a model is still to run, no model is starred, even one
		// already measured.
		waitJS(`(() => { const r = window.interleave.compare.result; return r && r.status === "running" && r.models.some((m) => m.status === "done"); })()`),
		evalInto(`document.querySelectorAll("#results .best").length`, &badgesEarly),
		waitJS(`window.interleave.compare.status === "done" && window.interleave.compare.timelines().every((t) => t.status === "done")`),
		evalInto(`[...document.querySelectorAll("#results td[data-col=wall] .best")].map((b) => b.textContent.trim())`, &badges),
		evalInto(`location.pathname`, &path),
		evalInto(`[...document.querySelectorAll("#results tbody tr")].filter((tr) => tr.querySelector(".status").dataset.status === "done" && tr.querySelector("th a")).map((tr) => tr.dataset.model)`, &models),
		evalInto(`[...document.querySelectorAll("#results tbody tr td[data-col=wall]")].map((td) => td.textContent.trim())`, &walls),
	)
	if err != nil {
		t.Fatal(err)
	}
	if badgesEarly != 0 {
		t.Errorf("%d winner badges shown while models were still to run", badgesEarly)
	}
	// Once all ran: one fastest model, or a tie of several, said in words.
	if !(len(badges) == 1 && strings.HasPrefix(badges[0], "★ fastest")) && !(len(badges) >= 2 && strings.HasPrefix(badges[0], "= tie")) {
		t.Errorf("wall-time badges %q, want one ★ fastest or a tie of several", badges)
	}
	want := scenarios.Workloads[0].Models()
	if !slices.Equal(models, want) {
		t.Errorf("results rows done with a run: %v, want every model %v", models, want)
	}
	for i, w := range walls {
		if !strings.Contains(w, "ms") && !strings.Contains(w, "s") {
			t.Errorf("row %d of the results table shows wall time %q, want a measured time", i, w)
		}
	}
	if len(walls) != len(want) {
		t.Errorf("%d wall-time cells, want %d", len(walls), len(want))
	}
	var id string
	if err := chromedp.Do(ctx, evalInto(`window.interleave.compare.id`, &id)); err != nil {
		t.Fatal(err)
	}
	if path != "/compare/"+id || id == "" {
		t.Errorf("the page is at %s, want the comparison's permalink /compare/%s", path, id)
	}

	var before, after []struct {
		Model string  `json:"model"`
		Lanes int     `json:"lanes"`
		T0    float64 `json:"t0"`
		T1    float64 `json:"t1"`
	}
	// Zoom and pan the third timeline with the keyboard: every one follows.
	err = chromedp.Do(ctx,
		evalInto(`window.interleave.compare.timelines()`, &before),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll(".compare-timeline")[2].focus()`),
		chromedp.KeyEvent("+"),
		chromedp.KeyEvent("+"),
		chromedp.KeyEvent(kb.ArrowRight),
		evalInto(`window.interleave.compare.timelines()`, &after),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(want) {
		t.Fatalf("%d timelines, want one per model (%d)", len(after), len(want))
	}
	for _, tl := range after {
		if tl.Lanes == 0 {
			t.Errorf("timeline of %s has no lanes", tl.Model)
		}
		if tl.T0 != after[0].T0 || tl.T1 != after[0].T1 {
			t.Errorf("timeline of %s shows [%v, %v], %s shows [%v, %v]: not one axis", tl.Model, tl.T0, tl.T1, after[0].Model, after[0].T0, after[0].T1)
		}
	}
	if spanBefore, spanAfter := before[0].T1-before[0].T0, after[0].T1-after[0].T0; spanAfter > 0.6*spanBefore || after[0].T0 <= before[0].T0 {
		t.Errorf("zoom and pan on one timeline: window went from [%v, %v] to [%v, %v], want narrower and later", before[0].T0, before[0].T1, after[0].T0, after[0].T1)
	}
}
