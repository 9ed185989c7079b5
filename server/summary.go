package server

import (
	"runtime"

	"interleave/scenarios/event"
)

// completeSummary is called, with r.mu held, when a run's end event arrives:
// the server adds to the engine's summary what only it can measure (how busy
// the rest of the machine was while the run executed) and then derives the
// verdict from the numbers, the same way for every engine.
func completeSummary(r *Run, s *event.Summary) {
	if s.Metrics == nil {
		s.Metrics = map[string]event.Metric{}
	}
	if r.load != nil {
		if u, _, err := r.load.Sample(); err == nil {
			addLoad(s, u, runtime.NumCPU())
		}
	}
	deriveVerdict(r, s)
}
