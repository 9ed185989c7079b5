package server

// What a comparison shows: each model's measured row (measure), and the
// table with its winners and ties (Comparison.Result), derived from the
// runs' summaries. compare.go runs the models; this file reads them.

import (
	"encoding/json"
	"time"

	"interleave/runs"
	"interleave/scenarios"
)

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
