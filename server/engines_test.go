package server

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/pyengine"
)

// freeThreadedEngine is the python-ft engine as the server discovers it
// (python3.14t, python3.13t on PATH), skipping, or failing when
// INTERLEAVE_REQUIRE_PYTHON_FT=1, when there is none.
func freeThreadedEngine(t *testing.T) scenarios.Engine {
	t.Helper()
	ft, _, err := pyengine.NewFreeThreaded(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	if err := ft.Available(); err != nil {
		if os.Getenv("INTERLEAVE_REQUIRE_PYTHON_FT") == "1" {
			t.Fatalf("INTERLEAVE_REQUIRE_PYTHON_FT=1 but python-ft is unavailable: %v", err)
		}
		t.Skipf("python-ft unavailable (set INTERLEAVE_REQUIRE_PYTHON_FT=1 to fail instead): %v", err)
	}
	return ft
}

// missingFreeThreaded is python-ft on a machine without a free-threaded
// CPython.
func missingFreeThreaded(t *testing.T) scenarios.Engine {
	t.Helper()
	ft, _, err := pyengine.NewFreeThreaded([]string{"/nonexistent/python3.14t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	return ft
}

func (ts *testServer) engines(t *testing.T) map[string]scenarios.EngineInfo {
	t.Helper()
	resp, err := http.Get(ts.URL + "/api/engines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/engines = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var list []scenarios.EngineInfo
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]scenarios.EngineInfo{}
	var order []string
	for _, in := range list {
		out[in.ID] = in
		order = append(order, in.ID)
	}
	t.Logf("engines %v: %+v", order, list)
	return out
}

func TestEnginesWithoutAFreeThreadedPython(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t), missingFreeThreaded(t))
	got := ts.engines(t)
	ft, ok := got[scenarios.EnginePythonFT]
	if !ok || ft.Available || ft.GIL || !strings.Contains(ft.Why, "uv python install 3.14t") {
		t.Errorf("python-ft = %+v, want unavailable, no GIL, and how to get one", ft)
	}
	if py := got[scenarios.EnginePython]; !py.Available || !py.GIL || py.Version == "" {
		t.Errorf("python = %+v, want available with the GIL and its version", py)
	}
	if g := got[scenarios.EngineGo]; !g.Available || g.GIL {
		t.Errorf("go = %+v, want available without a GIL", g)
	}
	// The scenarios list python-ft where they support it, with why it cannot run.
	resp, err := http.Get(ts.URL + "/api/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []scenarioJSON
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, sc := range list {
		if sc.HasEngine(scenarios.EnginePython) && (!sc.HasEngine(scenarios.EnginePythonFT) || sc.Unavailable[scenarios.EnginePythonFT] == "") {
			t.Errorf("%s: engines %v, unavailable %v: want python-ft listed, with why not", sc.ID, sc.Engines, sc.Unavailable)
		}
	}
	code, out, _ := ts.post(t, `{"scenario":"threads","engine":"python-ft"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(out["error"].(string), "uv python install") {
		t.Errorf("a python-ft run without the interpreter = %d %v, want 503 saying how to get one", code, out)
	}
	// The page still opens, with the badge and the reason.
	page := getHTML(t, ts.URL+"/s/threads?engine=python-ft", http.StatusOK)
	if b := badge(page); b == nil || !strings.Contains(readerText(b.Parent), "not available here") {
		t.Errorf("the python-ft page does not say the engine is not available here")
	}
}

func TestEnginesWithAFreeThreadedPython(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t), freeThreadedEngine(t))
	ft := ts.engines(t)[scenarios.EnginePythonFT]
	if !ft.Available || ft.GIL || ft.Version == "" || ft.Label != "CPython "+ft.Version+" · free-threaded: no GIL" {
		t.Errorf("python-ft = %+v, want available, no GIL, its version in the label", ft)
	}
	// The badge, and the same run on the other build in one click.
	page := getHTML(t, ts.URL+"/s/locks?engine=python-ft&variant=naive&increments=100000", http.StatusOK)
	b := badge(page)
	if b == nil || readerText(b) != ft.Label || attrOf(b, "data-gil") != "no" {
		t.Errorf("badge %v, want %q without a GIL", b, ft.Label)
	}
	other := elementByID(page, "other-build")
	if other == nil {
		t.Fatal("no link to the same run on the other build")
	}
	href := attrOf(other, "href")
	for _, want := range []string{"engine=python&", "variant=naive", "increments=100000"} {
		if !strings.Contains(href+"&", want) {
			t.Errorf("other build link %q lacks %q", href, want)
		}
	}
	// A run on python-ft goes through the server like any other.
	id := ts.start(t, `{"scenario":"locks","engine":"python-ft","params":{"variant":"naive","workers":4,"increments":100000}}`)
	info := waitStatus(t, ts, id, StatusDone)
	var sum event.Summary
	if err := json.Unmarshal(info.Summary, &sum); err != nil || sum.Verdict == "" {
		t.Fatalf("no summary (%v): %s", err, info.Summary)
	}
	t.Logf("python-ft locks: %s", sum.Verdict)
	if sum.Metrics["lost"].Value > 0 && !strings.Contains(sum.Verdict, "with no GIL") {
		t.Errorf("verdict %q, want it to say the updates were lost with no GIL", sum.Verdict)
	}
	run := getHTML(t, ts.URL+"/r/"+id, http.StatusOK)
	if b := badge(run); b == nil || readerText(b) != ft.Label {
		t.Errorf("the run page's badge is not %q", ft.Label)
	}
	if o := elementByID(run, "other-build"); o == nil || !strings.Contains(attrOf(o, "href"), "engine=python&") && !strings.HasSuffix(attrOf(o, "href"), "engine=python") {
		t.Errorf("the run page does not link the same run on the GIL build")
	}
}

// badge is the page's engine badge.
func badge(doc *html.Node) *html.Node {
	for d := range doc.Descendants() {
		if d.Type == html.ElementNode && strings.Contains(" "+attrOf(d, "class")+" ", " engine-badge ") {
			return d
		}
	}
	return nil
}
