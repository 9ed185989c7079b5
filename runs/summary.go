package runs

import (
	"runtime"

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
	} else if r.remoteLoad != nil {
		// Measured on the pool's runner, just before the end event.
		addLoad(s, *r.remoteLoad, r.remoteCores, r.runner)
	}
	deriveVerdict(r, s)
}
