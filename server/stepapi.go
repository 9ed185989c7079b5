package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"interleave/scenarios"
	"interleave/scenarios/search"
)

// stepFields are the names of POST /api/runs/{id}/step's body: exactly one.
var stepFields = []string{"lane", "random", "free"}

// stepRun is POST /api/runs/{id}/step: {"lane":"worker-1"} lets that thread
// run one line; {"random":true} one of the threads that can step, picked
// by the run; {"free":true} lets every thread run freely to the end. It
// answers the run's reply (stepping.Reply): the step's number, where the
// thread stopped, whether the stepping ended.
func (s *Server) stepRun(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	if err := s.roomsAllowStep(r, id); err != nil {
		return err
	}
	if s.stepAuth != nil {
		if err := s.stepAuth(r, id); err != nil {
			return &forbiddenError{msg: err.Error()}
		}
	}
	obj, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, stepFields)
	if err != nil {
		return err
	}
	cmd, err := stepCommand(obj)
	if err != nil {
		return err
	}
	reply, err := s.runs.Step(r.Context(), id, cmd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// roomsAllowStep refuses a step of a run that a workshop room projects
// (the run of its presenter's view) unless the request comes from that
// room's presenter: the room watches the presenter step it.
func (s *Server) roomsAllowStep(r *http.Request, runID string) error {
	for _, room := range s.rooms.Rooms() {
		if view, _ := room.View(); view.Run == runID && !isPresenter(r, room) {
			return &forbiddenError{msg: "only the presenter of room " + room.Code() + " steps the run it shows; follow it on the room's page"}
		}
	}
	return nil
}

// stepCommand reads the step body: exactly one of lane (a thread's lane),
// random: true or free: true.
func stepCommand(obj jsonObject) (StepCommand, error) {
	var cmd StepCommand
	given := 0
	for _, name := range stepFields {
		if obj.has(name) {
			given++
		}
	}
	if given != 1 {
		return cmd, &scenarios.ParamError{Field: "body", Message: `want exactly one of {"lane": "worker-1"}, {"random": true}, {"free": true}`}
	}
	var err error
	switch {
	case obj.has("lane"):
		if cmd.Lane, err = obj.text("lane"); err != nil {
			return cmd, err
		}
		if strings.TrimSpace(cmd.Lane) == "" {
			return cmd, &scenarios.ParamError{Field: "lane", Message: "empty; want a thread's lane, such as worker-1"}
		}
	case obj.has("random"):
		if cmd.Random, err = flag(obj, "random"); err != nil {
			return cmd, err
		}
	default:
		if cmd.Free, err = flag(obj, "free"); err != nil {
			return cmd, err
		}
	}
	return cmd, nil
}

// flag reads a field that must be true.
func flag(obj jsonObject, name string) (bool, error) {
	if v, ok := obj.value(name).(bool); ok && v {
		return true, nil
	}
	return false, &scenarios.ParamError{Field: name, Message: scenarios.Describe(obj.value(name)) + " is not allowed; want true"}
}

// searchFields are the names of POST /api/search's body: a run request,
// the goal, and optionally the budget of random interleavings and a seed.
var searchFields = []string{"scenario", "engine", "params", "goal", "budget", "seed"}

// searchMaxWait is how long a search waits for a run slot before it is
// answered 429.
const searchMaxWait = 10 * time.Second

// searchInterleavings is POST /api/search: it looks for an interleaving of
// a step run's threads that reaches the goal, executing the scenario's
// code for real (package search), and answers {"found", "schedule",
// "explored", "exhaustive", ...}. step and schedule in params are checked
// like any param and then left out: the search explores from the first
// line. It holds a run slot while it runs.
func (s *Server) searchInterleavings(w http.ResponseWriter, r *http.Request) error {
	obj, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, searchFields)
	if err != nil {
		return err
	}
	req, err := runRequest(obj, s.cfg.Limits.MaxDeadline.Milliseconds())
	if err != nil {
		return err
	}
	sc, ok := scenarios.Lookup(req.Scenario)
	if !ok {
		return &NotFoundError{What: "scenario " + scenarios.FieldName(req.Scenario)}
	}
	if len(sc.Goals) == 0 {
		return &scenarios.ParamError{Field: "scenario", Message: sc.ID + " cannot be stepped, so there is nothing to search; want one of " + strings.Join(steppable(), ", ")}
	}
	if req.Engine == "" {
		req.Engine = scenarios.EnginePython
	}
	if !sc.CanStep(req.Engine) {
		return &scenarios.ParamError{Field: "engine", Message: scenarios.Describe(req.Engine) + " cannot step " + sc.ID + "; want " + scenarios.EnginePython}
	}
	goal, err := obj.text("goal")
	if err != nil {
		return err
	}
	if !sc.HasGoal(goal) {
		msg := "missing"
		if obj.has("goal") {
			msg = scenarios.Describe(goal) + " is not allowed"
		}
		return &scenarios.ParamError{Field: "goal", Message: msg + "; want one of " + strings.Join(sc.Goals, ", ")}
	}
	extra, err := scenarios.Validate([]scenarios.Param{
		scenarios.IntParam("budget", "", 1, search.MaxBudget, search.DefaultBudget, ""),
		scenarios.IntParam("seed", "", 0, 1<<31-1, 0, ""),
	}, map[string]any{"budget": orDefault(obj.value("budget"), search.DefaultBudget), "seed": orDefault(obj.value("seed"), 0)})
	if err != nil {
		return err
	}
	params, err := sc.Validate(req.Engine, req.Params)
	if err != nil {
		return err
	}
	delete(params, scenarios.StepParam)
	delete(params, scenarios.ScheduleParam)
	eng, ok := s.runs.Engine(req.Engine)
	if !ok {
		return &EngineUnavailableError{Engine: req.Engine, Err: errors.New("not configured on this server")}
	}
	if err := eng.Available(); err != nil {
		return &EngineUnavailableError{Engine: req.Engine, Err: err}
	}
	release, err := s.runs.holdSlot(r.Context(), searchMaxWait)
	if err != nil {
		return err
	}
	defer release()
	res, err := search.Run(r.Context(), eng, search.Request{Scenario: sc.ID, Engine: req.Engine, Params: params, Goal: goal,
		Budget: extra.Int("budget"), Seed: int64(extra.Int("seed")), MemoryLimit: s.cfg.Limits.MemoryBytes})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// orDefault is v, or def when v is absent.
func orDefault(v any, def int) any {
	if v == nil {
		return def
	}
	return v
}

// steppable lists the scenarios that can be stepped (and searched).
func steppable() []string {
	var ids []string
	for _, sc := range scenarios.All() {
		if len(sc.Goals) > 0 {
			ids = append(ids, sc.ID)
		}
	}
	return ids
}
