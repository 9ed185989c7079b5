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
	// Damaged says why the run's recording cannot be read back whole, once
	// a replay or export has found out; "" when nothing is known wrong.
	Damaged string
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
