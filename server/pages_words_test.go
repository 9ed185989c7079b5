package server

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"interleave/scenarios"
)

// goWords are words that belong to the go engine: none may appear on a
// CPython page (its form, its copy, its source), where the workers are
// threads and the encoding is pickle.
var goWords = regexp.MustCompile(`(?i)goroutine|GOMAXPROCS|\bgob\b|sync\.Mutex|runtime/trace|Go scheduler|\bP \(core\)`)

// TestScenarioPagesSpeakTheEnginesWords renders every scenario page on both
// engines, as a learner opens it: a CPython page has no Go words, the go
// page alone offers the real scheduler, and the link to where the claim's
// rule breaks is there and opens.
func TestScenarioPagesSpeakTheEnginesWords(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	for _, sc := range scenarios.All() {
		for _, engine := range sc.Engines {
			t.Run(sc.ID+"/"+engine, func(t *testing.T) {
				doc := getHTML(t, ts.URL+"/s/"+sc.ID+"?engine="+engine, http.StatusOK)
				app := elementByID(doc, "app")
				if app == nil {
					t.Fatal("no #app")
				}
				content := readerText(app)
				if engine == scenarios.EnginePython {
					if m := goWords.FindAllString(content, -1); len(m) > 0 {
						i := goWords.FindStringIndex(content)
						t.Errorf("the CPython page speaks of Go: %q, e.g. %q", m, content[max(0, i[0]-80):min(len(content), i[1]+80)])
					}
				}
				if has := elementByID(doc, "sched-toggle") != nil; has != (engine == scenarios.EngineGo) {
					t.Errorf("the real Go scheduler toggle is shown: %v, on %s", has, engine)
				}
				if sc.ID == scenarios.CompareID {
					return
				}
				link := elementByID(doc, "breaks-link")
				if link == nil {
					t.Fatal("no link to where the claim's rule breaks")
				}
				href := attrOf(link, "href")
				if want := "/s/" + sc.ID + "?" + sc.BreaksQuery(engine); href != want {
					t.Errorf("breaks link %q, want %q", href, want)
				}
				if !strings.Contains(href, "engine="+engine) {
					t.Errorf("breaks link %q leaves the engine", href)
				}
				page := getHTML(t, ts.URL+href, http.StatusOK)
				if elementByID(page, "error") != nil {
					t.Errorf("%s opens with an error", href)
				}
			})
		}
	}
}

func elementByID(n *html.Node, id string) *html.Node {
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && attrOf(d, "id") == id {
			return d
		}
	}
	return nil
}

// readerText is the text of n and of the attributes a reader meets (titles,
// labels), with runs of space collapsed.
func readerText(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		switch d.Type {
		case html.TextNode:
			b.WriteString(d.Data)
			b.WriteByte(' ')
		case html.ElementNode:
			for _, a := range d.Attr {
				if a.Key == "title" || a.Key == "aria-label" || a.Key == "placeholder" {
					b.WriteString(a.Val)
					b.WriteByte(' ')
				}
			}
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
