package runs

import (
	"fmt"
	"runtime"
	"slices"

	"interleave/internal/machineload"
	"interleave/scenarios/event"
)

// completeSummary is called, with r.mu held, when a run's end event arrives:
// the server adds to the engine's summary what only it can measure (how busy
// the rest of the machine was while the run executed: this machine, or the
// pool's runner that executed it, which measured its own) and then derives the
// verdict from the numbers, the same way for every engine.
func completeSummary(r *Run, s *event.Summary) {
	if s.Metrics == nil {
		s.Metrics = map[string]event.Metric{}
	}
	if r.load != nil {
		if u, _, err := r.load.Sample(); err == nil {
			addLoad(s, u, runtime.NumCPU(), "")
		}
		addCoreSpeeds(s, machineload.CoreSpeeds(), "the server")
	} else if r.remoteLoad != nil {
		// Measured on the pool's runner, just before the end event.
		addLoad(s, *r.remoteLoad, r.remoteCores, r.runner)
		addCoreSpeeds(s, r.remoteSpeeds, "runner "+r.runner)
	}
	deriveVerdict(r, s)
}

// addCoreSpeeds puts the speed of this machine's slowest core, relative to
// its fastest, into the summary (metric slowest_core), when the cores were
// measured: a verdict names unequal cores as a cause of a parallel run's
// shortfall.
func addCoreSpeeds(s *event.Summary, speeds []float64, where string) {
	if len(speeds) < 2 {
		return
	}
	s.Metrics[event.MetricSlowestCore] = event.Metric{Value: slices.Min(speeds),
		Label: fmt.Sprintf("speed of this machine's slowest core relative to its fastest, on memory-heavy work (each core: %v, measured when %s started)", speeds, where)}
}
