// Package web renders Interleave's pages with templ components. It only
// renders: handlers in server/ build the views below and pass them in.
package web

import (
	"time"

	"interleave/scenarios"
)

// CatalogView is the home page: every topic of the guide.
type CatalogView struct {
	Scenarios []scenarios.Scenario
	// EngineErrors maps an unavailable engine to why (and how to fix it).
	EngineErrors map[string]string
}

// ScenarioView is /s/{scenario}: the form, the live timeline, the summary.
type ScenarioView struct {
	Scenario scenarios.Scenario
	Engine   string
	// Params are the params of Engine, in order; Values the form's values as
	// written in the URL (the submitted ones, even when invalid).
	Params []scenarios.Param
	Values map[string]string
	// Error is the user's mistake in the link, naming the field; Field is
	// that field's name, to show the message next to it.
	Error string
	Field string
	// EngineError says why Engine cannot run here (python3 missing...).
	EngineError string
	// SourceName and Source are the code that runs the scenario on Engine.
	SourceName string
	Source     string
	// ModelNote is set when Engine models a mechanism it does not have.
	ModelNote string
	// RunID is the run the link names (?run=), which the page shows and
	// follows; RunStatus is its status when the page was made.
	RunID     string
	RunStatus string
	// Stepping is set when the scenario can be stepped on Engine.
	Stepping *SteppingView
	// Engines describe the server's engines (GET /api/engines): the badge
	// of Engine, and the links that switch to another in one click.
	Engines []scenarios.EngineInfo
}

// SteppingView is the stepping panel: the learner steps a step run's
// threads one line at a time (static/stepview.js fills it in).
type SteppingView struct {
	// Goals are what the page can search for (scenarios.GoalLostUpdate…).
	Goals []string
	// StartQuery holds the settings a first step run starts from
	// (scenarios.Scenario.StepStart, with step=true), as a query string.
	StartQuery string
}

// RunView is /r/{run}: one recorded or live run.
type RunView struct {
	RunID    string
	Scenario scenarios.Scenario
	Engine   string
	Status   string
	// Query is the share link of the settings that produced the run.
	Query      string
	SourceName string
	Source     string
	ModelNote  string
	// Pinned runs are kept by retention (POST/DELETE /api/runs/{id}/pin).
	Pinned bool
	// Imported is a Go execution trace uploaded through POST /api/imports:
	// it has no scenario page to run again and no source to show.
	Imported bool
	// SourceVersion names the code that ran (a hash of the scenario source
	// and the server's build).
	SourceVersion string
	// Runner names what executed the run ("local" for the server's own
	// machine, else a pool's runner); "" while queued or when not recorded.
	Runner string
	// Stepping is set for a run whose threads were stepped (step=true or a
	// schedule): the panel replays the steps, and steps a live run.
	Stepping *SteppingView
	// Damaged says why the run's recording cannot be read back whole, once
	// a replay or export has found out; "" when nothing is known wrong.
	Damaged string
	// Engines describe the server's engines: the badge of Engine, and the
	// link to the same run on the other CPython build.
	Engines []scenarios.EngineInfo
}

// ErrorView is a page for a status other than 200.
type ErrorView struct {
	Status  int
	Title   string
	Message string
}

// RecentRunsView is /runs: the recorded runs, newest first, a page at a time.
type RecentRunsView struct {
	Runs []RunRow
	// Scenario and Engine filter the list ("" lists all); Scenarios and
	// Engines are the filter's choices.
	Scenario  string
	Engine    string
	Scenarios []scenarios.Scenario
	Engines   []string
	// Next is the URL of the next (older) page, "" on the last one.
	Next string
	// Before is the before= of this page: "" on the first (newest) page.
	Before string
	// MaxImportBytes is the largest trace POST /api/imports accepts (0:
	// not said), shown next to the upload and checked before sending.
	MaxImportBytes int64
	// Error is the user's mistake in the query (a bad filter).
	Error string
	// Room lists the runs of one workshop room (its code), with who
	// started each and with which settings.
	Room string
}

// RunRow is one recorded run in a list.
type RunRow struct {
	ID       string
	Scenario string
	// Title is the scenario's title ("Imported Go trace" for an import).
	Title   string
	Engine  string
	Status  string
	Created time.Time
	Events  int64
	Bytes   int64
	Pinned  bool
	Verdict string
	// WallNS is how long the run took, from its summary (0 when unknown).
	WallNS int64
	// Label is who started it in a workshop room; Params its settings as
	// a query (both on a room's list only).
	Label  string
	Params string
}

// CompareView is /compare: one workload under every model, side by side.
type CompareView struct {
	Workloads []scenarios.Workload
	// Engines offered, and why one is unavailable (by engine).
	Engines      []string
	EngineErrors map[string]string
	Sizes        []string
	// The form's values as written in the URL.
	Workload string
	Engine   string
	Size     string
	Workers  string
	// ComparisonID is set on a comparison's permalink (/compare/{id}); the
	// page then shows that comparison (live if still running).
	ComparisonID string
	// Error is the user's mistake in the link, naming Field.
	Error string
	Field string
}

// RoomView is /w/{code}: a workshop room.
type RoomView struct {
	Code string
	// URL is the room's link as attendees can open it, and Host its host
	// and port; Reachable is false when only this machine can open it.
	URL       string
	Host      string
	Reachable bool
	// Presenter is set for the browser that holds the room's key.
	Presenter    bool
	MaxAttendees int
}

// role is the page's role, for static/room.js.
func (v RoomView) role() string {
	if v.Presenter {
		return "presenter"
	}
	return "attendee"
}
