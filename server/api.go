package server

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"

	"interleave/runs"
	"interleave/scenarios"
)

// scenarioJSON is one entry of GET /api/scenarios.
type scenarioJSON struct {
	scenarios.Scenario
	// Unavailable maps an engine of the scenario that cannot run here to why.
	Unavailable map[string]string `json:"unavailable,omitempty"`
}

func (s *Server) listScenarios(w http.ResponseWriter, r *http.Request) error {
	all := scenarios.All()
	out := make([]scenarioJSON, len(all))
	for i, sc := range all {
		out[i] = scenarioJSON{Scenario: sc}
		if sc.Params == nil {
			out[i].Params = []scenarios.Param{}
		}
		if sc.Engines == nil {
			out[i].Engines = []string{}
		}
		for _, e := range sc.Engines {
			if err := s.engineError(e); err != "" {
				if out[i].Unavailable == nil {
					out[i].Unavailable = map[string]string{}
				}
				out[i].Unavailable[e] = err
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// engineError says why engine cannot run here, or "".
func (s *Server) engineError(engine string) string {
	if _, ok := s.runs.Engine(engine); !ok {
		return "the " + engine + " engine is not configured on this server"
	}
	if err := s.runs.CanRun(engine); err != nil {
		var unavailable *runs.EngineUnavailableError
		if errors.As(err, &unavailable) {
			return unavailable.Err.Error()
		}
		return err.Error()
	}
	return ""
}

// createRunResponse is the 201 body of POST /api/runs.
type createRunResponse struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Position int    `json:"position"`
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, runRequestFields)
	if err != nil {
		return err
	}
	req, err := runRequest(body, s.cfg.Limits.MaxDeadline.Milliseconds())
	if err != nil {
		return err
	}
	room, err := body.text("room")
	if err != nil {
		return err
	}
	// Who asked, for a runner pool's fairness between clients: the
	// address, or in a room the attendee (submitRoomRun names them).
	req.Client, _ = httprate.KeyByIP(r)
	var run *runs.Run
	if room != "" {
		run, err = s.submitRoomRun(r, room, req)
	} else {
		run, err = s.runs.Submit(req)
	}
	if err != nil {
		return err
	}
	status, pos := run.Status()
	w.Header().Set("Location", "/api/runs/"+run.ID)
	writeJSON(w, http.StatusCreated, createRunResponse{ID: run.ID, Status: status, Position: pos})
	return nil
}

// lookupRun returns the run of the {id} in the URL, live or recorded.
func (s *Server) lookupRun(r *http.Request) (*runs.Run, error) {
	return s.runs.Lookup(r.Context(), chi.URLParam(r, "id"))
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run.Info())
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	if err := s.runs.Cancel(run.ID); err != nil {
		return err
	}
	<-run.Done()
	writeJSON(w, http.StatusOK, run.Info())
	return nil
}

// pinRun is POST /api/runs/{id}/pin: retention never evicts the run. It
// answers the run.
func (s *Server) pinRun(w http.ResponseWriter, r *http.Request) error {
	return s.setPinned(w, r, true)
}

// unpinRun is DELETE /api/runs/{id}/pin: the run may be evicted again.
func (s *Server) unpinRun(w http.ResponseWriter, r *http.Request) error {
	return s.setPinned(w, r, false)
}

func (s *Server) setPinned(w http.ResponseWriter, r *http.Request, pinned bool) error {
	id := chi.URLParam(r, "id")
	if err := s.store.SetPinned(r.Context(), id, pinned); err != nil {
		return err
	}
	run, err := s.runs.Lookup(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run.Info())
	return nil
}

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) error {
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	return s.serveEvents(w, r, run)
}
