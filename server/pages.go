package server

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"interleave/scenarios"
	"interleave/static"
	"interleave/web"
)

// render writes a component with status, buffered so that a render error
// becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.logger.Error("render page", "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) catalogPage(w http.ResponseWriter, r *http.Request) error {
	// The compare scenario is reached through the decision matrix.
	var topics []scenarios.Scenario
	for _, sc := range scenarios.All() {
		if sc.ID != scenarios.CompareID {
			topics = append(topics, sc)
		}
	}
	v := web.CatalogView{Scenarios: topics, EngineErrors: map[string]string{}}
	for _, e := range []string{scenarios.EngineGo, scenarios.EnginePython} {
		if msg := s.engineError(e); msg != "" {
			v.EngineErrors[e] = msg
		}
	}
	s.render(w, r, http.StatusOK, web.Catalog(v))
	return nil
}

func (s *Server) scenarioPage(w http.ResponseWriter, r *http.Request) error {
	sc, ok := scenarios.Lookup(chi.URLParam(r, "scenario"))
	if !ok {
		return &NotFoundError{What: "scenario " + chi.URLParam(r, "scenario")}
	}
	if len(sc.Engines) == 0 {
		return &NotFoundError{What: "scenario " + sc.ID + " (coming soon)"}
	}
	query := r.URL.Query()
	engine := query.Get("engine")
	if engine == "" {
		engine = sc.Engines[0]
	}
	v := web.ScenarioView{Scenario: sc, Engine: engine, Values: map[string]string{}}
	status := http.StatusOK
	if !sc.HasEngine(engine) {
		v.Engine = sc.Engines[0]
		v.Error, v.Field = "engine: "+engine+" is not available for this scenario; want one of "+strings.Join(sc.Engines, ", "), "engine"
		status = http.StatusBadRequest
	}
	v.Params = sc.ParamsFor(v.Engine)
	v.Scenario.Notice = sc.NoticeFor(v.Engine)
	raw := map[string]any{}
	for name, vals := range query {
		if name == "engine" || len(vals) == 0 {
			continue
		}
		raw[name] = vals[len(vals)-1]
		v.Values[name] = vals[len(vals)-1]
	}
	for _, p := range v.Params {
		if _, ok := v.Values[p.Name]; !ok {
			v.Values[p.Name] = scenarios.FormatValue(mustParse(p))
		}
	}
	if status == http.StatusOK {
		if _, err := sc.Validate(v.Engine, raw); err != nil {
			var pe *scenarios.ParamError
			if !errors.As(err, &pe) {
				return err
			}
			v.Error, v.Field = pe.Error(), pe.Field
			status = http.StatusBadRequest
		}
	}
	v.EngineError = s.engineError(v.Engine)
	s.fillSource(&v.SourceName, &v.Source, v.Engine, sc.ID)
	v.ModelNote = sc.Models[v.Engine]
	s.render(w, r, status, web.ScenarioPage(v))
	return nil
}

// mustParse returns a param's default as its typed value.
func mustParse(p scenarios.Param) any {
	ps, err := scenarios.Validate([]scenarios.Param{p}, nil)
	if err != nil {
		return p.Default
	}
	return ps[p.Name]
}

func (s *Server) fillSource(name, code *string, engine, scenario string) {
	if eng, ok := s.runs.Engine(engine); ok {
		*name, *code, _ = eng.Source(scenario)
	}
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runs.Lookup(r.Context(), chi.URLParam(r, "run"))
	if err != nil {
		return err
	}
	sc := scenarioOf(run.Scenario)
	info := run.Info()
	v := web.RunView{RunID: run.ID, Scenario: sc, Engine: run.Engine, Status: info.Status, Query: shareQuery(sc, run.Engine, run.Params),
		ModelNote: sc.Models[run.Engine], Pinned: info.Pinned, Imported: run.Scenario == ImportScenario, SourceVersion: run.SourceVersion}
	v.Scenario.Notice = sc.NoticeFor(run.Engine)
	s.fillSource(&v.SourceName, &v.Source, run.Engine, sc.ID)
	s.render(w, r, http.StatusOK, web.RunPage(v))
	return nil
}

// shareQuery is the query string of /s/{scenario} that reproduces params.
func shareQuery(sc scenarios.Scenario, engine string, params scenarios.Params) string {
	q := url.Values{}
	q.Set("engine", engine)
	for _, kv := range params.Query(sc.ParamsFor(engine)) {
		q.Set(kv.Key, kv.Value)
	}
	return q.Encode()
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := web.CompareView{Workloads: scenarios.Workloads, Engines: []string{scenarios.EnginePython, scenarios.EngineGo}, EngineErrors: map[string]string{},
		Sizes: []string{"small", "medium", "large"}, Workload: q.Get("workload"), Engine: q.Get("engine"), Size: q.Get("size"), Workers: q.Get("workers")}
	for _, e := range v.Engines {
		if msg := s.engineError(e); msg != "" {
			v.EngineErrors[e] = msg
		}
	}
	status := http.StatusOK
	if id := chi.URLParam(r, "id"); id != "" {
		c, err := s.compares.get(r.Context(), id)
		if err != nil {
			return err
		}
		v.ComparisonID, v.Workload, v.Engine, v.Size, v.Workers = c.ID, c.Workload.ID, c.Engine, c.Size, strconv.Itoa(c.Workers)
	} else {
		if v.Workload == "" {
			v.Workload = scenarios.Workloads[0].ID
		}
		if v.Engine == "" {
			v.Engine = scenarios.EnginePython
		}
		if v.Size == "" {
			v.Size = "medium"
		}
		if v.Workers == "" {
			v.Workers = "4"
		}
		sc, _ := scenarios.Lookup(scenarios.CompareID)
		if wl, ok := scenarios.LookupWorkload(v.Workload); !ok {
			v.Error, v.Field = "workload: "+v.Workload+" is not allowed; want one of cpu, io, many-io, mixed, external, shared-state", "workload"
			status = http.StatusBadRequest
			// The settings are checked with a model of their own workload: a
			// model that does not apply to it is left out, never an error.
		} else if _, err := sc.Validate(v.Engine, map[string]any{"workload": v.Workload, "size": v.Size, "workers": v.Workers, "model": wl.Models()[0]}); err != nil {
			var pe *scenarios.ParamError
			if !errors.As(err, &pe) {
				return err
			}
			v.Error, v.Field = pe.Error(), pe.Field
			status = http.StatusBadRequest
		}
	}
	s.render(w, r, status, web.ComparePage(v))
	return nil
}

// staticHandler serves the embedded front end; URLs carry a content hash
// (static.Path), so a versioned request may be cached forever.
func (s *Server) staticHandler() http.Handler {
	var files fs.FS = static.FS
	if s.cfg.DevStatic {
		files = os.DirFS("static")
	}
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(files)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" && !s.cfg.DevStatic {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fileServer.ServeHTTP(w, r)
	})
}
