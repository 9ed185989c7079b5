// Package server is Interleave's HTTP side: the routes, the pages, and the
// sockets that stream each run's events to its viewers. Runs themselves
// (admission, the queue, execution through a runner, the store) are package
// runs's; the server knows nothing of how a scenario computes.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"interleave/rooms"
	"interleave/runs"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/goengine"
	"interleave/scenarios/pyengine"
)

// Server serves the pages, the API and the event sockets.
type Server struct {
	cfg    Config
	logger *slog.Logger
	runs   *runs.Manager
	store  *runs.Store
	// contain confines the processes of the runs this machine executes.
	contain  *child.Containment
	compares *comparisons
	// rooms are the workshop rooms (rooms.go routes to them).
	rooms *rooms.Hub
	// roomURLs are the URLs the room can open (one per address, with -lan);
	// a room's link and QR code use the first when the presenter's own
	// address is this machine's loopback.
	roomURLs []string
	handler  http.Handler
	// hosts are the Host headers the server answers (see guard.go).
	hosts hostPolicy
	// startLimit is the per-address rate limit on starting work; roomLimit
	// the one on opening rooms.
	startLimit func(http.Handler) http.Handler
	roomLimit  func(http.Handler) http.Handler
	// stepAuth, when set, must allow every step request (AuthorizeSteps).
	stepAuth StepAuthorizer
	// closing is closed when the server shuts down: viewers still open then
	// are closed with "going away".
	closing   chan struct{}
	closeOnce sync.Once
	viewers   atomic.Int64
	// imports holds a token per upload being converted (Limits.MaxImports).
	imports chan struct{}
	// engines are the engines in the order New was given them, the order
	// /api/engines and the pages list them in.
	engines []scenarios.Engine
}

// New returns a server running scenarios on engines and recording every
// run in the store in cfg.DataDir. Close releases the store.
func New(cfg Config, logger *slog.Logger, engines []scenarios.Engine) (*Server, error) {
	if logger == nil {
		return nil, errors.New("server needs a logger")
	}
	if cfg.Limits.MaxImports < 1 {
		return nil, fmt.Errorf("max-imports is %d; want at least 1", cfg.Limits.MaxImports)
	}
	store, err := runs.OpenStoreWith(cfg.DataDir, runs.StoreOptions{KeepRuns: cfg.Limits.KeepRuns, KeepBytes: cfg.Limits.KeepBytes,
		CacheBytes: cfg.Limits.CacheBytes, ResetBad: cfg.ResetStore}, logger)
	if err != nil {
		return nil, err
	}
	// What runs of a killed server left behind goes before any new run.
	if err := store.SweepLeftovers(context.Background(), logger); err != nil {
		logger.Warn("sweep what unfinished runs left", "err", err)
	}
	contain, err := runs.NewContainment(cfg.DataDir, cfg.Limits.Limits, cfg.Without, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	opts := []runs.Option{runs.WithContainment(contain)}
	if cfg.Runner != nil {
		opts = append(opts, runs.WithRunner(cfg.Runner))
	}
	m, err := runs.NewManager(cfg.Limits.Limits, engines, store, logger, opts...)
	if err != nil {
		contain.Close()
		store.Close()
		return nil, err
	}
	roomCfg := cfg.Rooms
	roomCfg.Dir = filepath.Join(cfg.DataDir, "rooms")
	roomCfg.Logger = logger
	hub, err := rooms.Open(roomCfg)
	if err != nil {
		contain.Close()
		store.Close()
		return nil, fmt.Errorf("open the workshop rooms: %w", err)
	}
	s := &Server{cfg: cfg, logger: logger, runs: m, store: store, compares: newComparisons(m, logger), contain: contain, closing: make(chan struct{}),
		imports: make(chan struct{}, cfg.Limits.MaxImports), hosts: newHostPolicy(cfg.AllowedHosts), rooms: hub, engines: engines}
	s.handler = s.routes()
	s.resumeRoomRuns()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Manager returns the run manager.
func (s *Server) Manager() *runs.Manager { return s.runs }

// Shutdown cancels every run (keeping what was recorded), lets viewers
// receive the final status, then closes the remaining sockets as going away.
func (s *Server) Shutdown(ctx context.Context) error {
	s.compares.shutdown()
	err := s.runs.Shutdown(ctx)
	// Everything the runs recorded goes to the store before sockets close.
	if derr := s.store.Drain(ctx); derr != nil && !errors.Is(derr, runs.ErrStoreClosed) {
		err = errors.Join(err, fmt.Errorf("store the last events: %w", derr))
	}
	// Give viewers a moment to send the runs' final status.
	deadline := time.Now().Add(time.Second)
	for s.viewers.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.closeOnce.Do(func() { close(s.closing) })
	for s.viewers.Load() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// Close saves the rooms, closes the store and stops the watchdog of the
// runs: call it after Shutdown.
func (s *Server) Close() error {
	err := errors.Join(s.rooms.Close(), s.store.Close())
	if s.contain != nil {
		err = errors.Join(err, s.contain.Close())
	}
	return err
}

// SetRoomURLs gives the URLs the room can open this server at (see
// servingURLs), for the links and QR codes of workshop rooms.
func (s *Server) SetRoomURLs(urls []string) { s.roomURLs = urls }

// DefaultEngines returns the engines this binary offers: Go; CPython
// (python3 from PATH, or cfg.Python; listed as unavailable, with how to
// install it, when missing or free-threaded); and python-ft, the first
// free-threaded CPython among cfg.FreeThreaded, pyengine.FreeThreadedNames
// on PATH and the python engine's interpreter (listed as unavailable, with
// how to get one, when there is none). Every interpreter
// is probed once, here, and what was found is logged. close releases what
// the engines hold (the harness's files).
func DefaultEngines(cfg Config, logger *slog.Logger) (engines []scenarios.Engine, close func(), err error) {
	g, err := goengine.New()
	if err != nil {
		return nil, nil, err
	}
	p, err := pyengine.New(cfg.Python)
	if err != nil {
		return nil, nil, err
	}
	// The python engine's interpreter comes last: a python3 that is itself
	// a free-threaded build is python-ft (the python engine refuses it).
	python := cfg.Python
	if python == "" {
		python = "python3"
	}
	ft, probes, err := pyengine.NewFreeThreaded(append(append(slices.Clip(cfg.FreeThreaded), pyengine.FreeThreadedNames...), python))
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	for _, pr := range probes {
		if pr.Path != "" {
			logger.Info("python interpreter", "asked", pr.Asked, "path", pr.Path, "version", pr.Version, "gil", pr.GIL, "err", pr.Err)
		}
	}
	for _, e := range []*pyengine.Engine{p, ft} {
		in := e.Info()
		if in.Available {
			logger.Info("engine", "id", in.ID, "label", in.Label)
		} else {
			logger.Warn("engine unavailable", "id", in.ID, "why", in.Why)
		}
	}
	return []scenarios.Engine{g, p, ft}, func() { p.Close(); ft.Close() }, nil
}

// ListenAndServe serves cfg.Addr until ctx is done, then shuts down gracefully.
func ListenAndServe(ctx context.Context, cfg Config, logger *slog.Logger) error {
	engines, closeEngines, err := DefaultEngines(cfg, logger)
	if err != nil {
		return err
	}
	defer closeEngines()
	s, err := New(cfg, logger, engines)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	hs := newHTTPServer(s, logger)
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		logger.Warn("list the network interfaces", "err", err)
	}
	local, room := servingURLs(ln.Addr(), ifaces)
	s.SetRoomURLs(room)
	logger.Info("serving", "url", local)
	for _, u := range room {
		logger.Info("the room can open", "url", u)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		logger.Warn("runs did not stop in time", "err", err)
	}
	return hs.Shutdown(shutdownCtx)
}

// newHTTPServer is the HTTP server that serves h: timeouts bound every
// request, and net/http's own complaints go to logger as errors.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      0, // event sockets stream for a whole run; each write has its own timeout
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
}
