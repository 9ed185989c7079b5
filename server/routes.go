package server

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// routes lists every URL the server answers, in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(s.securityHeaders)

	// Pages.
	r.Get("/", s.handle(s.catalogPage))
	r.Get("/s/{scenario}", s.handle(s.scenarioPage))
	r.Get("/r/{run}", s.handle(s.runPage))
	r.Get("/runs", s.handle(s.runsPage))
	r.Get("/compare", s.handle(s.comparePage))
	r.Get("/compare/{id}", s.handle(s.comparePage))

	// API.
	r.Get("/api/scenarios", s.handle(s.listScenarios))
	r.With(httprate.LimitByIP(s.cfg.Limits.RunsPerMinute, time.Minute)).
		Post("/api/runs", s.handle(s.createRun))
	r.Get("/api/runs", s.handle(s.listRuns))
	r.Get("/api/runs/{id}", s.handle(s.getRun))
	r.Delete("/api/runs/{id}", s.handle(s.cancelRun))
	r.Get("/api/runs/{id}/events", s.handle(s.runEvents))
	r.Get("/api/runs/{id}/trace.json", s.handle(s.exportTrace))
	r.Post("/api/runs/{id}/pin", s.handle(s.pinRun))
	r.Delete("/api/runs/{id}/pin", s.handle(s.unpinRun))
	r.With(httprate.LimitByIP(s.cfg.Limits.RunsPerMinute, time.Minute)).
		Post("/api/imports", s.handle(s.importTrace))
	r.With(httprate.LimitByIP(s.cfg.Limits.RunsPerMinute, time.Minute)).
		Post("/api/compare", s.handle(s.createComparison))
	r.With(httprate.LimitByIP(s.cfg.Limits.RunsPerMinute, time.Minute)).
		Get("/api/compare", s.handle(s.compareNow))
	r.Get("/api/compare/{id}", s.handle(s.getComparison))

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	r.Handle("/static/*", s.staticHandler())
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &NotFoundError{What: "page " + r.URL.Path}
	}))
	return r
}
