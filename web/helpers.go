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
	{"f", "follow the live end of the run (on while running; panning turns it off); in a workshop room, follow the presenter again, or stop following"},
	{"s", "show the real scheduler lanes (on the Go engine)"},
	{"space", "play or pause the replay of a finished run"},
	{". / ,", "next / previous event (of the selected lane, if one is selected); also ] / ["},
	{"Home / End", "replay from the start / show the whole run"},
	{"1 – 9", "in a step run: let that thread run one line"},
	{"l", "large type (for projectors)"},
	{"?", "show or hide this list"},
}

// replaySpeeds are the speeds of a run's replay, as static/replay.js
// offers them (keep the two in sync); 1 is real time.
var replaySpeeds = []string{"0.1", "0.25", "0.5", "1", "2", "5", "10"}

// legendEntry is a lane state and what it means.
type legendEntry struct{ State, Meaning string }

// stateLegend lists the states of the event protocol in the order the
// legend shows them; static/palette.js gives each its colour and pattern.
var stateLegend = []legendEntry{
	{"running", "executing code on a core"},
	{"active", "in progress: on a core or waiting for one, not recorded"},
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
	if parts := strings.Split(engine, ","); len(parts) > 1 {
		// Several engines side by side (a comparison's engine field).
		labels := make([]string, len(parts))
		for i, p := range parts {
			labels[i] = engineLabel(p)
		}
		return strings.Join(labels, " + ")
	}
	switch engine {
	case scenarios.EngineGo:
		return "Go"
	case scenarios.EnginePython:
		return "CPython"
	case scenarios.EnginePythonFT:
		return "CPython, free-threaded"
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

// breaksURL is the scenario page on engine with the settings where its
// claim's rule breaks.
func breaksURL(s scenarios.Scenario, engine string) templ.SafeURL {
	return templ.SafeURL("/s/" + url.PathEscape(s.ID) + "?" + s.BreaksQuery(engine))
}

// runURL is a run's permalink.
func runURL(id string) templ.SafeURL {
	return templ.SafeURL("/r/" + url.PathEscape(id))
}

// traceURL is a run's Chrome Trace Event JSON.
func traceURL(id string) templ.SafeURL {
	return templ.SafeURL("/api/runs/" + url.PathEscape(id) + "/trace.json")
}

// compareURL is a comparison's permalink.
func compareURL(id string) templ.SafeURL {
	return templ.SafeURL("/compare/" + url.PathEscape(id))
}

// compareWorkloadURL is the comparison page with a workload and engine chosen.
func compareWorkloadURL(workload, engine string) templ.SafeURL {
	q := url.Values{"workload": {workload}}
	if engine != "" {
		q.Set("engine", engine)
	}
	return templ.SafeURL("/compare?" + q.Encode())
}

// workloadModels are the models the chosen workload runs under, in the
// order they run (none when the link names no known workload).
func (v CompareView) workloadModels() []string {
	for _, w := range v.Workloads {
		if w.ID == v.Workload {
			return w.Models()
		}
	}
	return nil
}

// canRun reports whether the comparison the form describes can start here.
func (v CompareView) canRun() bool {
	return v.Error == "" && v.EngineErrors[v.Engine] == ""
}

// ruleText writes a rule of thumb: "processes or pool".
func ruleText(models []string) string {
	return strings.Join(models, " or ")
}

// formatBytes writes a size in KiB, MiB or GiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', -1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', -1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// firstPageURL is /runs with the filters of v and no page: its newest runs.
func (v RecentRunsView) firstPageURL() templ.SafeURL {
	q := url.Values{}
	if v.Scenario != "" {
		q.Set("scenario", v.Scenario)
	}
	if v.Engine != "" {
		q.Set("engine", v.Engine)
	}
	if len(q) == 0 {
		return "/runs"
	}
	return templ.SafeURL("/runs?" + q.Encode())
}

// filtered reports whether the list is filtered.
func (v RecentRunsView) filtered() bool { return v.Scenario != "" || v.Engine != "" }

// importHelp says what the trace upload accepts.
func importHelp(maxBytes int64) string {
	size := ""
	if maxBytes > 0 {
		size = ", up to " + formatBytes(maxBytes)
	}
	return "A Go execution trace (Go 1.22 or later)" + size + ". The whole file is read; one that is not a trace is refused with the reason."
}

// formatCount writes a count with thousands separators: 1,234,567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// engineChoice is how an engine is named in the runs filter.
func engineChoice(engine string) string {
	if engine == "go-trace" {
		return "imported Go traces"
	}
	return engineLabel(engine)
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

// compareStatus is the comparison's status before the page has asked the
// server: "loading" on a permalink, "idle" otherwise.
func compareStatus(v CompareView) string {
	if v.ComparisonID != "" {
		return "loading"
	}
	return "idle"
}

// compareStatusText is the status line before the page has asked the server.
func compareStatusText(v CompareView) string {
	if v.ComparisonID != "" {
		return "loading…"
	}
	return "not started"
}

// goalButton is the words of the stepping panel's search for goal.
func goalButton(goal string) string {
	switch goal {
	case scenarios.GoalLostUpdate:
		return "Find an interleaving that loses an update"
	case scenarios.GoalDeadlock:
		return "Find an interleaving that deadlocks"
	}
	return "Find an interleaving: " + goal
}

// roomRunsURL lists a room's runs.
func roomRunsURL(code string) templ.SafeURL {
	return templ.SafeURL("/runs?room=" + url.QueryEscape(code))
}
