package server

import (
	"net/http"

	"interleave/scenarios"
)

// engineInfos describes every engine of the server, in its order: what
// GET /api/engines answers and what the pages' badges and engine switches
// show.
func (s *Server) engineInfos() []scenarios.EngineInfo {
	out := make([]scenarios.EngineInfo, 0, len(s.engines))
	for _, e := range s.engines {
		out = append(out, describeEngine(e))
	}
	return out
}

// describeEngine is e's own description when it has one, else its id and
// whether it can run.
func describeEngine(e scenarios.Engine) scenarios.EngineInfo {
	var in scenarios.EngineInfo
	if d, ok := e.(scenarios.Describer); ok {
		in = d.Info()
	} else {
		in = scenarios.EngineInfo{ID: e.Name(), Label: e.Name()}
	}
	in.ID = e.Name()
	if err := e.Available(); err != nil {
		in.Available, in.Why = false, err.Error()
	} else {
		in.Available, in.Why = true, ""
	}
	return in
}

// engineInfo is the description of the engine id, or false when the server
// has none of that name.
func (s *Server) engineInfo(id string) (scenarios.EngineInfo, bool) {
	for _, e := range s.engines {
		if e.Name() == id {
			return describeEngine(e), true
		}
	}
	return scenarios.EngineInfo{}, false
}

// listEngines answers GET /api/engines: every engine with its version,
// whether it has a GIL, and, when it cannot run here, why and how to get it.
func (s *Server) listEngines(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.engineInfos())
	return nil
}
