package server

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// alertText is the text of a page's role="alert" elements: where a page
// says what was wrong with the link.
func alertText(t *testing.T, body []byte) string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var text func(*html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "role" && a.Val == "alert" {
					if s := strings.Join(strings.Fields(text(n)), " "); s != "" {
						out = append(out, s)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.Join(out, " | ")
}

// goInternals matches what a message must never show a user: Go values,
// Go type names and the JSON package's own words.
var goInternals = regexp.MustCompile(`<nil>|Go (value|struct)|server\.|scenarios\.|map\[|interface ?\{|\[\]|float64|int64|json:|\[[a-z-]+ [a-z-]+\]|%!`)

// TestOneInputRuleEverywhere sends the same kinds of bad input to every
// route that takes input (the share link /s/, the run and comparison APIs,
// the lists and the matrix page) and checks each answer names the field
// and what it wants, in words.
func TestOneInputRuleEverywhere(t *testing.T) {
	ts := newTestServer(t, nil)
	type tc struct {
		method, path, body string
		want               string
	}
	repeated := []tc{
		{"GET", "/s/locks?workers=2&workers=3", "", "workers: given 2 times; give it once"},
		{"GET", "/s/locks?engine=go&engine=go", "", "engine: given 2 times; give it once"},
		{"GET", "/api/runs?limit=1&limit=2", "", "limit: given 2 times; give it once"},
		{"GET", "/runs?scenario=locks&scenario=gil", "", "scenario: given 2 times; give it once"},
		{"GET", "/compare?workers=2&workers=3", "", "workers: given 2 times; give it once"},
		{"GET", "/api/compare?size=small&size=large&workload=cpu", "", "size: given 2 times; give it once"},
		{"POST", "/api/runs", `{"scenario":"locks","scenario":"gil"}`, "scenario: given 2 times; give it once"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":2,"workers":3}}`, "workers: given 2 times; give it once"},
		{"POST", "/api/compare", `{"workload":"cpu","workload":"io"}`, "workload: given 2 times; give it once"},
	}
	unknown := []tc{
		{"GET", "/s/locks?colour=red", "", "colour: unknown param; want one of engine, workers"},
		{"GET", "/api/runs?colour=red", "", "colour: unknown param; want one of scenario, engine, before, limit"},
		{"GET", "/runs?colour=red", "", "colour: unknown param; want one of scenario, engine, before, limit"},
		{"GET", "/compare?colour=red", "", "colour: unknown param; want one of workload, engine, size, workers"},
		{"GET", "/compare/abc?colour=red", "", "colour: unknown param; none are allowed here"},
		{"GET", "/api/compare?colour=red", "", "colour: unknown param; want one of workload, engine, size, workers"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"colour":1}}`, "colour: unknown param; want one of workers"},
		{"POST", "/api/runs", `{"Scenario":"locks"}`, "Scenario: unknown field; want one of scenario, engine, params, deadline_ms"},
		{"POST", "/api/compare", `{"workload":"cpu","colour":1}`, "colour: unknown field; want one of workload, engine, size, workers"},
	}
	numbers := []tc{
		{"POST", "/api/runs", `{"scenario":"locks","deadline_ms":9223372036854775807}`, "deadline_ms: 9223372036854775807 is not allowed; want a whole number from 100 to 60000"},
		{"POST", "/api/runs", `{"scenario":"locks","deadline_ms":-9223372036854775808}`, "deadline_ms: -9223372036854775808 is not allowed; want a whole number from 100 to 60000"},
		{"POST", "/api/runs", `{"scenario":"locks","deadline_ms":1e30}`, "deadline_ms: 1e30 is not allowed; want a whole number from 100 to 60000"},
		{"POST", "/api/runs", `{"scenario":"locks","deadline_ms":150.5}`, "deadline_ms: 150.5 is not allowed; want a whole number from 100 to 60000"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":1e400}}`, "workers: 1e400 is not allowed; want a whole number from 1 to 64"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":18446744073709551617}}`, "workers: 18446744073709551617 is not allowed; want a whole number from 1 to 64"},
		{"GET", "/s/locks?workers=99999999999999999999999", "", "workers: 99999999999999999999999 is not allowed; want a whole number from 1 to 64"},
		{"GET", "/s/locks?workers=0x10", "", "workers: 0x10 is not allowed; want a whole number from 1 to 64"},
		{"GET", "/s/locks?workers=Inf", "", "workers: Inf is not allowed; want a whole number from 1 to 64"},
		{"GET", "/api/runs?limit=99999999999999999999", "", "limit: 99999999999999999999 is not allowed; want a whole number from 1 to 200"},
		{"GET", "/compare?workers=9223372036854775808", "", "workers: 9223372036854775808 is not allowed; want a whole number from 1 to 64"},
		{"GET", "/api/compare?workload=cpu&workers=-9223372036854775809", "", "workers: -9223372036854775809 is not allowed; want a whole number from 1 to 64"},
		{"POST", "/api/compare", `{"workload":"cpu","workers":1e30}`, "workers: 1e30 is not allowed; want a whole number from 1 to 64"},
	}
	empty := []tc{
		{"GET", "/s/locks?workers=", "", "workers: empty; want a whole number from 1 to 64"},
		{"GET", "/s/mental-model?mode=", "", "mode: empty; want one of"},
		{"GET", "/compare?workers=", "", "workers: empty; want a whole number from 1 to 64"},
		{"GET", "/api/runs?limit=", "", "limit: empty; want a whole number from 1 to 200"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":""}}`, "workers: empty; want a whole number from 1 to 64"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":"  "}}`, "workers: empty; want a whole number from 1 to 64"},
		{"POST", "/api/runs", `{"scenario":""}`, "scenario: empty; want one of the ids of GET /api/scenarios"},
		{"POST", "/api/runs", ``, "body: empty; want a JSON object"},
		{"POST", "/api/compare", `{"workload":""}`, "workload: empty; want one of cpu, io"},
	}
	words := []tc{
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":null}}`, "workers: null is not allowed; want a whole number from 1 to 64"},
		{"POST", "/api/runs", `[]`, `body: want a JSON object {"scenario", "engine", "params", "deadline_ms"}, got a list`},
		{"POST", "/api/runs", `"locks"`, `body: want a JSON object {"scenario", "engine", "params", "deadline_ms"}, got a string`},
		{"POST", "/api/runs", `{"scenario":5}`, "scenario: want a string, got a number"},
		{"POST", "/api/runs", `{"scenario":"locks","params":[1]}`, "params: want an object of names and values, got a list"},
		{"POST", "/api/runs", `{"scenario":"locks","params":{"workers":{"a":1}}}`, "workers: an object is not allowed; want a whole number from 1 to 64"},
		{"POST", "/api/runs", `{"scenario":"locks","engine":"rust"}`, "engine: rust is not available for locks; want one of go"},
		{"POST", "/api/runs", `{"scenario":"locks"} {}`, "body: want one JSON object and nothing after it"},
		{"POST", "/api/runs", `{"scenario":`, "body: not valid JSON: it ends early"},
		{"POST", "/api/runs", `{"scenario":"locks",}`, "body: not valid JSON at byte 21 (unexpected })"},
		{"POST", "/api/compare", `{"workload":"cpu","workers":"many"}`, "workers: many is not allowed; want a whole number from 1 to 64"},
		{"POST", "/api/compare", `{"workload":"cpu","size":7}`, "size: want a string, got a number"},
		{"POST", "/api/compare", `{"workload":"gpu"}`, "workload: gpu is not allowed; want one of cpu, io"},
		{"GET", "/s/locks?workers=%zz", "", "query: the link cannot be read"},
	}
	for _, group := range []struct {
		name  string
		cases []tc
	}{{"repeated keys", repeated}, {"unknown names", unknown}, {"numbers that overflow", numbers}, {"empty fields", empty}, {"words, not Go", words}} {
		t.Run(group.name, func(t *testing.T) {
			for _, c := range group.cases {
				var h http.Header
				if c.method == "POST" {
					h = http.Header{"Content-Type": {"application/json"}}
				}
				code, rh, body := ts.request(t, c.method, c.path, h, c.body)
				var msg string
				if strings.HasPrefix(c.path, "/api/") {
					msg = apiError(t, rh, body)
				} else {
					msg = alertText(t, body)
				}
				if code != http.StatusBadRequest || !strings.Contains(msg, c.want) {
					t.Errorf("%s %s %s = %d %q, want 400 saying %q", c.method, c.path, c.body, code, msg, c.want)
				}
				if m := goInternals.FindString(msg); m != "" {
					t.Errorf("%s %s %s: message %q shows Go internals (%q)", c.method, c.path, c.body, msg, m)
				}
			}
		})
	}
}
