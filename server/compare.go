package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"interleave/scenarios"
)

// Comparison runs one workload under every model that applies to it, one
// after another (each run exclusive, so models never compete for cores), and
// measures them side by side: the decision matrix, on this machine.
type Comparison struct {
	ID       string
	Workload scenarios.Workload
	Engine   string
	Size     string
	Workers  int
	Created  time.Time
	Models   []string
	// cores is how many cores the models' runs could use; with the load
	// other processes put on them it widens what counts as a tie.
	cores int

	mu     sync.Mutex
	runs   map[string]*Run         // by model
	spans  map[string][2]time.Time // by model: when its run started and finished
	status string
	err    string
	cancel context.CancelFunc
	done   chan struct{}
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

// comparisons keeps the comparisons of this server.
type comparisons struct {
	runs  *Manager
	store *Store

	mu   sync.Mutex
	byID map[string]*Comparison
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

func newComparisons(runs *Manager, store *Store) *comparisons {
	ctx, stop := context.WithCancel(context.Background())
	return &comparisons{runs: runs, store: store, byID: map[string]*Comparison{}, ctx: ctx, stop: stop}
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
	rec, err := cs.store.loadComparison(ctx, id)
	if err != nil {
		return nil, err
	}
	w, _ := scenarios.LookupWorkload(rec.Workload)
	c = &Comparison{ID: rec.ID, Workload: w, Engine: rec.Engine, Size: rec.Size, Workers: rec.Workers, Created: rec.Created,
		Models: w.Models(), cores: cs.runs.cores, runs: map[string]*Run{}, spans: rec.Spans, status: rec.Status, err: rec.Error, cancel: func() {}, done: make(chan struct{})}
	if c.spans == nil {
		c.spans = map[string][2]time.Time{}
	}
	if !finished(c.status) {
		// The server stopped in the middle of this comparison.
		c.status, c.err = StatusInterrupted, "the server stopped before every model had run"
	}
	close(c.done)
	for model, runID := range rec.Runs {
		if run, err := cs.runs.Lookup(ctx, runID); err == nil {
			c.runs[model] = run
		}
	}
	return c, nil
}

// save records the comparison as it stands.
func (cs *comparisons) save(c *Comparison) {
	c.mu.Lock()
	rec := comparisonRecord{ID: c.ID, Workload: c.Workload.ID, Engine: c.Engine, Size: c.Size, Workers: c.Workers, Created: c.Created,
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
	if err := cs.store.saveComparison(ctx, rec); err != nil && !errors.Is(err, errStoreClosed) {
		cs.runs.logger.Warn("save comparison", "comparison", c.ID, "err", err)
	}
}

// start validates req and begins running its models in the background.
func (cs *comparisons) start(req CompareRequest) (*Comparison, error) {
	w, ok := scenarios.LookupWorkload(req.Workload)
	if !ok {
		ids := make([]string, len(scenarios.Workloads))
		for i, w := range scenarios.Workloads {
			ids[i] = w.ID
		}
		return nil, &scenarios.ParamError{Field: "workload", Message: fmt.Sprintf("%q is not allowed; want one of %s", req.Workload, strings.Join(ids, ", "))}
	}
	sc, _ := scenarios.Lookup(scenarios.CompareID)
	if req.Engine == "" {
		req.Engine = scenarios.EnginePython
	}
	if req.Size == "" {
		req.Size = "medium"
	}
	workers := 4
	if req.Workers != nil {
		workers = *req.Workers
	}
	// Validate every model's params now, so a bad request fails before any run.
	for _, model := range w.Models() {
		if _, err := sc.Validate(req.Engine, compareParams(req, workers, model)); err != nil {
			return nil, err
		}
	}
	eng, ok := cs.runs.Engine(req.Engine)
	if !ok {
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: errors.New("not configured on this server")}
	}
	if err := eng.Available(); err != nil {
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: err}
	}
	ctx, cancel := context.WithCancel(cs.ctx)
	c := &Comparison{ID: newID(), Workload: w, Engine: req.Engine, Size: req.Size, Workers: workers, Created: time.Now().UTC(),
		Models: w.Models(), cores: cs.runs.cores, runs: map[string]*Run{}, spans: map[string][2]time.Time{}, status: StatusRunning, cancel: cancel, done: make(chan struct{})}
	cs.mu.Lock()
	cs.byID[c.ID] = c
	cs.mu.Unlock()
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		defer cancel()
		cs.execute(ctx, c, req, workers)
	}()
	return c, nil
}

func compareParams(req CompareRequest, workers int, model string) map[string]any {
	return map[string]any{"workload": req.Workload, "model": model, "size": req.Size, "workers": float64(workers)}
}

// execute runs the models in order, each as a normal recorded run.
func (cs *comparisons) execute(ctx context.Context, c *Comparison, req CompareRequest, workers int) {
	status := StatusDone
	defer func() {
		c.mu.Lock()
		c.status = status
		c.mu.Unlock()
		cs.save(c)
		close(c.done)
	}()
	cs.save(c)
	for _, model := range c.Models {
		run, err := cs.submit(ctx, RunRequest{Scenario: scenarios.CompareID, Engine: req.Engine, Params: compareParams(req, workers, model), Exclusive: true})
		if err != nil {
			c.mu.Lock()
			c.err = err.Error()
			c.mu.Unlock()
			status = StatusFailed
			if ctx.Err() != nil {
				status = StatusCancelled
			}
			return
		}
		c.mu.Lock()
		c.runs[model] = run
		c.mu.Unlock()
		select {
		case <-run.Done():
			run.mu.Lock()
			span := [2]time.Time{run.startedAt, run.finishedAt}
			run.mu.Unlock()
			c.mu.Lock()
			c.spans[model] = span
			c.mu.Unlock()
			cs.save(c)
		case <-ctx.Done():
			cs.runs.Cancel(run.ID)
			<-run.Done()
			status = StatusCancelled
			return
		}
	}
}

// submit starts a run, waiting for room in the queue when it is full.
func (cs *comparisons) submit(ctx context.Context, req RunRequest) (*Run, error) {
	for {
		run, err := cs.runs.Submit(req)
		var full *QueueFullError
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
	ID       string        `json:"id"`
	Workload string        `json:"workload"`
	Engine   string        `json:"engine"`
	Size     string        `json:"size"`
	Workers  int           `json:"workers"`
	Status   string        `json:"status"`
	Error    string        `json:"error,omitempty"`
	Created  time.Time     `json:"created"`
	Baseline string        `json:"baseline,omitempty"`
	Models   []ModelResult `json:"models"`
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
	runs := make(map[string]*Run, len(c.runs))
	for k, v := range c.runs {
		runs[k] = v
	}
	spans := make(map[string][2]time.Time, len(c.spans))
	for k, v := range c.spans {
		spans[k] = v
	}
	c.mu.Unlock()

	for _, model := range c.Models {
		row := ModelResult{Model: model, Status: StatusQueued}
		if run, ok := runs[model]; ok {
			row = measure(model, run)
		}
		if span, ok := spans[model]; ok {
			row.Started, row.Finished = &span[0], &span[1]
		}
		res.Models = append(res.Models, row)
	}
	// Speedups against the sequential run, or the first model.
	var base *ModelResult
	for i := range res.Models {
		if r := &res.Models[i]; r.Status == StatusDone && r.WallNS > 0 && (base == nil || r.Model == scenarios.ModelSequential) {
			if base == nil || r.Model == scenarios.ModelSequential {
				base = r
			}
		}
	}
	if base != nil {
		res.Baseline = base.Model
		for i := range res.Models {
			if r := &res.Models[i]; r.Status == StatusDone && r.WallNS > 0 {
				r.Speedup = round3(float64(base.WallNS) / float64(r.WallNS))
			}
		}
	}
	// No winner until every model has finished: a model still to run may
	// beat them all.
	if res.Status == StatusDone {
		res.Winners, res.Ties = winners(res.Models, c.cores)
	}
	res.Rule = judgeRule(c.Workload, c.Engine, res.Models, res.Winners, res.Ties, res.Status)
	return res
}

// measure reads one model's numbers from its run.
func measure(model string, run *Run) ModelResult {
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
	row.Correct = row.Status == StatusDone
	row.OtherLoad = summary.Metrics["other_load"].Value
	if m, ok := summary.Metrics["lost_updates"]; ok {
		lost := int64(m.Value)
		row.LostUpdates = &lost
		row.Correct = row.Correct && lost == 0
	}
	return row
}

func (s *Server) createComparison(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req CompareRequest
	if err := dec.Decode(&req); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &badRequestError{msg: "body: want a JSON object {\"workload\", \"engine\", \"size\", \"workers\"}: " + err.Error()}
	}
	c, err := s.compares.start(req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/compare/"+c.ID)
	writeJSON(w, http.StatusCreated, c.Result())
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
	q := r.URL.Query()
	req := CompareRequest{Workload: q.Get("workload"), Engine: q.Get("engine"), Size: q.Get("size")}
	for name := range q {
		if !slices.Contains([]string{"workload", "engine", "size", "workers"}, name) {
			return &scenarios.ParamError{Field: name, Message: "unknown param; /api/compare takes workload, engine, size, workers"}
		}
	}
	if v := q.Get("workers"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return &scenarios.ParamError{Field: "workers", Message: v + " is not allowed; want a whole number from 1 to 64"}
		}
		req.Workers = &n
	}
	c, err := s.compares.start(req)
	if err != nil {
		return err
	}
	select {
	case <-c.Done():
	case <-r.Context().Done():
		c.cancel()
		<-c.Done()
		return nil
	}
	writeJSON(w, http.StatusOK, c.Result())
	return nil
}
