package server

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"interleave/runs"
	"interleave/scenarios"
)

// The decision matrix's judgement: which model won each criterion, which
// tied within the measured noise, and how the measurement stands against
// the guide's rule of thumb.

// judged reports whether a comparison with status has every model's run
// behind it (done, or partial: one of them failed), so that its winners can
// be named.
func judged(status string) bool { return status == runs.StatusDone || status == StatusPartial }

// noiseMargin is the run-to-run noise of the decision matrix on a shared
// 2-core machine, per criterion: how far apart two runs of the same model on
// the same workload fall (the 95th percentile of their relative difference),
// measured with BenchmarkCompareNoise (docs/decision-matrix.md). Two models
// closer than this are a tie: the measurement cannot tell them apart.
var noiseMargin = map[string]float64{"wall": 0.10, "cpu": 0.15, "memory": 0.05}

// noiseFloor is the least absolute difference per criterion (ns, ns, bytes)
// that can be a win, whatever the relative noise: timer and scheduling
// granularity for times, allocator granularity for memory.
var noiseFloor = map[string]float64{"wall": 2e6, "cpu": 5e6, "memory": 1 << 20}

// winners names, per criterion, the model that beat every other correct,
// finished model by more than the noise; where the best is within the noise
// of others, ties lists them instead (best first). A time measured while
// other processes used part of the cores can be slower by their share, so
// the margin for wall and CPU time widens by the larger of the two runs'
// other load over the cores.
func winners(rows []ModelResult, cores int) (map[string]string, map[string][]string) {
	win, ties := map[string]string{}, map[string][]string{}
	cores = max(cores, 1)
	judge := func(name string, value func(ModelResult) float64) {
		type entry struct {
			model string
			v     float64
			other float64
		}
		var es []entry
		for _, r := range rows {
			if v := value(r); r.Correct && r.WallNS > 0 && v > 0 {
				es = append(es, entry{r.Model, v, r.OtherLoad})
			}
		}
		if len(es) == 0 {
			return
		}
		slices.SortStableFunc(es, func(a, b entry) int { return cmp.Compare(a.v, b.v) })
		best := es[0]
		var tied []string
		for _, e := range es {
			margin := noiseMargin[name]
			if name != "memory" {
				margin += max(best.other, e.other) / float64(cores)
			}
			if e.v-best.v <= max(margin*best.v, noiseFloor[name]) {
				tied = append(tied, e.model)
			}
		}
		if len(tied) == 1 {
			win[name] = tied[0]
		} else {
			ties[name] = tied
		}
	}
	judge("wall", func(r ModelResult) float64 { return float64(r.WallNS) })
	judge("cpu", func(r ModelResult) float64 { return float64(r.CPUNS) })
	judge("memory", func(r ModelResult) float64 { return float64(r.PeakRSSBytes) })
	return win, ties
}

// judgeRule compares the guide's rule of thumb with the measured winner and,
// when they disagree, explains why from the numbers.
func judgeRule(w scenarios.Workload, engine string, rows []ModelResult, win map[string]string, ties map[string][]string, status string) CompareRule {
	rule := CompareRule{Recommended: w.Rule, Measured: win["wall"], Tied: ties["wall"]}
	if !judged(status) || (rule.Measured == "" && len(rule.Tied) == 0) {
		return rule
	}
	if len(rule.Tied) > 0 {
		return tieRule(w, rows, rule)
	}
	rule.Agrees = slices.Contains(w.Rule, rule.Measured)
	if rule.Agrees {
		return rule
	}
	row := func(model string) *ModelResult {
		for i := range rows {
			if rows[i].Model == model {
				return &rows[i]
			}
		}
		return nil
	}
	winner := row(rule.Measured)
	var rec *ModelResult
	for _, m := range w.Rule {
		if r := row(m); r != nil && r.WallNS > 0 && (rec == nil || r.WallNS < rec.WallNS) {
			rec = r
		}
	}
	ms := msText
	switch {
	case rec == nil:
		rule.Note = fmt.Sprintf("The rule of thumb recommends %s, but it did not finish here; %s was fastest.", strings.Join(w.Rule, " or "), rule.Measured)
	case engine == scenarios.EngineGo && rule.Measured == scenarios.ModelThreads && (slices.Contains(w.Rule, scenarios.ModelProcesses) || slices.Contains(w.Rule, scenarios.ModelPool)):
		rule.Note = fmt.Sprintf("The rule of thumb (%s) is for CPython, whose GIL keeps threads from computing in parallel. Go has no GIL: goroutines used every core (%s) without the start-up and serialization that processes pay (%s with %s).", strings.Join(w.Rule, " or "), ms(winner.WallNS), ms(rec.WallNS), rec.Model)
	case engine == scenarios.EnginePythonFT && rule.Measured == scenarios.ModelThreads && (slices.Contains(w.Rule, scenarios.ModelProcesses) || slices.Contains(w.Rule, scenarios.ModelPool)):
		rule.Note = fmt.Sprintf("The rule of thumb (%s) is for CPython with the GIL, which keeps threads from computing in parallel. This CPython is free-threaded: its threads used every core (%s) without the start-up and pickling that processes pay (%s with %s).", strings.Join(w.Rule, " or "), ms(winner.WallNS), ms(rec.WallNS), rec.Model)
	case w.ID == "shared-state" && rule.Measured != scenarios.ModelThreads:
		rule.Note = fmt.Sprintf("%s was fastest (%s against %s for threads): updating shared data has nothing to wait for, so one thread without locks is quickest. The rule of thumb is about correctness, not speed: when a program is concurrent anyway, threads with a lock share state safely (%s lost updates here), where processes must use explicit shared memory (%s).", rule.Measured, ms(winner.WallNS), ms(threadsWall(rows)), lostIn(rows, scenarios.ModelThreads), msModel(rows, scenarios.ModelProcesses))
	case rule.Measured == scenarios.ModelSequential:
		rule.Note = fmt.Sprintf("Plain sequential code was fastest (%s against %s for %s): for this size of job there is nothing to overlap or parallelise that pays for starting workers, switching tasks or taking locks. Try size=large.", ms(winner.WallNS), ms(rec.WallNS), rec.Model)
	default:
		rule.Note = fmt.Sprintf("The rule of thumb recommends %s, but %s was faster here (%s against %s). A rule of thumb is about how work scales; on a small job or a 2-core machine fixed costs (start-up, serialization, switching) can decide instead.", rec.Model, rule.Measured, ms(winner.WallNS), ms(rec.WallNS))
	}
	return rule
}

// tieRule judges the rule of thumb against a tie: it agrees when a model it
// recommends is among the tied ones, and the note says that none won.
func tieRule(w scenarios.Workload, rows []ModelResult, rule CompareRule) CompareRule {
	wall := func(model string) string {
		for _, r := range rows {
			if r.Model == model && r.WallNS > 0 {
				return fmt.Sprintf("%s (%s)", model, msText(r.WallNS))
			}
		}
		return model
	}
	var tied []string
	for _, m := range rule.Tied {
		tied = append(tied, wall(m))
		if slices.Contains(w.Rule, m) {
			rule.Agrees = true
		}
	}
	noise := fmt.Sprintf("%.0f %%, more when the machine was busy", 100*noiseMargin["wall"])
	head := fmt.Sprintf("A tie: %s finished within this machine's run-to-run noise (%s) of each other, so none of them won.", strings.Join(tied, ", "), noise)
	if rule.Agrees {
		rule.Note = head + " The rule of thumb's choice is among them."
		return rule
	}
	var recs []string
	for _, m := range w.Rule {
		recs = append(recs, wall(m))
	}
	rule.Note = head + fmt.Sprintf(" The rule of thumb recommends %s, which was slower here: on a small job or a 2-core machine fixed costs (start-up, serialization, switching) can decide instead.", strings.Join(recs, " or "))
	return rule
}

// msText renders a wall time for notes: "4.25 ms", "425 ms", and past
// 10 s in seconds ("18.4 s", not "18382 ms").
func msText(ns int64) string {
	switch {
	case ns < 10_000_000:
		return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
	case ns < 10_000_000_000:
		return fmt.Sprintf("%.0f ms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.1f s", float64(ns)/1e9)
}

// round3 keeps three significant digits, so that a 0.0004x speedup stays
// visible rather than rounding to zero.
func round3(f float64) float64 {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(f))))
	return math.Round(f*scale) / scale
}

// threadsWall is the threads model's wall time, or 0.
func threadsWall(rows []ModelResult) int64 {
	for _, r := range rows {
		if r.Model == scenarios.ModelThreads {
			return r.WallNS
		}
	}
	return 0
}

// msModel describes one model's wall time, for notes.
func msModel(rows []ModelResult, model string) string {
	for _, r := range rows {
		if r.Model == model && r.WallNS > 0 {
			return msText(r.WallNS) + " for " + model
		}
	}
	return model + " did not run"
}

// lostIn says how many updates a model lost, for notes.
func lostIn(rows []ModelResult, model string) string {
	for _, r := range rows {
		if r.Model == model && r.LostUpdates != nil {
			return strconv.FormatInt(*r.LostUpdates, 10)
		}
	}
	return "unknown"
}
