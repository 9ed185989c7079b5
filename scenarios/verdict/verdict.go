// Package verdict derives a run's verdict, the one sentence that says what the
// run showed, from the numbers the run measured. The same code judges every
// engine (go, python, and python-ft without a GIL), so that a sentence can
// only claim what its metrics show: "faster" needs a speedup, "in parallel"
// needs several cores' worth of CPU per second of wall time, a cost is named
// as the cause of a shortfall only when it accounts for it, and a size is the
// measured bytes, not the setting.
//
// Engines emit the metrics (the same names per scenario on both engines; see
// docs/protocol.md); the server calls Derive when a run's end event arrives,
// after it has added its own measurements (other_load, observer_load).
package verdict

import (
	"fmt"
	"math"
	"strings"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// Input is everything a verdict is derived from.
type Input struct {
	Scenario string
	Engine   string
	Params   scenarios.Params
	// Summary is the end event's summary: wall and CPU time of the work and
	// the measured metrics (the server's other_load and observer_load among
	// them when it measured them).
	Summary event.Summary
	// Cores is the number of cores the run could use (the server's cores).
	Cores int
}

// Result is a derived verdict: the sentence, and the claims it makes in a
// form tests can check against the metrics.
type Result struct {
	Sentence string
	Claims   Claims
}

// Claims are what a sentence asserts, one field per rule a sentence obeys.
type Claims struct {
	// Speedup is the speedup the sentence quotes (0: it quotes none).
	Speedup float64
	// Faster is true when the sentence says the work ran faster.
	Faster bool
	// Slower is true when the sentence says the work ran slower.
	Slower bool
	// Cores is N when the sentence says "on N cores at once".
	Cores int
	// Parallel is true when the sentence says the work ran in parallel
	// (on N cores at once, or partly in parallel).
	Parallel bool
	// Predicted is the speedup the topic predicts when the result fell short
	// of it (0: it did not fall short, or nothing was predicted).
	Predicted float64
	// Causes names the measured reasons the sentence gives for a shortfall.
	Causes []string
	// Unexplained is true when the sentence says the measured costs do not
	// explain a shortfall.
	Unexplained bool
	// Bytes is a size the sentence quotes (0: none).
	Bytes int64
}

// Reasons a shortfall can be given, each backed by a metric.
const (
	// CauseOtherLoad: other processes used the cores (metric other_load).
	CauseOtherLoad = "other_load"
	// CauseObserverLoad: the server recording the run used the cores
	// (metric observer_load).
	CauseObserverLoad = "observer_load"
	// CauseOversubscribed: more workers than cores.
	CauseOversubscribed = "more_workers_than_cores"
	// CauseStartup: starting processes (metric startup_max).
	CauseStartup = "startup"
	// CauseSerialization: encoding and decoding (metric serialization).
	CauseSerialization = "serialization"
	// CauseSlowCompute: each worker's compute took longer than alone
	// (metric compute_mean against size).
	CauseSlowCompute = "slow_compute"
	// CauseLoopBusy: an event loop busy running task steps (metric
	// loop_busy).
	CauseLoopBusy = "loop_busy"
	// CauseStarved: CPU-bound work got fewer cores' worth of CPU per
	// second than it could use (the summary's CPU time over its wall time):
	// something else had the cores, whoever it was.
	CauseStarved = "starved"
	// CauseUnequalCores: the machine's cores compute at different speeds
	// (metric slowest_core, measured when the server, or the pool runner
	// that executed the run, started), so work split evenly finishes when
	// the slowest core's share does.
	CauseUnequalCores = "unequal_cores"
	// CauseSlowCPU: the work had its cores but took markedly more CPU
	// time than its calibration counted: the cores computed slower than
	// when it was calibrated.
	CauseSlowCPU = "slow_cpu"
	// CauseIdleWorkers: workers ran out of tasks while another still
	// computed its last (uneven tasks, or cores of unequal speed).
	CauseIdleWorkers = "idle_workers"
)

// UnequalMax is the largest slowest_core (relative to the fastest core)
// that counts as cores of unequal speed.
const UnequalMax = 0.9

// Thresholds of the rules. A shared 2-core machine varies by about ±10 % from
// run to run (docs/decision-matrix.md), so a word needs more than that.
const (
	// FasterMin is the smallest speedup called "faster".
	FasterMin = 1.15
	// SlowerMax is the largest speedup called "slower".
	SlowerMax = 1 / FasterMin
	// ParallelMin is the least speedup and the least CPU per wall time (in
	// cores) that show work running in parallel at all.
	ParallelMin = 1.3
	// FullShare is the share of the predicted speedup (and CPU per wall) a
	// result must reach to be called what the topic predicts; below it, the
	// verdict says the result fell short and why.
	FullShare = 0.8
	// CauseShare is the share of a shortfall a single measured cost must
	// account for to be named as a cause.
	CauseShare = 0.2
	// ExplainedShare is the share of a shortfall the named causes must
	// account for together; below it the verdict says the rest is unexplained.
	ExplainedShare = 0.5
	// LoadMin is the least other_load or observer_load, in cores, worth
	// naming.
	LoadMin = 0.15
)

// Derive computes the verdict of a run from its numbers.
func Derive(in Input) Result {
	in.Cores = max(in.Cores, 1)
	j := judge{Input: in}
	if f, ok := judges[in.Scenario]; ok {
		f(&j)
	} else {
		j.generic()
	}
	if note := j.gilBackNote(); note != "" {
		j.res.Sentence = note + " " + j.res.Sentence
	}
	j.res.Sentence = strings.TrimSpace(j.res.Sentence)
	return j.res
}

// judges maps a scenario id to the function that judges its runs.
var judges = map[string]func(*judge){}

// judge carries one derivation: the input and the result being built.
type judge struct {
	Input
	res Result
}

// has reports whether metric name was measured.
func (j *judge) has(name string) bool { _, ok := j.Summary.Metrics[name]; return ok }

// m returns metric name, 0 when it was not measured.
func (j *judge) m(name string) float64 { return j.Summary.Metrics[name].Value }

// wallMS is the run's wall time in ms: the wall metric, else wall_ns.
func (j *judge) wallMS() float64 {
	if j.has("wall") && j.m("wall") > 0 {
		return j.m("wall")
	}
	return float64(j.Summary.WallNS) / 1e6
}

// cpuPerWall is the CPU time of the work over its wall time: how many cores'
// worth of CPU the run used per second (0 when not measured).
func (j *judge) cpuPerWall() float64 {
	if j.Summary.WallNS <= 0 || j.Summary.CPUNS <= 0 {
		return 0
	}
	return float64(j.Summary.CPUNS) / float64(j.Summary.WallNS)
}

// gil reports whether the engine's threads ran Python code one at a time:
// on CPython with the GIL, and on a free-threaded CPython whose GIL came
// back during the run (metric gil_enabled).
func (j *judge) gil() bool { return HasGIL(j.Engine) || j.gilCameBack() }

// freeThreaded reports whether the run's threads ran without a GIL on
// CPython: the free-threaded build, its GIL off for the whole run.
func (j *judge) freeThreaded() bool {
	return scenarios.FreeThreaded(j.Engine) && !j.gilCameBack()
}

// gilCameBack reports whether a free-threaded CPython ran with its GIL on
// (PYTHON_GIL=1, or an extension without free-threading support): the
// harness measures it and adds the metric gil_enabled.
func (j *judge) gilCameBack() bool {
	return scenarios.FreeThreaded(j.Engine) && j.m(MetricGILEnabled) > 0
}

// MetricGILEnabled is the metric the CPython harness adds when a
// free-threaded build ran with its GIL on.
const MetricGILEnabled = "gil_enabled"

// gilBackNote is the sentence that says the GIL came back, "" when it did
// not.
func (j *judge) gilBackNote() string {
	if !j.gilCameBack() {
		return ""
	}
	from := ""
	if j.has(MetricGILEnabled + "_at") {
		from = " from " + Millis(j.m(MetricGILEnabled+"_at"))
	}
	return "The GIL was on during this run" + from + " although this CPython is free-threaded (PYTHON_GIL=1, or an extension module without free-threading support, turns it on): its threads ran Python one at a time, as on the GIL build."
}

// HasGIL reports whether engine runs Python threads under a GIL: CPython
// (python) does; a free-threaded CPython (python-ft) and Go do not.
func HasGIL(engine string) bool { return engine == scenarios.EnginePython }

// say sets the sentence.
func (j *judge) say(format string, args ...any) { j.res.Sentence = fmt.Sprintf(format, args...) }

// add appends a sentence to the verdict ("" adds nothing).
func (j *judge) add(s string) {
	if s == "" {
		return
	}
	if j.res.Sentence != "" {
		j.res.Sentence += " "
	}
	j.res.Sentence += s
}

// generic is the verdict of a scenario without a judge of its own: what the
// wall and CPU time show.
func (j *judge) generic() {
	j.say("The run took %s with %s of CPU.", Duration(j.Summary.WallNS), Duration(j.Summary.CPUNS))
}

// cost is a measured cost that may explain a shortfall: its reason, its size
// in ms of wall time and how the sentence names it.
type cost struct {
	cause string
	ms    float64
	words string
}

// explain names the costs that account for a shortfall of shortMS ms of wall
// time: each cost of at least CauseShare of it, and says so when together
// they explain less than ExplainedShare. It returns the clause ("" when
// shortMS is not positive) and records the causes in the claims.
func (j *judge) explain(shortMS float64, costs []cost) string {
	if shortMS <= 0 {
		return ""
	}
	var named []string
	var explained float64
	var minor []cost
	for _, c := range costs {
		if c.ms <= 0 {
			continue
		}
		if c.ms >= CauseShare*shortMS {
			named = append(named, c.words)
			j.res.Claims.Causes = append(j.res.Claims.Causes, c.cause)
			explained += c.ms
		} else {
			minor = append(minor, c)
		}
	}
	switch {
	case explained >= ExplainedShare*shortMS:
		return "because of " + joinAnd(named)
	case len(named) > 0:
		j.res.Claims.Unexplained = true
		return fmt.Sprintf("%s %s only %s of the %s lost; the rest is not explained by what this run measured", joinAnd(named), verb(len(named), "explains", "explain"), Millis(explained), Millis(shortMS))
	}
	j.res.Claims.Unexplained = true
	if len(minor) > 0 {
		var words []string
		var sum float64
		for _, c := range minor {
			words = append(words, c.words)
			sum += c.ms
		}
		return fmt.Sprintf("%s %s for only %s of the %s lost, so %s not the reason; what this run measured does not show what is", joinAnd(words), verb(len(words), "accounts", "account"), Millis(sum), Millis(shortMS), verb(len(words), "it is", "they are"))
	}
	return "what this run measured does not show why"
}

// loadCosts returns the other load and the observer's load as costs of a
// CPU-bound run that wanted ideal cores for seqMS ms of work: the wall time
// they took away when they left fewer cores than ideal.
func (j *judge) loadCosts(ideal float64, seqMS float64) []cost {
	other, observer := j.m("other_load"), j.m("observer_load")
	if other < LoadMin && observer < LoadMin {
		return nil
	}
	free := float64(j.Cores) - other - observer
	// The run had at most the cores the others left it (never less than a
	// tenth of one: the load is an average, and a run always gets some).
	left := math.Max(0.1, math.Min(ideal, free))
	if left >= ideal {
		return nil
	}
	lost := seqMS/left - seqMS/ideal
	var out []cost
	total := other + observer
	if other >= LoadMin {
		out = append(out, cost{CauseOtherLoad, lost * other / total, fmt.Sprintf("a busy machine (other processes used %.2f cores while it ran)", other)})
	}
	if observer >= LoadMin {
		out = append(out, cost{CauseObserverLoad, lost * observer / total, fmt.Sprintf("the playground's own recording (the server used %.2f cores)", observer)})
	}
	return out
}

// cpuCosts returns why CPU-bound work that could use ideal cores for seqMS
// ms of work lost time: workers out of tasks (idle); the measured load of
// other processes and of the observer when the server measured it, else,
// from the run's own CPU time over its wall time, the CPU it did not get;
// and the cores' speed (unequal cores, else cores slower than calibrated).
func (j *judge) cpuCosts(ideal, seqMS float64) []cost {
	idle := j.idleCosts(ideal)
	if load := j.loadCosts(ideal, seqMS); len(load) > 0 {
		return append(append(load, idle...), j.coreCosts(ideal, seqMS)...)
	}
	// The cores' worth of work there was to compute: a worker with no
	// task left (metric idle) wanted no core.
	want := ideal
	if wall := j.wallMS(); wall > 0 {
		want = math.Max(1, ideal-j.m("idle")/wall)
	}
	use := j.cpuPerWall()
	if use <= 0 || use >= FullShare*want {
		if unequal := j.coreCosts(ideal, seqMS); len(unequal) > 0 {
			// Work on a slower core takes more CPU time too: one cause.
			return append(idle, unequal...)
		}
		return append(idle, j.slowCPUCosts(seqMS)...)
	}
	return append(append([]cost{{CauseStarved, seqMS/use - seqMS/want,
		fmt.Sprintf("CPU it did not get (%.2f cores' worth per second where it had work for %.2f: something else on the machine had the cores)", use, want)}},
		idle...), j.coreCosts(ideal, seqMS)...)
}

// slowCPUCosts returns the wall time lost to cores that computed slower
// than when the work was calibrated: the work had its cores (its CPU per
// wall time) but took markedly more CPU time than the estimate counted
// (EstimateSlack). On a VM the CPU clock runs on while the host gives the
// core's time to another guest: seen in CI, 800 ms of work in 2 processes
// used 1,820 ms of CPU at 1.96 cores' worth per second.
func (j *judge) slowCPUCosts(seqMS float64) []cost {
	cpu := float64(j.Summary.CPUNS) / 1e6
	if seqMS <= 0 || cpu <= EstimateSlack*seqMS {
		return nil
	}
	return []cost{{CauseSlowCPU, j.wallMS() * (1 - seqMS/cpu),
		fmt.Sprintf("cores that computed below the speed measured when the run started (the work took %s of CPU where its calibration counted %s: %.0f %% of that speed; a VM's host can give its cores' time to other guests)",
			Millis(cpu), Millis(seqMS), 100*seqMS/cpu)}}
}

// idleCosts returns the wall time lost to workers that ran out of tasks
// while another still computed (metric idle, in ms of one worker, summed):
// spread over ideal cores, that work would have ended idle/ideal sooner.
func (j *judge) idleCosts(ideal float64) []cost {
	idle := j.m("idle")
	if idle <= 0 {
		return nil
	}
	return []cost{{CauseIdleWorkers, idle / ideal,
		fmt.Sprintf("workers that ran out of tasks (%s of a worker's time with the queue empty while another computed its last: the tasks do not split evenly, or a quicker core finished its share first)", Millis(idle))}}
}

// coreCosts returns the cost of the machine's unequal cores to CPU work
// that could use ideal cores for seqMS ms of work, split evenly: the share
// on the slowest core takes 1/slowest_core as long (nil on equal cores, or
// with one core to use).
func (j *judge) coreCosts(ideal, seqMS float64) []cost {
	slowest := j.m("slowest_core")
	if ideal < 2 || slowest <= 0 || slowest > UnequalMax {
		return nil
	}
	return []cost{{CauseUnequalCores, seqMS / ideal * (1/slowest - 1), j.unequalWords(slowest)}}
}

func (j *judge) unequalWords(slowest float64) string {
	return fmt.Sprintf("this machine's unequal cores, the slowest computing memory-heavy work at %.2f of the fastest's speed when it was measured (as its machine's server or runner started)", slowest)
}

// turnShortfall explains CPU work that computes one core's worth at a time
// (under the GIL, or GOMAXPROCS=1) and still fell short of one core's
// speed: "" when it did not, else a sentence naming the measured reason.
func (j *judge) turnShortfall(wall, seq, speedup float64) string {
	if speedup <= 0 || speedup >= FullShare {
		return ""
	}
	j.short(1)
	return fmt.Sprintf("That is short of the %s one core gives; %s.", X(1), j.explain(wall-seq, j.cpuCosts(1, seq)))
}

// busyClause adds a busy machine to an explanation that found no measured
// cause: it delays every wake-up and every step. "" when it was not busy.
func (j *judge) busyClause() string {
	other := j.m("other_load")
	if other < LoadMin {
		return ""
	}
	j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOtherLoad)
	return fmt.Sprintf(", though the machine was busy meanwhile (other processes used %.2f cores), which delays every wake-up", other)
}

// loadNote says how busy the machine was when that is worth saying, for
// verdicts without a speedup to explain.
func (j *judge) loadNote() string {
	other := j.m("other_load")
	if other < LoadMin {
		return ""
	}
	j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOtherLoad)
	return fmt.Sprintf("The machine was busy: other processes used %.2f cores while it ran, so its times are slower than on an idle machine.", other)
}

// parallelism judges CPU work meant to run on up to ideal cores at once: it
// returns the clause saying how parallel it was ("computed on 2 cores at
// once (…)", "computed only partly in parallel (…)", "did not compute in
// parallel (…)"), and records the claims.
// speedup is against doing the work in sequence on one core.
func (j *judge) parallelism(ideal int, speedup float64) (clause string, full bool) {
	use := j.cpuPerWall()
	switch {
	case ideal >= 2 && speedup >= FullShare*float64(ideal) && use >= FullShare*float64(ideal):
		j.res.Claims.Parallel, j.res.Claims.Cores = true, ideal
		return fmt.Sprintf("computed on %d cores at once (%.2f cores' worth of CPU per second)", ideal, use), true
	case speedup >= ParallelMin && use >= ParallelMin:
		j.res.Claims.Parallel = true
		return fmt.Sprintf("computed only partly in parallel (%.2f cores' worth of CPU per second)", use), false
	case use > 0:
		return fmt.Sprintf("did not compute in parallel (%.2f cores' worth of CPU per second)", use), false
	}
	return "did not compute in parallel", false
}

// pace describes a speedup in words and records it: "1.93x faster than in
// sequence", "0.98x, about as fast as in sequence", "0.66x, slower than in
// sequence".
func (j *judge) pace(speedup float64, than string) string {
	j.res.Claims.Speedup = speedup
	switch {
	case speedup >= FasterMin:
		j.res.Claims.Faster = true
		return fmt.Sprintf("%s faster than %s", X(speedup), than)
	case speedup <= SlowerMax:
		j.res.Claims.Slower = true
		return fmt.Sprintf("%s, slower than %s", X(speedup), than)
	}
	return fmt.Sprintf("%s, about as fast as %s", X(speedup), than)
}

// EstimateSlack is how far the sequential estimate of CPU work (its size in
// ms of one core, as calibrated before the run) may exceed the CPU time the
// work really used before the estimate is no measure: work cannot take less
// CPU than itself, so the cores ran faster than when they were calibrated.
const EstimateSlack = 1.15

// cpuPace is pace for CPU work judged against the sequential estimate: when
// the work used markedly less CPU than the estimate counted, the speedup
// against it is inflated, and the sentence says so instead of calling the
// work faster.
func (j *judge) cpuPace(speedup float64, than string) string {
	if phrase, off := j.noMeasure(speedup); off {
		return phrase
	}
	return j.pace(speedup, than)
}

// noMeasure returns, when the estimate is off (estimateOff), the phrase that
// quotes speedup as no measure and why, and records the speedup claimed.
func (j *judge) noMeasure(speedup float64) (string, bool) {
	cpu, seq, off := j.estimateOff()
	if !off {
		return "", false
	}
	j.res.Claims.Speedup = speedup
	return fmt.Sprintf("%s against the sequential estimate, which is no measure here: the work used only %s of CPU where the estimate counted %s (the cores were quicker during the run than when their speed was calibrated)", X(speedup), Millis(cpu), Millis(seq)), true
}

// estimateOff returns the CPU time the work used and the sequential
// estimate of it, in ms, and whether the estimate counted markedly more
// (EstimateSlack): then a speedup against it is no measure.
func (j *judge) estimateOff() (cpu, seq float64, off bool) {
	seq, cpu = j.m("sequential"), float64(j.Summary.CPUNS)/1e6
	return cpu, seq, cpu > 0 && seq > EstimateSlack*cpu
}

// short records that the result fell short of predicted.
func (j *judge) short(predicted float64) { j.res.Claims.Predicted = predicted }

// X renders a speedup: "1.93x".
func X(f float64) string { return fmt.Sprintf("%.2fx", f) }

// Duration renders ns for a sentence: "35 µs", "4.7 ms", "1250 ms", "12.5 s".
func Duration(ns int64) string {
	switch {
	case ns < 1e6:
		return fmt.Sprintf("%.0f µs", float64(ns)/1e3)
	case ns < 100e6:
		return fmt.Sprintf("%.1f ms", float64(ns)/1e6)
	case ns < 10e9:
		return fmt.Sprintf("%.0f ms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%.1f s", float64(ns)/1e9)
	}
}

// Millis renders a number of ms as Duration does.
func Millis(ms float64) string { return Duration(int64(math.Round(ms * 1e6))) }

// Bytes renders a byte count: "512 B", "12.5 KiB", "1.2 MiB".
func Bytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// plural renders "1 task", "4 tasks".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// verb picks the singular or plural form for n subjects.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func capitalJoin(parts []string) string {
	s := joinAnd(parts)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
