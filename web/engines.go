package web

import (
	"net/url"
	"slices"
	"strings"

	"github.com/a-h/templ"

	"interleave/scenarios"
)

// otherBuild is the CPython build beside engine: the free-threaded one for
// the GIL build and back; "" for an engine without one.
func otherBuild(engine string) string {
	switch engine {
	case scenarios.EnginePython:
		return scenarios.EnginePythonFT
	case scenarios.EnginePythonFT:
		return scenarios.EnginePython
	}
	return ""
}

// engineInfo finds engine among infos; a server that does not describe it
// gives its id and label alone.
func engineInfo(infos []scenarios.EngineInfo, engine string) scenarios.EngineInfo {
	for _, in := range infos {
		if in.ID == engine {
			return in
		}
	}
	return scenarios.EngineInfo{ID: engine, Label: engineLabel(engine), Available: true}
}

// badgeText is the engine badge: what runs the scenario and whether it has
// a GIL ("CPython 3.13.15 · free-threaded: no GIL"), or the engine's name
// when the server knows no more.
func badgeText(in scenarios.EngineInfo) string {
	if in.Label != "" {
		return in.Label
	}
	return engineLabel(in.ID)
}

// gilWord is the badge's data-gil attribute: "yes" or "no".
func gilWord(in scenarios.EngineInfo) string {
	if in.GIL {
		return "yes"
	}
	return "no"
}

// switchURL is the scenario page on engine with the settings of values that
// apply there: one click switches the engine and keeps the rest.
func switchURL(s scenarios.Scenario, values map[string]string, engine string) templ.SafeURL {
	q := url.Values{}
	q.Set("engine", engine)
	for _, p := range s.ParamsFor(engine) {
		if v, ok := values[p.Name]; ok && v != "" {
			q.Set(p.Name, v)
		}
	}
	return templ.SafeURL("/s/" + url.PathEscape(s.ID) + "?" + q.Encode())
}

// otherBuildURL is a run's settings (its share query) on the other CPython
// build: the same run on the other build.
func otherBuildURL(id, query, engine string) templ.SafeURL {
	q, err := url.ParseQuery(query)
	if err != nil {
		q = url.Values{}
	}
	q.Set("engine", engine)
	return templ.SafeURL("/s/" + url.PathEscape(id) + "?" + q.Encode())
}

// engineIn reports whether engine is one of the comma-separated engines of
// field (a comparison's engine field: "python,python-ft,go").
func engineIn(field, engine string) bool {
	return slices.Contains(strings.Split(field, ","), engine)
}
