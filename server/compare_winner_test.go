package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"interleave/scenarios"
)

// TestWinnersTellATieFromAWin: a difference within the measured noise is a
// tie, beyond it a win; wrong or unfinished models never win.
func TestWinnersTellATieFromAWin(t *testing.T) {
	row := func(model string, wallMS, cpuMS, mib float64, correct bool) ModelResult {
		return ModelResult{Model: model, Status: StatusDone, WallNS: int64(wallMS * 1e6), CPUNS: int64(cpuMS * 1e6), PeakRSSBytes: int64(mib * (1 << 20)), Correct: correct}
	}
	tests := []struct {
		name string
		rows []ModelResult
		win  map[string]string
		ties map[string][]string
	}{
		// The case: 425 ms against 426 ms was crowned "fastest".
		{"1 ms apart is a tie", []ModelResult{row("threads", 426, 40, 30, true), row("asyncio", 425, 60, 20, true)},
			map[string]string{"cpu": "threads", "memory": "asyncio"}, map[string][]string{"wall": {"asyncio", "threads"}}},
		{"well apart is a win", []ModelResult{row("sequential", 820, 810, 20, true), row("processes", 430, 1050, 60, true)},
			map[string]string{"wall": "processes", "cpu": "sequential", "memory": "sequential"}, map[string][]string{}},
		{"at the margin: 10 % is still a tie", []ModelResult{row("a", 400, 100, 20, true), row("b", 440, 200, 40, true)},
			map[string]string{"cpu": "a", "memory": "a"}, map[string][]string{"wall": {"a", "b"}}},
		{"just past the margin is a win", []ModelResult{row("a", 400, 100, 20, true), row("b", 441, 200, 40, true)},
			map[string]string{"wall": "a", "cpu": "a", "memory": "a"}, map[string][]string{}},
		{"tiny runs tie within the floor", []ModelResult{row("a", 3, 3, 20, true), row("b", 4.5, 3.1, 20.5, true)},
			map[string]string{}, map[string][]string{"wall": {"a", "b"}, "cpu": {"a", "b"}, "memory": {"a", "b"}}},
		{"a wrong model never wins", []ModelResult{row("fast-but-wrong", 100, 100, 10, false), row("right", 400, 400, 40, true)},
			map[string]string{"wall": "right", "cpu": "right", "memory": "right"}, map[string][]string{}},
		{"three way: only those near the best tie", []ModelResult{row("a", 400, 100, 20, true), row("b", 420, 300, 40, true), row("c", 460, 500, 60, true)},
			map[string]string{"cpu": "a", "memory": "a"}, map[string][]string{"wall": {"a", "b"}}},
		{"a busy machine widens the margin", []ModelResult{row("a", 400, 100, 20, true), loaded(row("b", 480, 300, 40, true), 0.5)},
			map[string]string{"cpu": "a", "memory": "a"}, map[string][]string{"wall": {"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			win, ties := winners(tt.rows, 2)
			if fmt.Sprint(win) != fmt.Sprint(tt.win) {
				t.Errorf("winners %v, want %v", win, tt.win)
			}
			if fmt.Sprint(ties) != fmt.Sprint(tt.ties) {
				t.Errorf("ties %v, want %v", ties, tt.ties)
			}
		})
	}
}

// loaded sets the other load measured while a model ran.
func loaded(r ModelResult, other float64) ModelResult {
	r.OtherLoad = other
	return r
}

// fakeModelRun is a finished run of one model with a summary.
func fakeModelRun(id string, wallMS float64) *Run {
	r := &Run{ID: id, Scenario: scenarios.CompareID, log: newRunLog(StatusDone), done: make(chan struct{})}
	r.summary, _ = json.Marshal(map[string]any{"wall_ns": int64(wallMS * 1e6), "cpu_ns": int64(wallMS * 1e6), "metrics": map[string]any{"peak_rss": map[string]any{"value": 20 << 20}}, "verdict": "v"})
	return r
}

// TestNoWinnerUntilEveryModelFinished: while a model is still to run, no
// model is starred and the rule of thumb is not judged; once all ran, the
// winner and the tie are named, and the rule judged against either.
func TestNoWinnerUntilEveryModelFinished(t *testing.T) {
	w, _ := scenarios.LookupWorkload("io")
	c := &Comparison{ID: "c", Workload: w, Engine: scenarios.EnginePython, Models: w.Models(), cores: 2, status: StatusRunning,
		runs: map[string]*Run{}, spans: map[string][2]time.Time{}}
	c.runs["sequential"] = fakeModelRun("r1", 3200)
	c.runs["threads"] = fakeModelRun("r2", 420)
	res := c.Result()
	if len(res.Winners) != 0 || len(res.Ties) != 0 || res.Rule.Measured != "" || len(res.Rule.Tied) != 0 || res.Rule.Agrees {
		t.Fatalf("with models still to run: winners %v ties %v rule %+v; want none", res.Winners, res.Ties, res.Rule)
	}
	c.runs["asyncio"] = fakeModelRun("r3", 425)
	c.runs["processes"] = fakeModelRun("r4", 900)
	c.runs["pool"] = fakeModelRun("r5", 700)
	c.status = StatusDone
	res = c.Result()
	if res.Winners["wall"] != "" || !slices.Equal(res.Ties["wall"], []string{"threads", "asyncio"}) {
		t.Errorf("threads 420 ms, asyncio 425 ms: winners %v ties %v; want a tie", res.Winners, res.Ties)
	}
	if !res.Rule.Agrees || !strings.Contains(res.Rule.Note, "A tie") || !slices.Equal(res.Rule.Tied, []string{"threads", "asyncio"}) {
		t.Errorf("rule %+v: want agreeing, with a note saying it is a tie", res.Rule)
	}
	if res.Noise["wall"] <= 0 {
		t.Errorf("noise %v: the margin is not reported", res.Noise)
	}
	c.status = StatusCancelled
	if res := c.Result(); len(res.Winners)+len(res.Ties) != 0 {
		t.Errorf("a cancelled comparison names winners %v ties %v", res.Winners, res.Ties)
	}
}

// TestEveryGuideLinkOpens follows every workload link of the guide's table
// on /compare, on both engines: each opens the page without an error, a
// model that does not apply to a workload being left out, not refused.
func TestEveryGuideLinkOpens(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, engine := range []string{scenarios.EnginePython, scenarios.EngineGo} {
		doc := getHTML(t, ts.URL+"/compare?engine="+engine, http.StatusOK)
		var links []string
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode || n.Data != "a" {
				continue
			}
			if href := attrOf(n, "href"); strings.HasPrefix(href, "/compare?") && strings.Contains(href, "workload=") {
				links = append(links, href)
			}
		}
		if len(links) != len(scenarios.Workloads) {
			t.Errorf("%s: %d workload links %v, want one per workload (%d)", engine, len(links), links, len(scenarios.Workloads))
		}
		for _, href := range links {
			page := getHTML(t, ts.URL+href, http.StatusOK)
			for n := range page.Descendants() {
				if n.Type == html.ElementNode && attrOf(n, "id") == "error" {
					t.Errorf("%s shows an error", href)
				}
			}
		}
	}
}

func getHTML(t *testing.T, url string, want int) *html.Node {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s = %d, want %d", url, resp.StatusCode, want)
	}
	doc, err := html.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
