package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"interleave/scenarios"
	"interleave/web"
)

// Page sizes of the recent-runs list.
const (
	defaultRunsPage = 50
	maxRunsPage     = 200
)

// runList is the body of GET /api/runs.
type runList struct {
	Runs []Info `json:"runs"`
	// Next is the before= of the next (older) page; "" on the last page.
	Next string `json:"next"`
}

// runFilter reads ?scenario=&engine=&before=&limit=.
func runFilter(q url.Values) (RunFilter, error) {
	f := RunFilter{Scenario: q.Get("scenario"), Engine: q.Get("engine"), Before: q.Get("before"), Limit: defaultRunsPage}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsPage {
			return f, &scenarios.ParamError{Field: "limit", Message: fmt.Sprintf("%s is not allowed; want a whole number from 1 to %d", v, maxRunsPage)}
		}
		f.Limit = n
	}
	return f, nil
}

// recentRuns lists recorded runs, newest first; a run still live shows its
// live state rather than its last flush.
func (s *Server) recentRuns(r *http.Request, f RunFilter) (runList, error) {
	runs, next, err := s.store.list(r.Context(), f)
	if err != nil {
		return runList{}, err
	}
	for i, in := range runs {
		if !finished(in.Status) {
			if live, ok := s.runs.live(in.ID); ok {
				runs[i] = live.Info()
			}
		}
	}
	return runList{Runs: runs, Next: next}, nil
}

// listRuns is GET /api/runs?scenario=&engine=&before=&limit=.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	f, err := runFilter(r.URL.Query())
	if err != nil {
		return err
	}
	list, err := s.recentRuns(r, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// runsPage is GET /runs: the same list as a page.
func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := web.RecentRunsView{Scenario: q.Get("scenario"), Engine: q.Get("engine"), Before: q.Get("before"), Scenarios: scenarios.All(),
		Engines: []string{scenarios.EngineGo, scenarios.EnginePython, ImportEngine}, MaxImportBytes: s.cfg.Limits.MaxImportBytes}
	f, err := runFilter(q)
	if err != nil {
		return err
	}
	list, err := s.recentRuns(r, f)
	if err != nil {
		return err
	}
	for _, in := range list.Runs {
		row := web.RunRow{ID: in.ID, Scenario: in.Scenario, Title: scenarioOf(in.Scenario).Title, Engine: in.Engine,
			Status: in.Status, Created: in.Created, Events: in.Events, Bytes: in.Bytes, Pinned: in.Pinned}
		var sum struct {
			WallNS  int64  `json:"wall_ns"`
			Verdict string `json:"verdict"`
		}
		if json.Unmarshal(in.Summary, &sum) == nil {
			row.WallNS, row.Verdict = sum.WallNS, sum.Verdict
		}
		v.Runs = append(v.Runs, row)
	}
	if list.Next != "" {
		next := url.Values{}
		for _, k := range []string{"scenario", "engine", "limit"} {
			if q.Get(k) != "" {
				next.Set(k, q.Get(k))
			}
		}
		next.Set("before", list.Next)
		v.Next = "/runs?" + next.Encode()
	}
	s.render(w, r, http.StatusOK, web.RecentRuns(v))
	return nil
}
