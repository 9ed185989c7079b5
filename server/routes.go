package server

import (
	"fmt"
	"net/http"
	"time"

	"interleave/runs"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// routes lists every URL the server answers, in one place.
func (s *Server) routes() http.Handler {
	// startLimit bounds how many runs, comparisons and imports one client
	// address starts a minute; past it the answer is a JSON 429.
	s.startLimit = httprate.LimitBy(s.cfg.Limits.RunsPerMinute, time.Minute, httprate.KeyByIP,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{
				"error": fmt.Sprintf("too many runs: one address may start %d a minute; try again shortly", s.cfg.Limits.RunsPerMinute)})
		}))
	// roomLimit bounds how many workshop rooms one address opens a minute.
	s.roomLimit = httprate.LimitBy(roomsPerMinute, time.Minute, httprate.KeyByIP,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{
				"error": fmt.Sprintf("too many rooms: one address may open %d a minute; try again shortly", roomsPerMinute)})
		}))
	r := chi.NewRouter()
	r.Use(s.checkHost)
	r.Use(middleware.Recoverer)
	r.Use(s.securityHeaders)
	// Every route that changes anything refuses other sites' pages; a route
	// added later is covered without a word.
	cop := s.crossOriginProtection()
	r.Use(cop.Handler)

	// Pages.
	r.Get("/", s.handle(s.catalogPage))
	r.Get("/s/{scenario}", s.handle(s.scenarioPage))
	r.Get("/r/{run}", s.handle(s.runPage))
	r.Get("/runs", s.handle(s.runsPage))
	r.Get("/compare", s.handle(s.comparePage))
	r.Get("/compare/{id}", s.handle(s.comparePage))
	r.Get("/w/{code}", s.handle(s.roomPage))

	// API.
	r.Get("/api/scenarios", s.handle(s.listScenarios))
	r.Get("/api/engines", s.handle(s.listEngines))
	r.With(s.startLimit).
		Post("/api/runs", s.handle(s.createRun))
	r.Get("/api/runs", s.handle(s.listRuns))
	r.Get("/api/runs/{id}", s.handle(s.getRun))
	r.Delete("/api/runs/{id}", s.handle(s.cancelRun))
	r.Get("/api/runs/{id}/events", s.handle(s.runEvents))
	r.Get("/api/runs/{id}/trace.json", s.handle(s.exportTrace))
	r.Post("/api/runs/{id}/step", s.handle(s.stepRun))
	r.With(s.startLimit).
		Post("/api/search", s.handle(s.searchInterleavings))
	r.Post("/api/runs/{id}/pin", s.handle(s.pinRun))
	r.Delete("/api/runs/{id}/pin", s.handle(s.unpinRun))
	r.With(s.startLimit).
		Post("/api/imports", s.handle(s.importTrace))
	r.With(s.startLimit).
		Post("/api/compare", s.handle(s.createComparison))
	r.With(s.sameSiteOnly(cop), s.startLimit).
		Get("/api/compare", s.handle(s.compareNow))
	r.Get("/api/compare/{id}", s.handle(s.getComparison))
	r.Delete("/api/compare/{id}", s.handle(s.cancelComparison))

	// Workshop rooms (package rooms; rooms.go and roomws.go route to it).
	r.With(s.roomLimit).
		Post("/api/rooms", s.handle(s.createRoom))
	r.Get("/api/rooms/{code}", s.handle(s.getRoom))
	r.Post("/api/rooms/{code}/join", s.handle(s.joinRoom))
	r.Get("/api/rooms/{code}/events", s.handle(s.roomEvents))
	r.Put("/api/rooms/{code}/view", s.handle(s.putView))
	r.Post("/api/rooms/{code}/questions", s.handle(s.askQuestion))
	r.Post("/api/rooms/{code}/questions/{q}/close", s.handle(s.closeQuestion))
	r.Post("/api/rooms/{code}/questions/{q}/answers", s.handle(s.answerQuestion))

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	r.Handle("/static/*", s.staticHandler())
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &runs.NotFoundError{What: "page " + r.URL.Path}
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, req *http.Request) error {
		return &methodNotAllowedError{method: req.Method, path: req.URL.Path, allowed: allowedMethods(r, req.URL.Path)}
	}))
	return r
}

// roomsPerMinute is how many rooms one client address may open a minute.
const roomsPerMinute = 10

// allowedMethods lists the methods mux answers on path, in a fixed order.
func allowedMethods(mux *chi.Mux, path string) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if mux.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}
