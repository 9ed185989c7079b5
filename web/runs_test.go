package web

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"interleave/scenarios"
)

func TestRunPage(t *testing.T) {
	v := RunView{
		RunID: "r123", Scenario: locksScenario(), Engine: scenarios.EngineGo, Status: "timeout",
		Query: "engine=go&workers=8&lock=true", SourceName: "locks.go", Source: "package goengine\n",
	}
	doc := render(t, RunPage(v))
	app := byID(t, doc, "app")
	for key, want := range map[string]string{"data-page": "run", "data-run": "r123", "data-scenario": "locks", "data-engine": "go", "data-status": "timeout"} {
		if got, _ := attr(app, key); got != want {
			t.Errorf("#app %s = %q, want %q", key, got, want)
		}
	}
	again := byID(t, doc, "run-again")
	if href, _ := attr(again, "href"); href != "/s/locks?engine=go&workers=8&lock=true" {
		t.Errorf("run again href = %q", href)
	}
	if got := text(byID(t, doc, "status")); got != "timed out" {
		t.Errorf("status = %q, want timed out", got)
	}
	for _, id := range []string{"timeline-canvas", "summary", "output", "source", "permalink"} {
		byID(t, doc, id)
	}
	if len(find(doc, withAttr("id", "run"))) != 0 {
		t.Error("a run page has no Run button: it links to the scenario instead")
	}
}

func TestRunPageImportedAndPinned(t *testing.T) {
	v := RunView{RunID: "imp1", Scenario: scenarios.Scenario{ID: "import", Title: "Imported Go trace"}, Engine: "trace",
		Status: "done", Imported: true, Pinned: true, SourceVersion: "upload:abc123"}
	doc := render(t, RunPage(v))
	if len(find(doc, withAttr("id", "run-again"))) != 0 || len(find(doc, withAttr("id", "source"))) != 0 {
		t.Error("an imported trace offers to run again or shows a source it does not have")
	}
	if got, _ := attr(byID(t, doc, "app"), "data-imported"); got != "true" {
		t.Errorf("data-imported = %q, want true (the page shows the scheduler lanes)", got)
	}
	pin := byID(t, doc, "pin")
	if pressed, _ := attr(pin, "aria-pressed"); pressed != "true" || text(pin) != "Pinned" {
		t.Errorf("pin button = %q pressed %q, want Pinned, pressed", text(pin), pressed)
	}
	if href, _ := attr(byID(t, doc, "trace-link"), "href"); href != "/api/runs/imp1/trace.json" {
		t.Errorf("trace link = %q", href)
	}
	if got := text(byID(t, doc, "source-version")); got != "upload:abc123" {
		t.Errorf("source version = %q", got)
	}
}

func TestRunPageReplayBarAndExports(t *testing.T) {
	v := RunView{RunID: "r123", Scenario: locksScenario(), Engine: scenarios.EngineGo, Status: "done", Query: "engine=go"}
	doc := render(t, RunPage(v))

	bar := byID(t, doc, "replay")
	if _, hidden := attr(bar, "hidden"); !hidden {
		t.Error("the replay bar is shown before the page has the run's history")
	}
	for _, id := range []string{"replay-start", "replay-prev", "replay-play", "replay-next", "replay-end"} {
		b := byID(t, doc, id)
		if typ, _ := attr(b, "type"); b.DataAtom != atom.Button || typ != "button" || ancestor(b, withAttr("id", "replay")) == nil {
			t.Errorf("#%s is a <%s type=%q>, want a button in the replay bar", id, b.Data, typ)
		}
		if title, _ := attr(b, "title"); !strings.Contains(title, "(") {
			t.Errorf("#%s title %q does not name its key", id, title)
		}
	}
	scrub := byID(t, doc, "replay-scrub")
	if typ, _ := attr(scrub, "type"); typ != "range" || !labelled(doc, scrub) {
		t.Errorf("scrubber is type %q (labelled %v), want a labelled range", typ, labelled(doc, scrub))
	}
	if step, _ := attr(scrub, "step"); step != "any" {
		t.Errorf("scrubber step %q, want any (a link may point at any ns)", step)
	}
	speed := byID(t, doc, "replay-speed")
	var speeds, selected []string
	for _, o := range find(speed, func(n *html.Node) bool { return n.DataAtom == atom.Option }) {
		val, _ := attr(o, "value")
		speeds = append(speeds, val)
		if _, ok := attr(o, "selected"); ok {
			selected = append(selected, val)
		}
	}
	if !slices.Equal(speeds, []string{"0.1", "0.25", "0.5", "1", "2", "5", "10"}) || !slices.Equal(selected, []string{"1"}) || !labelled(doc, speed) {
		t.Errorf("speeds %v selected %v, want 0.1x to 10x with 1x selected, labelled", speeds, selected)
	}

	trace := byID(t, doc, "trace-link")
	if href, _ := attr(trace, "href"); href != "/api/runs/r123/trace.json" {
		t.Errorf("trace download href = %q", href)
	}
	if _, ok := attr(trace, "download"); !ok || !hasClass(trace, "button") || text(trace) != "Download trace.json" {
		t.Errorf("trace link %q (class button %v): want a Download trace.json button that downloads", text(trace), hasClass(trace, "button"))
	}
	for _, id := range []string{"save-png", "save-svg"} {
		b := byID(t, doc, id)
		if typ, _ := attr(b, "type"); typ != "button" || ancestor(b, withAttr("role", "toolbar")) == nil {
			t.Errorf("#%s: want a button in the timeline toolbar", id)
		}
	}

	// The new keys are in the "?" list.
	var keys []string
	for _, k := range find(byID(t, doc, "shortcuts"), func(n *html.Node) bool { return n.DataAtom == atom.Kbd }) {
		keys = append(keys, text(k))
	}
	for _, want := range []string{"space", ". / ,", "Home / End", "?"} {
		if !slices.Contains(keys, want) {
			t.Errorf("shortcut list %v lacks %q", keys, want)
		}
	}
}

func TestRecentRunsImportFormAndPages(t *testing.T) {
	coming := scenarios.Scenario{ID: "gil", Title: "The GIL"}
	v := RecentRunsView{
		Runs:     []RunRow{{ID: "r1", Scenario: "locks", Title: "Locks", Engine: "go", Status: "done", Events: 1234567, WallNS: 2e9}},
		Scenario: "locks", Scenarios: []scenarios.Scenario{locksScenario(), coming}, Engines: []string{"go", "python", "go-trace"},
		Next: "/runs?before=r1&scenario=locks", Before: "r9", MaxImportBytes: 32 << 20,
	}
	doc := render(t, RecentRuns(v))

	form := byID(t, doc, "import-form")
	for key, want := range map[string]string{"method": "post", "action": "/api/imports", "enctype": "multipart/form-data", "data-max-bytes": "33554432"} {
		if got, _ := attr(form, key); got != want {
			t.Errorf("import form %s = %q, want %q", key, got, want)
		}
	}
	file := byID(t, doc, "import-file")
	if typ, _ := attr(file, "type"); typ != "file" || ancestor(file, withAttr("id", "import-form")) == nil || !labelled(doc, file) {
		t.Errorf("want a labelled file input in the import form, got type %q", typ)
	}
	if name, _ := attr(file, "name"); name != "trace" {
		t.Errorf("file field is named %q; the server reads \"trace\"", name)
	}
	if typ, _ := attr(byID(t, doc, "import-submit"), "type"); typ != "submit" {
		t.Errorf("upload button type %q, want submit (the form works without JavaScript)", typ)
	}
	errBox := byID(t, doc, "import-error")
	if role, _ := attr(errBox, "role"); role != "alert" {
		t.Errorf("import error role %q, want alert", role)
	}
	if !strings.Contains(text(byID(t, doc, "import-help")), "32 MiB") {
		t.Errorf("the size limit is not said: %q", text(byID(t, doc, "import-help")))
	}

	if href, _ := attr(byID(t, doc, "runs-newest"), "href"); href != "/runs?scenario=locks" {
		t.Errorf("newest page link = %q, want the first page with the same filter", href)
	}
	next := byID(t, doc, "runs-next")
	if href, _ := attr(next, "href"); href != v.Next {
		t.Errorf("older page link = %q, want %q", href, v.Next)
	}
	var scenarioOptions []string
	for _, o := range find(byID(t, doc, "runs-scenario"), func(n *html.Node) bool { return n.DataAtom == atom.Option }) {
		val, _ := attr(o, "value")
		scenarioOptions = append(scenarioOptions, val)
		if _, sel := attr(o, "selected"); sel != (val == "locks") {
			t.Errorf("option %q selected=%v", val, sel)
		}
	}
	if !slices.Equal(scenarioOptions, []string{"", "locks", scenarios.CompareID, "import"}) {
		t.Errorf("scenario filter offers %v, want all, the scenarios that run, the comparisons and the imports", scenarioOptions)
	}
	byID(t, doc, "runs-clear")
	if got := text(find(byID(t, doc, "runs"), func(n *html.Node) bool { return n.DataAtom == atom.Td && hasClass(n, "num") })[1]); got != "1,234,567" {
		t.Errorf("events shown as %q, want 1,234,567", got)
	}

	v.Runs = nil
	if got := text(byID(t, render(t, RecentRuns(v)), "runs-empty")); !strings.Contains(got, "filters") {
		t.Errorf("an empty filtered list says %q; want it to say the filters match nothing", got)
	}
}
