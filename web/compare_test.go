package web

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"interleave/scenarios"
)

func compareView() CompareView {
	return CompareView{
		Workloads: scenarios.Workloads, Engines: []string{scenarios.EnginePython, scenarios.EngineGo},
		EngineErrors: map[string]string{scenarios.EnginePython: "python3 not found: install it with apt-get install python3"},
		Sizes:        []string{"small", "medium", "large"}, Workload: "shared-state", Engine: scenarios.EngineGo, Size: "small", Workers: "4",
	}
}

func TestComparePage(t *testing.T) {
	v := compareView()
	doc := render(t, ComparePage(v))
	app := byID(t, doc, "app")
	if page, _ := attr(app, "data-page"); page != "compare" {
		t.Errorf("data-page = %q", page)
	}

	form := byID(t, doc, "compare-form")
	if m, _ := attr(form, "method"); m != "get" {
		t.Errorf("form method %q, want get (the URL is the share link)", m)
	}
	for _, name := range []string{"workload", "engine", "size", "workers"} {
		c := find(form, withAttr("name", name))
		if len(c) != 1 || !labelled(doc, c[0]) {
			t.Errorf("want one labelled control named %s", name)
		}
	}
	python := find(byID(t, doc, "c-engine"), withAttr("value", scenarios.EnginePython))[0]
	if why, _ := attr(python, "data-unavailable"); !strings.Contains(why, "python3 not found") || !strings.Contains(text(python), "unavailable") {
		t.Errorf("the unavailable engine says %q (%q), want it marked with why", text(python), why)
	}
	if !strings.Contains(text(byID(t, doc, "engine-errors")), "apt-get install python3") {
		t.Error("the engine errors are not shown")
	}
	run := byID(t, doc, "compare-run")
	if typ, _ := attr(run, "type"); typ != "button" || ancestor(run, withAttr("id", "compare-form")) == nil {
		t.Errorf("Run comparison is type %q; want a button of the form", typ)
	}
	if _, disabled := attr(run, "disabled"); disabled {
		t.Error("Run comparison is disabled although the go engine is available")
	}
	if role, _ := attr(byID(t, doc, "compare-status"), "role"); role != "status" {
		t.Errorf("status role %q", role)
	}
	if role, _ := attr(byID(t, doc, "compare-message"), "role"); role != "alert" {
		t.Errorf("message role %q", role)
	}
	if _, hidden := attr(byID(t, doc, "compare-permalink"), "hidden"); !hidden {
		t.Error("a comparison that has not run shows a permalink")
	}
	if len(find(doc, withAttr("id", "model-note"))) != 0 || !strings.Contains(text(doc), "goroutines") {
		t.Error("the go engine's note (threads are goroutines) is missing")
	}

	// The results table: a column per criterion, a row per model of the workload.
	models := scenarios.Workloads[5].Models()
	results := byID(t, doc, "results")
	var cols []string
	for _, th := range find(results, func(n *html.Node) bool { _, ok := attr(n, "data-col"); return n.DataAtom == atom.Th && ok }) {
		c, _ := attr(th, "data-col")
		cols = append(cols, c)
	}
	if !slices.Equal(cols, []string{"wall", "cpu", "utilization", "speedup", "memory", "correct"}) {
		t.Errorf("results columns %v", cols)
	}
	var rows []string
	for _, tr := range find(results, func(n *html.Node) bool { _, ok := attr(n, "data-model"); return n.DataAtom == atom.Tr && ok }) {
		m, _ := attr(tr, "data-model")
		rows = append(rows, m)
	}
	if !slices.Equal(rows, models) {
		t.Errorf("results rows %v, want the workload's models %v", rows, models)
	}

	// One timeline per model, and a template for the others.
	stack := byID(t, doc, "compare-timelines")
	var stacked []string
	for _, sec := range find(stack, func(n *html.Node) bool { return n.DataAtom == atom.Section }) {
		m, _ := attr(sec, "data-model")
		stacked = append(stacked, m)
		tl := find(sec, func(n *html.Node) bool { return hasClass(n, "timeline") })
		if len(tl) != 1 || len(find(tl[0], func(n *html.Node) bool { return n.DataAtom == atom.Canvas })) != 1 {
			t.Errorf("the %s section has no timeline canvas", m)
		}
		if ti, _ := attr(tl[0], "tabindex"); ti != "0" {
			t.Errorf("the %s timeline cannot take the keyboard focus", m)
		}
	}
	if !slices.Equal(stacked, models) {
		t.Errorf("stacked timelines %v, want %v", stacked, models)
	}
	tmpl := byID(t, doc, "compare-run-template")
	if tmpl.DataAtom != atom.Template || len(find(tmpl, func(n *html.Node) bool { return hasClass(n, "compare-run") })) != 1 {
		t.Error("want a <template> holding one model section")
	}

	// The guide's matrix: every workload, its rule and why; this one highlighted.
	matrix := byID(t, doc, "matrix")
	trs := find(matrix, func(n *html.Node) bool { _, ok := attr(n, "data-workload"); return n.DataAtom == atom.Tr && ok })
	if len(trs) != len(scenarios.Workloads) {
		t.Fatalf("matrix has %d rows, want %d", len(trs), len(scenarios.Workloads))
	}
	for i, tr := range trs {
		w := scenarios.Workloads[i]
		if id, _ := attr(tr, "data-workload"); id != w.ID {
			t.Errorf("row %d is %q, want %q", i, id, w.ID)
		}
		var rule []string
		for _, li := range find(tr, func(n *html.Node) bool { return n.DataAtom == atom.Li }) {
			m, _ := attr(li, "data-model")
			rule = append(rule, m)
		}
		if !slices.Equal(rule, w.Rule) || !strings.Contains(text(tr), w.Why) {
			t.Errorf("row %s: rule %v, want %v with why", w.ID, rule, w.Rule)
		}
		current, _ := attr(tr, "aria-current")
		if (current == "true") != (w.ID == v.Workload) || hasClass(tr, "current") != (w.ID == v.Workload) {
			t.Errorf("row %s aria-current=%q class current=%v", w.ID, current, hasClass(tr, "current"))
		}
		if len(find(tr, func(n *html.Node) bool { return hasClass(n, "measured") })) != 1 {
			t.Errorf("row %s has no cell for the measured winner", w.ID)
		}
	}
	if _, hidden := attr(byID(t, doc, "rule-note"), "hidden"); !hidden {
		t.Error("the note on a disagreement shows before any measurement")
	}
}

func TestComparePagePermalinkAndErrors(t *testing.T) {
	v := compareView()
	v.ComparisonID = "c9"
	doc := render(t, ComparePage(v))
	if id, _ := attr(byID(t, doc, "app"), "data-comparison"); id != "c9" {
		t.Errorf("data-comparison = %q", id)
	}
	link := byID(t, doc, "compare-permalink")
	if href, _ := attr(link, "href"); href != "/compare/c9" {
		t.Errorf("permalink = %q", href)
	}
	if _, hidden := attr(link, "hidden"); hidden {
		t.Error("a comparison's permalink is hidden")
	}

	v = compareView()
	v.Engine = scenarios.EnginePython
	if _, disabled := attr(byID(t, render(t, ComparePage(v)), "compare-run"), "disabled"); !disabled {
		t.Error("Run comparison is enabled with an engine that cannot run")
	}

	v = compareView()
	v.Workload, v.Error, v.Field = "gpu", "workload: gpu is not allowed; want one of cpu, io, many-io, mixed, external, shared-state", "workload"
	doc = render(t, ComparePage(v))
	e := byID(t, doc, "error")
	if f, _ := attr(e, "data-field"); f != "workload" || ancestor(e, withAttr("id", "compare-form")) == nil {
		t.Errorf("error for field %q, want workload, in the form", f)
	}
	if !hasClass(ancestor(find(doc, withAttr("name", "workload"))[0], withAttr("data-param", "workload")), "invalid") {
		t.Error("the workload field is not marked invalid")
	}
	if _, disabled := attr(byID(t, doc, "compare-run"), "disabled"); !disabled {
		t.Error("Run comparison is enabled although the link is wrong")
	}
	if len(find(byID(t, doc, "compare-timelines"), func(n *html.Node) bool { return n.DataAtom == atom.Section })) != 0 {
		t.Error("timelines are laid out for an unknown workload")
	}
}
