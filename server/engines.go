package server

import (
	"net/http"
	"strings"

	"interleave/runner"
	"interleave/scenarios"
)

// engineInfos describes every engine of the server, in its order: what
// GET /api/engines answers and what the pages' badges and engine switches
// show. With a runner pool, an engine is available when this machine runs
// it or a live runner of the pool has it (only the latter with
// -local-slots 0), and each engine names the runners that have it.
func (s *Server) engineInfos() []scenarios.EngineInfo {
	pool, _ := s.cfg.Runner.(runner.Pool)
	offers := map[string]runner.Offer{}
	if pool != nil {
		for _, o := range pool.Offers() {
			offers[o.ID] = o
		}
	}
	out := make([]scenarios.EngineInfo, 0, len(s.engines))
	for _, e := range s.engines {
		in := describeEngine(e)
		if pool != nil {
			o, ok := offers[in.ID]
			in = withPool(in, o, ok, s.cfg.Limits.LocalSlots == 0)
		}
		out = append(out, in)
	}
	return out
}

// withPool is in, this machine's description of an engine, as a server
// with a runner pool offers it: o is what the pool's runners have of it
// (ok false when none has it), and poolOnly says this machine runs no
// program itself (-local-slots 0).
func withPool(in scenarios.EngineInfo, o runner.Offer, ok, poolOnly bool) scenarios.EngineInfo {
	in.Runners = []string{}
	if ok {
		in.Runners = o.Runners
	}
	if !poolOnly && in.Available {
		return in // runs here; the pool's runners may take some of its runs too
	}
	if !ok {
		why := "no runner has it: start `interleave runner` on a machine that has it"
		if !poolOnly && in.Why != "" {
			why = in.Why + "; and no runner of the pool has it"
		}
		in.Available, in.Why = false, why
		return in
	}
	in.Available, in.Why = true, ""
	in.Version, in.GIL = o.Version, o.GIL
	if strings.HasPrefix(in.Label, "CPython") || in.ID == scenarios.EnginePython || scenarios.FreeThreaded(in.ID) {
		// The badge names the runners' interpreter, not this machine's.
		in.Label = strings.TrimSpace("CPython " + o.Version)
		if o.GIL {
			in.Label += " · with the GIL"
		} else {
			in.Label += " · free-threaded: no GIL"
		}
	}
	return in
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
	for _, in := range s.engineInfos() {
		if in.ID == id {
			return in, true
		}
	}
	return scenarios.EngineInfo{}, false
}

// listEngines answers GET /api/engines: every engine with its version,
// whether it has a GIL, and, when it cannot run here, why and how to get
// it; with a runner pool, the runners that have it.
func (s *Server) listEngines(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.engineInfos())
	return nil
}
