package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"interleave/runs"
	"interleave/scenarios"
	"interleave/scenarios/event"
)

// StatusPartial is the status of a comparison that ran to its end with a
// model that did not finish well (failed, cancelled, timed out): its table
// has holes, so it is not done.
const StatusPartial = event.StatusPartial

// errComparisonCancelled stops a comparison someone cancelled (rather than
// one stopped by a shutdown of the server).
var errComparisonCancelled = errors.New("cancelled")

// comparisonOver reports whether a comparison's status is final.
func comparisonOver(status string) bool { return event.ComparisonOver(status) }

// statusEvicted is the status of a model whose run a comparison names but
// the store no longer has: only comparisons recorded before comparisons
// kept their runs (store version 1) can show it.
const statusEvicted = "evicted"

// Comparison runs one workload under every model that applies to it, one
// after another (each run exclusive, so models never compete for cores), and
// measures them side by side: the decision matrix, on this machine.
type Comparison struct {
	ID       string
	Workload scenarios.Workload
	// Engine is the first of Engines, the one a single-engine comparison
	// has; its models are keyed by model alone (slotKey).
	Engine string
	// Engines are the engines every model runs on, in order (at least one).
	Engines []string
	Size    string
	Workers int
	Created time.Time
	Models  []string
	// cores is how many cores the models' runs could use; with the load
	// other processes put on them it widens what counts as a tie.
	cores int

	mu    sync.Mutex
	runs  map[string]*runs.Run    // by slotKey (engine and model)
	spans map[string][2]time.Time // by slotKey: when its run started and finished
	// evicted names, by slotKey, runs the record names that the store lost.
	evicted map[string]string
	status  string
	err     string
	cancel  context.CancelCauseFunc
	done    chan struct{}
}

// Done is closed when every model has run (or the comparison was stopped).
func (c *Comparison) Done() <-chan struct{} { return c.done }

// CompareRequest is the body of POST /api/compare.
type CompareRequest struct {
	Workload string `json:"workload"`
	Engine   string `json:"engine"`
	Size     string `json:"size"`
	// Workers is optional (default 4); zero is refused.
	Workers *int `json:"workers,omitempty"`
}

// comparisons runs the comparisons of this server. It holds a comparison
// in memory only while it runs: a finished one lives in the store (with its
// runs, which it keeps from retention), so that memory does not grow with
// the comparisons served.
type comparisons struct {
	runs   *runs.Manager
	store  *runs.Store
	logger *slog.Logger

	mu   sync.Mutex
	byID map[string]*Comparison
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

func newComparisons(m *runs.Manager, logger *slog.Logger) *comparisons {
	ctx, stop := context.WithCancel(context.Background())
	return &comparisons{runs: m, store: m.Store(), logger: logger, byID: map[string]*Comparison{}, ctx: ctx, stop: stop}
}

// shutdown stops every comparison and waits for their goroutines.
func (cs *comparisons) shutdown() {
	cs.stop()
	cs.wg.Wait()
}

// get returns a comparison of this server's life, or one from the store.
func (cs *comparisons) get(ctx context.Context, id string) (*Comparison, error) {
	cs.mu.Lock()
	c, ok := cs.byID[id]
	cs.mu.Unlock()
	if ok {
		return c, nil
	}
	rec, err := cs.store.LoadComparison(ctx, id)
	if err != nil {
		return nil, err
	}
	w, _ := scenarios.LookupWorkload(rec.Workload)
	c = &Comparison{ID: rec.ID, Workload: w, Engine: rec.Engine, Engines: rec.Engines, Size: rec.Size, Workers: rec.Workers, Created: rec.Created,
		Models: w.Models(), cores: cs.runs.Cores(), runs: map[string]*runs.Run{}, spans: rec.Spans, evicted: map[string]string{}, status: rec.Status, err: rec.Error,
		cancel: func(error) {}, done: make(chan struct{})}
	if c.spans == nil {
		c.spans = map[string][2]time.Time{}
	}
	if len(c.Engines) == 0 {
		c.Engines = []string{c.Engine}
	}
	if !comparisonOver(c.status) {
		// The server stopped in the middle of this comparison.
		c.status, c.err = runs.StatusInterrupted, "the server stopped before every model had run"
	}
	close(c.done)
	for model, runID := range rec.Runs {
		run, err := cs.runs.Lookup(ctx, runID)
		var nf *runs.NotFoundError
		switch {
		case errors.As(err, &nf):
			c.evicted[model] = runID
		case err != nil:
			return nil, err
		default:
			c.runs[model] = run
		}
	}
	if len(c.evicted) > 0 && c.status == runs.StatusDone {
		c.status = StatusPartial
		c.err = "the runs of some models were deleted from the store before comparisons kept their runs"
	}
	return c, nil
}

// cancelByID stops comparison id: its running model is cancelled and the
// models after it never start. A comparison that has finished (or one of an
// earlier life of the server) is answered as it is.
func (cs *comparisons) cancelByID(ctx context.Context, id string) (*Comparison, error) {
	cs.mu.Lock()
	c, ok := cs.byID[id]
	cs.mu.Unlock()
	if !ok {
		return cs.get(ctx, id)
	}
	c.cancel(errComparisonCancelled)
	select {
	case <-c.done:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// save records the comparison as it stands.
func (cs *comparisons) save(c *Comparison) {
	c.mu.Lock()
	rec := runs.ComparisonRecord{ID: c.ID, Workload: c.Workload.ID, Engine: c.Engine, Engines: c.storedEngines(), Size: c.Size, Workers: c.Workers, Created: c.Created,
		Status: c.status, Error: c.err, Runs: map[string]string{}, Spans: map[string][2]time.Time{}}
	for model, run := range c.runs {
		rec.Runs[model] = run.ID
	}
	for model, span := range c.spans {
		rec.Spans[model] = span
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cs.store.SaveComparison(ctx, rec); err != nil && !errors.Is(err, runs.ErrStoreClosed) {
		cs.logger.Warn("save comparison", "comparison", c.ID, "err", err)
	}
}

// start validates req and begins running its models in the background.
func (cs *comparisons) start(req CompareRequest) (*Comparison, error) {
	w, ok := scenarios.LookupWorkload(req.Workload)
	if !ok {
		return nil, workloadError(req.Workload)
	}
	sc, _ := scenarios.Lookup(scenarios.CompareID)
	engines, err := compareEngines(req.Engine)
	if err != nil {
		return nil, err
	}
	if req.Size == "" {
		req.Size = "medium"
	}
	// Workers default to one per core, as multiprocessing.Pool() and
	// ProcessPoolExecutor() do: more CPU-bound workers than cores only
	// share them (and, measured, cost more CPU per task).
	workers := min(max(runtime.NumCPU(), 1), scenarios.MaxCompareWorkers)
	if req.Workers != nil {
		workers = *req.Workers
	}
	// Validate every model's params on every engine now, so a bad request
	// fails before any run.
	for _, engine := range engines {
		for _, model := range w.Models() {
			if _, err := sc.Validate(engine, compareParams(req, workers, model)); err != nil {
				return nil, err
			}
		}
	}
	for _, engine := range engines {
		// On this machine or on the pool's runners.
		if err := cs.runs.CanRun(engine); err != nil {
			return nil, err
		}
	}
	if err := cs.store.Writable(); err != nil {
		return nil, err // its runs could not be kept
	}
	ctx, cancel := context.WithCancelCause(cs.ctx)
	c := &Comparison{ID: runs.NewID(), Workload: w, Engine: engines[0], Engines: engines, Size: req.Size, Workers: workers, Created: time.Now().UTC(),
		Models: w.Models(), cores: cs.runs.Cores(), runs: map[string]*runs.Run{}, spans: map[string][2]time.Time{}, evicted: map[string]string{}, status: runs.StatusRunning,
		cancel: cancel, done: make(chan struct{})}
	cs.mu.Lock()
	cs.byID[c.ID] = c
	cs.mu.Unlock()
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		defer cancel(nil)
		cs.execute(ctx, c, req, workers)
	}()
	return c, nil
}

func compareParams(req CompareRequest, workers int, model string) map[string]any {
	return map[string]any{"workload": req.Workload, "model": model, "size": req.Size, "workers": float64(workers)}
}

// execute runs the models in order, each as a normal recorded run that
// names the comparison (so the store keeps it as long as the comparison).
// The comparison ends done when every model's run is done, partial when
// one is not (failed, cancelled, timed out), cancelled when it was
// stopped, failed when a model could not be started. Once saved, it is
// forgotten: the store serves it from then on.
func (cs *comparisons) execute(ctx context.Context, c *Comparison, req CompareRequest, workers int) {
	status := runs.StatusDone
	defer func() {
		c.mu.Lock()
		if status == runs.StatusDone && !c.allDoneLocked() {
			status = StatusPartial
		}
		c.status = status
		c.mu.Unlock()
		cs.save(c)
		cs.mu.Lock()
		delete(cs.byID, c.ID)
		cs.mu.Unlock()
		close(c.done)
	}()
	cs.save(c)
	for _, engine := range c.Engines {
		calibration := 0.0 // measured by the engine's first model that ran
		for _, model := range c.Models {
			run, ok := cs.executeModel(ctx, c, req, workers, engine, model, calibration, &status)
			if !ok {
				return
			}
			if calibration == 0 {
				calibration = calibrationOf(run)
			}
		}
	}
}

// calibrationOf returns the CPU work's calibration a model's run reports
// (scenarios.ParamCalibration), or 0: every later model of the engine is
// given it, so that models do the same work. Calibrated in each model's
// own run, a model calibrated while the machine was busy did tens of
// percent less work than the others and looked that much faster.
func calibrationOf(run *runs.Run) float64 {
	if run == nil {
		return 0
	}
	var s event.Summary
	if raw := run.Summary(); raw == nil || json.Unmarshal(raw, &s) != nil {
		return 0
	}
	return s.Metrics[scenarios.ParamCalibration].Value
}

// executeModel runs model on engine, one slot of the comparison, with the
// CPU work's calibration (0: the run measures it), and returns its run
// (nil if it did not start) and whether the comparison goes on.
func (cs *comparisons) executeModel(ctx context.Context, c *Comparison, req CompareRequest, workers int, engine, model string, calibration float64, status *string) (*runs.Run, bool) {
	key := c.slotKey(engine, model)
	params := compareParams(req, workers, model)
	if calibration > 0 {
		params[scenarios.ParamCalibration] = calibration
	}
	run, err := cs.submit(ctx, runs.RunRequest{Scenario: scenarios.CompareID, Engine: engine, Params: params,
		Exclusive: true, Comparison: c.ID})
	if err != nil {
		c.mu.Lock()
		c.err = err.Error()
		*status = runs.StatusFailed
		if ctx.Err() != nil {
			*status = runs.StatusCancelled
			c.err = "cancelled before " + key + " started"
			if !errors.Is(context.Cause(ctx), errComparisonCancelled) {
				c.err = "the server shut down before " + key + " started"
			}
		}
		c.mu.Unlock()
		return nil, false
	}
	c.mu.Lock()
	c.runs[key] = run
	c.mu.Unlock()
	select {
	case <-run.Done():
		started, finished := run.Span()
		span := [2]time.Time{started, finished}
		c.mu.Lock()
		c.spans[key] = span
		c.mu.Unlock()
		cs.save(c)
		return run, true
	case <-ctx.Done():
		cs.runs.Cancel(run.ID)
		<-run.Done()
		started, finished := run.Span()
		span := [2]time.Time{started, finished}
		c.mu.Lock()
		c.spans[key] = span
		if errors.Is(context.Cause(ctx), errComparisonCancelled) {
			c.err = "cancelled: the running model was stopped and the models after it did not run"
		} else {
			c.err = "the server shut down: the running model was stopped and the models after it did not run"
		}
		c.mu.Unlock()
		*status = runs.StatusCancelled
		return run, false
	}
}

// storedEngines is what the record keeps of Engines: nothing for a
// comparison on one engine (its Engine says it), so that its record reads
// as before.
func (c *Comparison) storedEngines() []string {
	if len(c.Engines) < 2 {
		return nil
	}
	return c.Engines
}

// allDoneLocked reports whether every model has a run that ended done.
func (c *Comparison) allDoneLocked() bool {
	for _, engine := range c.Engines {
		for _, model := range c.Models {
			run, ok := c.runs[c.slotKey(engine, model)]
			if !ok {
				return false
			}
			if status, _ := run.Status(); status != runs.StatusDone {
				return false
			}
		}
	}
	return true
}

// submit starts a run, waiting for room in the queue when it is full.
func (cs *comparisons) submit(ctx context.Context, req runs.RunRequest) (*runs.Run, error) {
	for {
		run, err := cs.runs.Submit(req)
		var full *runs.QueueFullError
		if !errors.As(err, &full) {
			return run, err
		}
		select {
		case <-time.After(full.RetryAfter):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Server) createComparison(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSONObject(w, r, s.cfg.Limits.MaxBodyBytes, compareFields)
	if err != nil {
		return err
	}
	req, err := compareRequestFromJSON(body)
	if err != nil {
		return err
	}
	c, err := s.compares.start(req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/compare/"+c.ID)
	writeJSON(w, http.StatusCreated, c.Result())
	return nil
}

// cancelComparison is DELETE /api/compare/{id}: the running model is
// cancelled (its processes killed), the models after it never run, and the
// comparison ends cancelled. It answers the comparison as it ended; one
// already finished is answered as it is.
func (s *Server) cancelComparison(w http.ResponseWriter, r *http.Request) error {
	c, err := s.compares.cancelByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c.Result())
	return nil
}

func (s *Server) getComparison(w http.ResponseWriter, r *http.Request) error {
	c, err := s.compares.get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c.Result())
	return nil
}

// compareNow runs a comparison and answers when every model has run:
// GET /api/compare?workload=cpu&engine=python&size=small.
func (s *Server) compareNow(w http.ResponseWriter, r *http.Request) error {
	q, err := readQuery(r, compareFields)
	if err != nil {
		return err
	}
	var workers any
	if v, ok := q["workers"]; ok {
		workers = v
	}
	req, err := compareRequest(q["workload"], q["engine"], q["size"], workers)
	if err != nil {
		return err
	}
	c, err := s.compares.start(req)
	if err != nil {
		return err
	}
	select {
	case <-c.Done():
	case <-r.Context().Done():
		c.cancel(errComparisonCancelled)
		<-c.Done()
		return nil
	}
	writeJSON(w, http.StatusOK, c.Result())
	return nil
}
