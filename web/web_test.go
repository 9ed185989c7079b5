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
