package web

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"interleave/scenarios"
)

// render renders c and parses the result as an HTML document.
func render(t *testing.T, c templ.Component) *html.Node {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// attr returns the value of attribute key of n.
func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// find returns every element under n for which match is true, in document order.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

// byID returns the element with id, failing the test when there is not exactly one.
func byID(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	els := find(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(els) != 1 {
		t.Fatalf("want one element with id %q, found %d", id, len(els))
	}
	return els[0]
}

// withAttr matches elements with attribute key equal to val.
func withAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, ok := attr(n, key); return ok && v == val }
}

// text is the text content of n, with runs of space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// ancestor returns the nearest ancestor of n that matches, or nil.
func ancestor(n *html.Node, match func(*html.Node) bool) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && match(p) {
			return p
		}
	}
	return nil
}

// locksScenario has a param of every type.
func locksScenario() scenarios.Scenario {
	return scenarios.Scenario{
		ID: "locks", Title: "Locks: lost updates", Topic: "locks",
		Blurb:   "counter += 1 is read-modify-write.",
		Claim:   "counter += 1 is not atomic.",
		Notice:  []string{"Watch the counter track.", "Lock-wait spans queue up."},
		Engines: []string{scenarios.EngineGo, scenarios.EnginePython},
		Models:  map[string]string{scenarios.EngineGo: "The GIL is modelled by a global mutex."},
		Params: []scenarios.Param{
			scenarios.IntParam("workers", "Workers", 1, 64, 4, "How many workers."),
			scenarios.FloatParam("ratio", "Ratio", 0, 1, 0.5, "A share."),
			scenarios.BoolParam("lock", "Use a lock", false, "Guard the update."),
			scenarios.EnumParam("mode", "Mode", []string{"cpu", "io"}, "What each worker does."),
		},
	}
}

func scenarioView() ScenarioView {
	sc := locksScenario()
	return ScenarioView{
		Scenario:   sc,
		Engine:     scenarios.EngineGo,
		Params:     sc.ParamsFor(scenarios.EngineGo),
		Values:     map[string]string{"workers": "8", "ratio": "0.25", "lock": "true", "mode": "io"},
		SourceName: "locks.go",
		Source:     "package goengine\n\nfunc runLocks() { counter++ }\n",
		ModelNote:  sc.Models[scenarios.EngineGo],
	}
}

func TestScenarioPageForm(t *testing.T) {
	v := scenarioView()
	doc := render(t, ScenarioPage(v))

	form := byID(t, doc, "params")
	if got, _ := attr(form, "method"); got != "get" {
		t.Errorf("form method = %q, want get (the URL is the share link)", got)
	}
	if got, _ := attr(form, "action"); got != "/s/locks" {
		t.Errorf("form action = %q, want /s/locks", got)
	}

	// One control per param, named after it, labelled, filled from Values.
	for _, p := range v.Params {
		t.Run(p.Name, func(t *testing.T) {
			controls := find(form, withAttr("name", p.Name))
			if len(controls) != 1 {
				t.Fatalf("want one control named %q, found %d", p.Name, len(controls))
			}
			c := controls[0]
			if id, _ := attr(c, "id"); len(find(form, withAttr("for", id))) != 1 {
				t.Errorf("control %q has no label", p.Name)
			}
			if typ, _ := attr(c, "data-param-type"); typ != p.Type {
				t.Errorf("data-param-type = %q, want %q", typ, p.Type)
			}
			switch p.Type {
			case scenarios.TypeInt, scenarios.TypeFloat:
				if c.DataAtom != atom.Input {
					t.Fatalf("%s param is a <%s>, want <input>", p.Type, c.Data)
				}
				if typ, _ := attr(c, "type"); typ != "number" {
					t.Errorf("type = %q, want number", typ)
				}
				if val, _ := attr(c, "value"); val != v.Values[p.Name] {
					t.Errorf("value = %q, want %q", val, v.Values[p.Name])
				}
				minV, _ := attr(c, "min")
				maxV, _ := attr(c, "max")
				if minV != formatNumber(*p.Min) || maxV != formatNumber(*p.Max) {
					t.Errorf("bounds = [%s, %s], want [%v, %v]", minV, maxV, *p.Min, *p.Max)
				}
			case scenarios.TypeBool, scenarios.TypeEnum:
				if c.DataAtom != atom.Select {
					t.Fatalf("%s param is a <%s>, want <select> (a checkbox cannot send false)", p.Type, c.Data)
				}
				var values, selected []string
				for _, o := range find(c, func(n *html.Node) bool { return n.DataAtom == atom.Option }) {
					val, _ := attr(o, "value")
					values = append(values, val)
					if _, ok := attr(o, "selected"); ok {
						selected = append(selected, val)
					}
				}
				want := p.Options
				if p.Type == scenarios.TypeBool {
					want = []string{"true", "false"}
				}
				if !slices.Equal(values, want) {
					t.Errorf("options = %v, want %v", values, want)
				}
				if !slices.Equal(selected, []string{v.Values[p.Name]}) {
					t.Errorf("selected = %v, want [%s]", selected, v.Values[p.Name])
				}
			}
		})
	}

	// The engine travels with the form; with two engines it is a choice.
	engine := find(form, withAttr("name", "engine"))
	if len(engine) != 1 || engine[0].DataAtom != atom.Select {
		t.Fatalf("want one engine <select> for a scenario with two engines, found %d", len(engine))
	}
	submit := byID(t, doc, "update-link")
	if typ, _ := attr(submit, "type"); typ != "submit" || text(submit) != "Update link" {
		t.Errorf("submit button = %q type %q, want \"Update link\" type submit", text(submit), typ)
	}
	if ancestor(submit, withAttr("id", "params")) == nil {
		t.Error("the Update link button is outside the form")
	}
	if len(find(doc, withAttr("id", "error"))) != 0 {
		t.Error("an error is shown although the view has none")
	}
}

func TestScenarioPageError(t *testing.T) {
	tests := []struct {
		name, field, msg string
		// inField says whether the error sits inside the field's box (the
		// field has a control) or above the form (it does not).
		inField bool
	}{
		{"out of range", "workers", "workers: 99 is not allowed; want a whole number from 1 to 64", true},
		{"not an option", "mode", "mode: gpu is not allowed; want one of cpu, io", true},
		{"engine", "engine", "engine: rust is not available for this scenario; want one of go, python", true},
		{"unknown param", "wrokers", "wrokers: unknown param; this scenario takes workers, ratio, lock, mode", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := scenarioView()
			v.Error, v.Field = tt.msg, tt.field
			doc := render(t, ScenarioPage(v))
			e := byID(t, doc, "error")
			if role, _ := attr(e, "role"); role != "alert" {
				t.Errorf("error role = %q, want alert", role)
			}
			if f, _ := attr(e, "data-field"); f != tt.field {
				t.Errorf("error data-field = %q, want %q", f, tt.field)
			}
			got := text(e)
			saysWhy := strings.Contains(got, "not allowed") || strings.Contains(got, "not available") || strings.Contains(got, "unknown")
			if !strings.HasPrefix(got, tt.field+":") || !saysWhy {
				t.Errorf("error text = %q, want it to name %q and say what is wrong", got, tt.field)
			}
			box := ancestor(e, withAttr("data-param", tt.field))
			if tt.inField && box == nil {
				t.Errorf("error is not next to the field %q", tt.field)
			}
			if !tt.inField && ancestor(e, withAttr("id", "params")) == nil {
				t.Errorf("error for an unknown field is not shown with the form")
			}
			if tt.inField && tt.field != "engine" {
				control := find(box, withAttr("name", tt.field))[0]
				if inv, _ := attr(control, "aria-invalid"); inv != "true" {
					t.Errorf("control aria-invalid = %q, want true", inv)
				}
				if by, _ := attr(control, "aria-describedby"); !strings.Contains(by, "error") {
					t.Errorf("control aria-describedby = %q, want it to include the error", by)
				}
			}
		})
	}
}

func TestScenarioPageParts(t *testing.T) {
	v := scenarioView()
	doc := render(t, ScenarioPage(v))

	app := byID(t, doc, "app")
	for key, want := range map[string]string{"data-page": "scenario", "data-scenario": "locks", "data-engine": "go"} {
		if got, _ := attr(app, key); got != want {
			t.Errorf("#app %s = %q, want %q", key, got, want)
		}
	}
	for _, id := range []string{"run", "cancel", "status", "timeline", "timeline-canvas", "legend", "summary", "metrics", "verdict", "output", "permalink", "sched-toggle", "follow", "zoom-in", "zoom-out", "fit"} {
		byID(t, doc, id)
	}
	if _, disabled := attr(byID(t, doc, "run"), "disabled"); disabled {
		t.Error("Run is disabled although the engine is available")
	}

	code := find(byID(t, doc, "source"), func(n *html.Node) bool { return n.DataAtom == atom.Code })
	if len(code) != 1 || code[0].Parent.DataAtom != atom.Pre {
		t.Fatal("want the source in <pre><code>")
	}
	if got := code[0].FirstChild.Data; got != v.Source {
		t.Errorf("source = %q, want it verbatim %q", got, v.Source)
	}
	if !strings.Contains(text(doc), v.SourceName) {
		t.Errorf("the source file name %q is not shown", v.SourceName)
	}

	claim := text(ancestor(find(doc, withAttr("id", "claim-title"))[0], func(n *html.Node) bool { return n.DataAtom == atom.Section }))
	for _, want := range append([]string{v.Scenario.Claim}, v.Scenario.Notice...) {
		if !strings.Contains(claim, want) {
			t.Errorf("claim section lacks %q", want)
		}
	}

	note := byID(t, doc, "model-note")
	if !strings.Contains(text(note), "model") {
		t.Errorf("model note %q does not say it is a model", text(note))
	}
	if len(find(note, withAttr("href", "/s/locks?engine=python"))) != 1 {
		t.Error("model note does not link to the CPython version")
	}

	scripts := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Script })
	if len(scripts) != 1 {
		t.Fatalf("want one script, found %d", len(scripts))
	}
	typ, _ := attr(scripts[0], "type")
	src, _ := attr(scripts[0], "src")
	if typ != "module" || !strings.HasPrefix(src, "/static/app.js") {
		t.Errorf("script type=%q src=%q, want a module from /static/app.js", typ, src)
	}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("inline handler %s on <%s>: the page is served with a strict CSP", a.Key, n.Data)
			}
		}
	}
}

func TestScenarioPageEngineUnavailable(t *testing.T) {
	v := scenarioView()
	v.Engine = scenarios.EnginePython
	v.ModelNote = ""
	v.EngineError = "python3 not found: install it with apt-get install python3"
	doc := render(t, ScenarioPage(v))
	if _, disabled := attr(byID(t, doc, "run"), "disabled"); !disabled {
		t.Error("Run is enabled although the engine is unavailable")
	}
	msg := byID(t, doc, "engine-error")
	if role, _ := attr(msg, "role"); role != "alert" || !strings.Contains(text(msg), "apt-get install python3") {
		t.Errorf("engine error = %q (role %q), want the reason as an alert", text(msg), role)
	}
	if len(find(doc, withAttr("id", "model-note"))) != 0 {
		t.Error("a model note is shown without ModelNote")
	}
}

func TestCatalog(t *testing.T) {
	coming := scenarios.Scenario{ID: "gil", Title: "The GIL", Topic: "GIL", Blurb: "One thread at a time."}
	v := CatalogView{
		Scenarios:    []scenarios.Scenario{locksScenario(), coming},
		EngineErrors: map[string]string{scenarios.EnginePython: "python3 not found: install it with apt-get install python3"},
	}
	doc := render(t, Catalog(v))

	locks := byID(t, doc, "topic-locks")
	for _, href := range []string{"/s/locks?engine=go", "/s/locks?engine=python"} {
		if len(find(locks, withAttr("href", href))) == 0 {
			t.Errorf("no link to %s", href)
		}
	}
	gil := byID(t, doc, "topic-gil")
	if !strings.Contains(text(gil), "coming") {
		t.Errorf("a topic without engines should say coming, got %q", text(gil))
	}
	if len(find(gil, func(n *html.Node) bool { return n.DataAtom == atom.A })) != 0 {
		t.Error("a coming topic links somewhere")
	}
	compare := byID(t, doc, "topic-compare")
	if len(find(compare, withAttr("href", "/compare"))) != 1 || strings.Contains(text(compare), "coming") {
		t.Error("the decision matrix is not linked")
	}
	if !strings.Contains(text(doc), "apt-get install python3") {
		t.Error("engine errors are not shown")
	}
}

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

// hasClass reports whether n has class c.
func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), c)
}

// labelled reports whether a control has a <label for> in doc.
func labelled(doc, control *html.Node) bool {
	id, _ := attr(control, "id")
	return id != "" && len(find(doc, func(n *html.Node) bool { v, ok := attr(n, "for"); return n.DataAtom == atom.Label && ok && v == id })) == 1
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

func TestErrorPage(t *testing.T) {
	doc := render(t, ErrorPage(ErrorView{Status: 404, Title: "Not Found", Message: "run abc does not exist"}))
	h1 := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.H1 })
	if len(h1) != 1 || text(h1[0]) != "Not Found" {
		t.Fatalf("want one h1 Not Found")
	}
	if !strings.Contains(text(doc), "run abc does not exist") || len(find(doc, withAttr("href", "/"))) == 0 {
		t.Error("the error page lacks the message or the way home")
	}
}

// TestPreview writes every page to $INTERLEAVE_PREVIEW_DIR to look at them
// in a browser (with static/ next to them); it does nothing otherwise.
func TestPreview(t *testing.T) {
	dir := os.Getenv("INTERLEAVE_PREVIEW_DIR")
	if dir == "" {
		t.Skip("set INTERLEAVE_PREVIEW_DIR to write the pages")
	}
	bad := scenarioView()
	bad.Error, bad.Field = "workers: 99 is not allowed; want a whole number from 1 to 64", "workers"
	pages := map[string]templ.Component{
		"catalog.html":  Catalog(CatalogView{Scenarios: scenarios.All(), EngineErrors: map[string]string{"python": "python3 not found"}}),
		"scenario.html": ScenarioPage(scenarioView()),
		"bad-link.html": ScenarioPage(bad),
		"run.html":      RunPage(RunView{RunID: "r1", Scenario: locksScenario(), Engine: "go", Status: "done", Query: "engine=go"}),
		"runs.html":     RecentRuns(RecentRunsView{Scenarios: scenarios.All(), Engines: []string{"go", "python", "go-trace"}, MaxImportBytes: 32 << 20}),
		"compare.html":  ComparePage(compareView()),
		"error.html":    ErrorPage(ErrorView{Status: 404, Title: "Not Found", Message: "no such run"}),
	}
	for name, c := range pages {
		var buf bytes.Buffer
		if err := c.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
