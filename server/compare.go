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

// ModelResult is one model's measured row of the results table.
type ModelResult struct {
	Model  string `json:"model"`
	Run    string `json:"run,omitempty"`
	Status string `json:"status"`
	WallNS int64  `json:"wall_ns,omitempty"`
	CPUNS  int64  `json:"cpu_ns,omitempty"`
	// CPUUtilization is CPU time over wall time: above 1 means several cores
	// worked at once.
	CPUUtilization float64 `json:"cpu_utilization,omitempty"`
	// Speedup is the baseline's wall time over this model's (the baseline is
	// sequential, or the first model when there is no sequential run).
	Speedup float64 `json:"speedup,omitempty"`
	// PeakRSSBytes is the peak resident memory of every process of the model.
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// LostUpdates counts updates of shared data that were lost (shared-state).
	LostUpdates *int64 `json:"lost_updates,omitempty"`
	// OtherLoad is the CPU other processes used while the model ran, in
	// cores (the server's other_load metric, when it measured it): it
	// widens the margin within which this model ties another.
	OtherLoad float64 `json:"other_load,omitempty"`
	Correct   bool    `json:"correct"`
	Verdict   string  `json:"verdict,omitempty"`
	// Started and Finished are when the model's run left the queue and
	// ended: each model runs alone, after the previous one.
	Started  *time.Time `json:"started,omitempty"`
	Finished *time.Time `json:"finished,omitempty"`
}

// CompareResult is GET /api/compare's answer.
type CompareResult struct {
	ID       string `json:"id"`
	Workload string `json:"workload"`
	// Engine is the first engine; Models, Baseline, Winners, Ties and Rule
	// are its column group.
	Engine string `json:"engine"`
	// Engines lists every engine of a comparison over several, and Groups
	// their column groups, in order (the first is Engine's); both are
	// absent for a comparison on one engine.
	Engines  []string       `json:"engines,omitempty"`
	Groups   []EngineResult `json:"groups,omitempty"`
	Size     string         `json:"size"`
	Workers  int            `json:"workers"`
	Status   string         `json:"status"`
	Error    string         `json:"error,omitempty"`
	Created  time.Time      `json:"created"`
	Baseline string         `json:"baseline,omitempty"`
	Models   []ModelResult  `json:"models"`
	// Winners names, per criterion (wall, cpu, memory), the model that beat
	// every other by more than the measured noise; it is empty until every
	// model has finished.
	Winners map[string]string `json:"winners"`
	// Ties lists, per criterion, the models within the noise of the best
	// (the best first) when no model won outright.
	Ties map[string][]string `json:"ties"`
	// Noise is the relative run-to-run noise per criterion (0.1: 10 %)
	// within which two measurements are a tie.
	Noise  map[string]float64 `json:"noise"`
	Rule   CompareRule        `json:"rule"`
	Matrix scenarios.Workload `json:"matrix"`
}

// CompareRule sets the guide's rule of thumb beside the measurement.
type CompareRule struct {
	Recommended []string `json:"recommended"`
	// Measured is the fastest model when it won beyond the noise; Tied the
	// models that were fastest within the noise of each other otherwise.
	Measured string   `json:"measured,omitempty"`
	Tied     []string `json:"tied,omitempty"`
	// Agrees is true when the winner, or one of the tied models, is one the
	// rule of thumb recommends.
	Agrees bool `json:"agrees"`
	// Note explains, when the measurement disagrees with the rule, why.
	Note string `json:"note,omitempty"`
}

// Result computes the comparison's table from its runs so far.
func (c *Comparison) Result() CompareResult {
	c.mu.Lock()
	res := CompareResult{ID: c.ID, Workload: c.Workload.ID, Engine: c.Engine, Size: c.Size, Workers: c.Workers, Status: c.status, Error: c.err,
		Created: c.Created, Winners: map[string]string{}, Ties: map[string][]string{}, Noise: noiseMargin, Matrix: c.Workload}
	byKey := make(map[string]*runs.Run, len(c.runs))
	for k, v := range c.runs {
		byKey[k] = v
	}
	spans := make(map[string][2]time.Time, len(c.spans))
	for k, v := range c.spans {
		spans[k] = v
	}
	evicted := make(map[string]string, len(c.evicted))
	for k, v := range c.evicted {
		evicted[k] = v
	}
	c.mu.Unlock()

	engines := c.Engines
	if len(engines) == 0 {
		engines = []string{c.Engine}
	}
	for _, engine := range engines {
		res.Groups = append(res.Groups, c.groupResult(engine, res.Status, byKey, spans, evicted))
	}
	first := res.Groups[0]
	res.Models, res.Baseline, res.Winners, res.Ties, res.Rule = first.Models, first.Baseline, first.Winners, first.Ties, first.Rule
	if len(c.Engines) > 1 {
		res.Engines = c.Engines
	} else {
		res.Groups = nil
	}
	return res
}

// measure reads one model's numbers from its run.
func measure(model string, run *runs.Run) ModelResult {
	info := run.Info()
	row := ModelResult{Model: model, Run: run.ID, Status: info.Status, PeakRSSBytes: info.PeakRSS}
	var summary struct {
		WallNS  int64 `json:"wall_ns"`
		CPUNS   int64 `json:"cpu_ns"`
		Metrics map[string]struct {
			Value float64 `json:"value"`
		} `json:"metrics"`
		Verdict string `json:"verdict"`
	}
	if len(info.Summary) == 0 || json.Unmarshal(info.Summary, &summary) != nil {
		return row
	}
	row.WallNS, row.CPUNS, row.Verdict = summary.WallNS, summary.CPUNS, summary.Verdict
	if row.WallNS > 0 {
		row.CPUUtilization = round3(float64(row.CPUNS) / float64(row.WallNS))
	}
	// The model's own processes report their peaks (VmHWM, summed); that
	// leaves out the engine's helpers (the python event recorder, the
	// loopback server standing in for a remote one), which the server's
	// samples of the whole process group would count. The samples are only
	// the fallback for a run that reports nothing.
	if m, ok := summary.Metrics["peak_rss"]; ok && m.Value > 0 {
		row.PeakRSSBytes = int64(m.Value)
	}
	row.Correct = row.Status == runs.StatusDone
	row.OtherLoad = summary.Metrics["other_load"].Value
	if m, ok := summary.Metrics["lost_updates"]; ok {
		lost := int64(m.Value)
		row.LostUpdates = &lost
		row.Correct = row.Correct && lost == 0
	}
	return row
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
