package goengine

import (
	"testing"

	"interleave/internal/timingclaim"
)

// parallelClaim measures a parallel speedup up to attempts times, holding
// the machine-wide timing claim, and returns the best ratio. On a shared
// 2-core machine another process can take a core for a moment; noise only
// ever slows a run down, so the best attempt is the honest measure of what
// the cores can do. Under -short (the race run) the claim is skipped: the
// race detector's cost is not the scenario's.
func parallelClaim(t *testing.T, attempts int, measure func() float64) float64 {
	t.Helper()
	timingclaim.Claim(t)
	return timingclaim.Best(t, attempts, 1.8, measure)
}

// timingClaim takes the machine-wide timing claim for a test that checks
// what a run shows and also how long it took, and reports true; under
// -short (the race run) it takes nothing and reports false: the test then
// checks what the run shows but not its timings.
func timingClaim(t *testing.T) bool {
	t.Helper()
	if testing.Short() {
		return false
	}
	timingclaim.Claim(t)
	return true
}

// untilHeld runs attempt up to attempts times until it reports that the
// timing held, and reports whether it did. Other work on the machine only
// slows a run down, so one attempt that holds is what the code can do; an
// attempt the machine was busy during does not count (timingclaim.Best).
func untilHeld(t *testing.T, attempts int, attempt func() bool) bool {
	t.Helper()
	return timingclaim.Best(t, attempts, 1, func() float64 {
		if attempt() {
			return 1
		}
		return 0
	}) == 1
}
