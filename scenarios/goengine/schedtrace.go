package goengine

import (
	"interleave/scenarios/schedtrace"
)

// The real Go scheduler, drawn next to the scenario's own lanes: per-P cpu
// lanes and the scenario goroutines' states as runtime/trace records them.
func init() {
	startSchedTrace = func(em *Emitter) (stop func()) {
		stop, err := schedtrace.Start(em.Emit, em.base)
		if err != nil {
			em.Mark("", "scheduler trace unavailable: "+err.Error())
			return nil
		}
		return stop
	}
	labelGoroutine = schedtrace.Label
}
