package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"interleave/runs"
	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/web"
)

// Page sizes of the recent-runs list.
const (
	defaultRunsPage = 50
	maxRunsPage     = 200
)

// runList is the body of GET /api/runs.
type runList struct {
	Runs []runs.Info `json:"runs"`
	// Next is the before= of the next (older) page; "" on the last page.
	Next string `json:"next"`
}

// runFilterFields are the names GET /api/runs and /runs take; room lists
// a workshop room's runs.
var runFilterFields = []string{"scenario", "engine", "before", "limit", "room"}

// runFilter reads ?scenario=&engine=&before=&limit= of r; an empty scenario,
// engine or before means all (the filter form sends them empty).
func runFilter(r *http.Request) (runs.RunFilter, error) {
	f, _, err := runFilterRoom(r)
	return f, err
}

// runFilterRoom is runFilter and the room= of r ("" for none).
func runFilterRoom(r *http.Request) (runs.RunFilter, string, error) {
	q, err := readQuery(r, runFilterFields)
	if err != nil {
		return runs.RunFilter{}, "", err
	}
	f, err := runFilterOf(q)
	return f, q["room"], err
}

func runFilterOf(q map[string]string) (runs.RunFilter, error) {
	f := runs.RunFilter{Scenario: q["scenario"], Engine: q["engine"], Before: q["before"], Limit: defaultRunsPage}
	if v, ok := q["limit"]; ok {
		p := scenarios.IntParam("limit", "Runs a page", 1, maxRunsPage, defaultRunsPage, "")
		ps, err := scenarios.Validate([]scenarios.Param{p}, map[string]any{p.Name: v})
		if err != nil {
			return f, err
		}
		f.Limit = ps.Int(p.Name)
	}
	return f, nil
}

// recentRuns lists recorded runs, newest first (of a workshop room, when
// room is set); a run still live shows its live state rather than its last
// flush.
func (s *Server) recentRuns(r *http.Request, f runs.RunFilter, room string) (runList, error) {
	if room != "" {
		return s.roomRuns(r, f, room)
	}
	runs, next, err := s.store.List(r.Context(), f)
	if err != nil {
		return runList{}, err
	}
	for i, in := range runs {
		if !event.Final(in.Status) {
			if live, ok := s.runs.Live(in.ID); ok {
				runs[i] = live.Info()
			}
		}
	}
	return runList{Runs: runs, Next: next}, nil
}

// listRuns is GET /api/runs?scenario=&engine=&before=&limit=.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	f, room, err := runFilterRoom(r)
	if err != nil {
		return err
	}
	list, err := s.recentRuns(r, f, room)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// runsPage is GET /runs: the same list as a page.
func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) error {
	f, room, err := runFilterRoom(r)
	if err != nil {
		return err
	}
	v := web.RecentRunsView{Scenario: f.Scenario, Engine: f.Engine, Before: f.Before, Scenarios: scenarios.All(),
		Engines: []string{scenarios.EngineGo, scenarios.EnginePython, scenarios.EnginePythonFT, ImportEngine}, MaxImportBytes: s.cfg.Limits.MaxImportBytes, Room: room}
	list, err := s.recentRuns(r, f, room)
	if err != nil {
		return err
	}
	for _, in := range list.Runs {
		row := web.RunRow{ID: in.ID, Scenario: in.Scenario, Title: scenarioOf(in.Scenario).Title, Engine: in.Engine,
			Status: in.Status, Created: in.Created, Events: in.Events, Bytes: in.Bytes, Pinned: in.Pinned, Label: in.Label}
		if room != "" {
			row.Params = shareQuery(scenarioOf(in.Scenario), in.Engine, in.Params)
		}
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
		for k, v := range map[string]string{"scenario": f.Scenario, "engine": f.Engine, "room": room} {
			if v != "" {
				next.Set(k, v)
			}
		}
		if f.Limit != defaultRunsPage {
			next.Set("limit", strconv.Itoa(f.Limit))
		}
		next.Set("before", list.Next)
		v.Next = "/runs?" + next.Encode()
	}
	s.render(w, r, http.StatusOK, web.RecentRuns(v))
	return nil
}
