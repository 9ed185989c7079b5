package goengine

import (
	"interleave/scenarios/schedtrace"
)

// The real Go scheduler: per-P cpu lanes that name the lane they run, and the
// states runtime/trace records for each labelled goroutine, drawn on the
// scenario's own lane (where they tell its `active` apart into running and
// runnable).
func init() {
	startSchedTrace = func(em *Emitter) (stop func()) {
		stop, err := schedtrace.Config{LaneName: em.laneName}.Start(em.Emit, em.base)
		if err != nil {
			em.Mark("", "scheduler trace unavailable: "+err.Error())
			return nil
		}
		return stop
	}
	labelGoroutine = schedtrace.Label
}
