package server

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"interleave/runs"
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
		return &runs.NotFoundError{What: "scenario " + chi.URLParam(r, "scenario")}
	}
	if len(sc.Engines) == 0 {
		return &runs.NotFoundError{What: "scenario " + sc.ID + " (coming soon)"}
	}
	// The engine picks which params the link may name, so it is read first;
	// readQuery below refuses it too when it is given twice.
	engine := sc.Engines[0]
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q["engine"]) > 0 && q["engine"][0] != "" {
		engine = q["engine"][0]
	}
	v := web.ScenarioView{Scenario: sc, Engine: engine, Values: map[string]string{}}
	status := http.StatusOK
	fail := func(err error) error {
		var pe *scenarios.ParamError
		if !errors.As(err, &pe) {
			return err
		}
		if status == http.StatusOK {
			v.Error, v.Field = pe.Error(), pe.Field
			status = http.StatusBadRequest
		}
		return nil
	}
	if !sc.HasEngine(engine) {
		v.Engine = sc.Engines[0]
		v.Error, v.Field = "engine: "+scenarios.Describe(engine)+" is not available for this scenario; want one of "+strings.Join(sc.Engines, ", "), "engine"
		status = http.StatusBadRequest
	}
	v.Params = sc.ParamsFor(v.Engine)
	v.Scenario.Notice = sc.NoticeFor(v.Engine)
	// run names the run the page shows (a reload, a late follower).
	allowed := []string{"engine"}
	for _, p := range v.Params {
		allowed = append(allowed, p.Name)
	}
	allowed = append(allowed, "run")
	query, err := readQuery(r, allowed)
	if err := fail(err); err != nil {
		return err
	}
	raw := map[string]any{}
	for name, val := range query {
		if name != "engine" && name != "run" {
			raw[name] = val
			v.Values[name] = val
		}
	}
	if id := query["run"]; id != "" {
		// A run of this scenario, live or recorded; any other is left out.
		if run, err := s.runs.Lookup(r.Context(), id); err == nil && run.Scenario == sc.ID {
			v.RunID = run.ID
			v.RunStatus, _ = run.Status()
		}
	}
	for _, p := range v.Params {
		if _, ok := v.Values[p.Name]; !ok {
			v.Values[p.Name] = scenarios.FormatValue(mustParse(p))
		}
	}
	if status == http.StatusOK {
		_, err := sc.Validate(v.Engine, raw)
		if err := fail(err); err != nil {
			return err
		}
	}
	v.EngineError = s.engineError(v.Engine)
	v.Engines = s.engineInfos()
	if sc.CanStep(v.Engine) {
		v.Stepping = steppingView(sc, v.Engine)
	}
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
		ModelNote: sc.Models[run.Engine], Pinned: info.Pinned, Imported: run.Scenario == ImportScenario, SourceVersion: run.SourceVersion, Runner: info.Runner,
		Damaged: info.Damaged, Engines: s.engineInfos()}
	v.Scenario.Notice = sc.NoticeFor(run.Engine)
	if sc.CanStep(run.Engine) && scenarios.Scheduled(run.Params) {
		v.Stepping = steppingView(sc, run.Engine)
	}
	s.fillSource(&v.SourceName, &v.Source, run.Engine, sc.ID)
	s.render(w, r, http.StatusOK, web.RunPage(v))
	return nil
}

// steppingView is the stepping panel of scenario sc on engine.
func steppingView(sc scenarios.Scenario, engine string) *web.SteppingView {
	q := url.Values{}
	for name, value := range sc.StepStart {
		q.Set(name, value)
	}
	q.Set(scenarios.StepParam, "true")
	return &web.SteppingView{Goals: sc.Goals, StartQuery: q.Encode()}
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
	id := chi.URLParam(r, "id")
	// A comparison's permalink takes no params: the comparison says it all.
	allowed := compareFields
	if id != "" {
		allowed = nil
	}
	q, qerr := readQuery(r, allowed)
	v := web.CompareView{Workloads: scenarios.Workloads, Engines: s.compareEngineChoices(q["engine"]), EngineErrors: map[string]string{},
		Sizes: []string{"small", "medium", "large"}, Workload: q["workload"], Engine: q["engine"], Size: q["size"], Workers: q["workers"]}
	for _, choice := range v.Engines {
		var msgs []string
		for _, e := range strings.Split(choice, ",") {
			if msg := s.engineError(e); msg != "" {
				msgs = append(msgs, msg)
			}
		}
		if len(msgs) > 0 {
			v.EngineErrors[choice] = strings.Join(msgs, "; ")
		}
	}
	status := http.StatusOK
	fail := func(err error) error {
		var pe *scenarios.ParamError
		if !errors.As(err, &pe) {
			return err
		}
		v.Error, v.Field = pe.Error(), pe.Field
		status = http.StatusBadRequest
		return nil
	}
	switch {
	case qerr != nil:
		if err := fail(qerr); err != nil {
			return err
		}
	case id != "":
		c, err := s.compares.get(r.Context(), id)
		if err != nil {
			return err
		}
		v.ComparisonID, v.Workload, v.Engine, v.Size, v.Workers = c.ID, c.Workload.ID, strings.Join(c.Engines, ","), c.Size, strconv.Itoa(c.Workers)
		v.Engines = s.compareEngineChoices(v.Engine)
	default:
		// A name the link leaves out takes its default; a name it gives
		// empty is a mistake the page points at.
		defaults := map[string]string{"workload": scenarios.Workloads[0].ID, "engine": scenarios.EnginePython, "size": "medium", "workers": "4"}
		for name, def := range defaults {
			if _, ok := q[name]; !ok {
				q[name] = def
			}
		}
		v.Workload, v.Engine, v.Size, v.Workers = q["workload"], q["engine"], q["size"], q["workers"]
		sc, _ := scenarios.Lookup(scenarios.CompareID)
		if wl, ok := scenarios.LookupWorkload(v.Workload); !ok {
			if err := fail(workloadError(v.Workload)); err != nil {
				return err
			}
			// The settings are checked with a model of their own workload: a
			// model that does not apply to it is left out, never an error.
		} else if err := validateCompareEngines(sc, v.Engine, map[string]any{"workload": v.Workload, "size": v.Size, "workers": v.Workers, "model": wl.Models()[0]}); err != nil {
			if err := fail(err); err != nil {
				return err
			}
		}
	}
	if v.Workload == "" {
		v.Workload = scenarios.Workloads[0].ID
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
	notFound := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &runs.NotFoundError{What: "file " + r.URL.Path}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: a directory (and its listing) is not part of the site.
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(files, path.Clean(name)); name == "" || strings.HasSuffix(name, "/") || err != nil || fi.IsDir() {
			notFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" && !s.cfg.DevStatic {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fileServer.ServeHTTP(w, r)
	})
}
