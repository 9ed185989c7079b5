package web

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"interleave/scenarios"
)

// shortcut is one line of the keyboard-shortcut list.
type shortcut struct{ Keys, Action string }

// keyboardShortcuts are handled by static/app.js; keep the two in sync.
var keyboardShortcuts = []shortcut{
	{"+ / -", "zoom in / out"},
	{"← / →", "pan in time"},
	{"↑ / ↓", "scroll the lanes"},
	{"0", "fit the whole run"},
	{"f", "follow the live end of the run (on while running; panning turns it off)"},
	{"s", "show the real Go scheduler lanes"},
	{"l", "large type (for projectors)"},
	{"?", "show or hide this list"},
}

// legendEntry is a lane state and what it means.
type legendEntry struct{ State, Meaning string }

// stateLegend lists the states of the event protocol in the order the
// legend shows them; static/palette.js gives each its colour and pattern.
var stateLegend = []legendEntry{
	{"running", "executing code on a core"},
	{"runnable", "ready, waiting for a core"},
	{"gil-wait", "waiting for the GIL"},
	{"lock-wait", "waiting for a lock"},
	{"io", "waiting for I/O"},
	{"sleep", "sleeping"},
	{"syscall", "in a system call"},
	{"blocked", "blocked (channel, queue, join)"},
	{"idle", "nothing to do"},
}

// engineLabel is how an engine is named to a reader.
func engineLabel(engine string) string {
	switch engine {
	case scenarios.EngineGo:
		return "Go"
	case scenarios.EnginePython:
		return "CPython"
	case "go-trace":
		return "an imported Go trace"
	}
	return engine
}

// scenarioPath is the scenario page without a query: the form's action.
func scenarioPath(id string) templ.SafeURL {
	return templ.SafeURL("/s/" + url.PathEscape(id))
}

// scenarioURL is the scenario page with an engine chosen.
func scenarioURL(id, engine string) templ.SafeURL {
	return templ.SafeURL("/s/" + url.PathEscape(id) + "?engine=" + url.QueryEscape(engine))
}

// runURL is a run's permalink.
func runURL(id string) templ.SafeURL {
	return templ.SafeURL("/r/" + url.PathEscape(id))
}

// traceURL is a run's Chrome Trace Event JSON.
func traceURL(id string) templ.SafeURL {
	return templ.SafeURL("/api/runs/" + url.PathEscape(id) + "/trace.json")
}

// runTitle is the title of a run's page.
func runTitle(v RunView) string {
	if v.Imported {
		return "Run " + v.RunID + " · Imported Go trace"
	}
	return "Run " + v.RunID + " · " + v.Scenario.Title
}

// boolString writes a bool for an attribute.
func boolString(b bool) string { return strconv.FormatBool(b) }

// runAgainURL is the scenario page with the settings of a run; query is
// already encoded by the server.
func runAgainURL(id, query string) templ.SafeURL {
	u := "/s/" + url.PathEscape(id)
	if query != "" {
		u += "?" + query
	}
	return templ.SafeURL(u)
}

// sortedKeys returns the keys of m in order, so pages render the same way
// every time.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describedBy links a control to its help, and to the error when it is the
// field the link got wrong.
func describedBy(name string, invalid bool) string {
	if invalid {
		return "help-" + name + " error"
	}
	return "help-" + name
}

// boolValue reads a bool as the server does; anything unrecognised is false.
func boolValue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "1", "yes":
		return true
	}
	return false
}

// numberInputType is "number", unless the link's value is not a number at
// all: a number input would show it empty and hide the mistake.
func numberInputType(value string) string {
	if _, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil && value != "" {
		return "text"
	}
	return "number"
}

// inputMode picks the on-screen keyboard for a number.
func inputMode(typ string) string {
	if typ == scenarios.TypeInt {
		return "numeric"
	}
	return "decimal"
}

// numberStep is the step of a number input: whole numbers for ints.
func numberStep(typ string) string {
	if typ == scenarios.TypeInt {
		return "1"
	}
	return "any"
}

// formatNumber writes a bound without a trailing ".0" or an exponent.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// trimFieldPrefix drops the "field: " that a ParamError message starts
// with, since the page prints the field name itself.
func trimFieldPrefix(msg, field string) string {
	return strings.TrimPrefix(msg, field+": ")
}

// statusText is a run status as the status line says it.
func statusText(status string) string {
	switch status {
	case "timeout":
		return "timed out"
	case "":
		return "unknown"
	}
	return status
}

// fieldShown reports whether the form has a control for the field named in
// the error, so the error is shown next to it rather than above the form.
func (v ScenarioView) fieldShown() bool {
	if v.Field == "engine" {
		return len(v.Scenario.Engines) > 1
	}
	return slices.ContainsFunc(v.Params, func(p scenarios.Param) bool { return p.Name == v.Field })
}
