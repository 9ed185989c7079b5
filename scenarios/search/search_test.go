package search

import (
	"testing"

	"interleave/scenarios"
)

// TestSentenceClaimsOnlyWhatWasCovered: "none" is said as a proof only
// after an exhaustive search; a random one says it is no proof.
func TestSentenceClaimsOnlyWhatWasCovered(t *testing.T) {
	one, two := 1, 2
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Goal: scenarios.GoalLostUpdate, Explored: 54894, Exhaustive: true},
			"Explored 54894 interleavings: none loses an update."},
		{Result{Goal: scenarios.GoalLostUpdate, Found: true, Exhaustive: true, Explored: 3432, Schedule: "1,1,1,1,1,2,2,1,1", Lost: &one},
			"Explored all 3432 interleavings; the shortest that loses an update takes 9 steps: it loses 1 update."},
		{Result{Goal: scenarios.GoalLostUpdate, Found: true, Explored: 140, Schedule: "1,2,2,1", Lost: &two},
			"Tried 140 random interleavings (too many to explore them all); the shortest that loses an update takes 4 steps: it loses 2 updates."},
		{Result{Goal: scenarios.GoalDeadlock, Explored: 1000},
			"Tried 1000 random interleavings: none deadlocks, but there were too many to explore them all, so that is no proof."},
		{Result{Goal: scenarios.GoalDeadlock, Found: true, Exhaustive: true, Explored: 1050, Schedule: "1,1,1,2,2,1,2,2", Deadlock: "worker 1 waits for lock_b, held by worker 2; worker 2 waits for lock_a, held by worker 1"},
			"Explored all 1050 interleavings; the shortest that deadlocks takes 8 steps: worker 1 waits for lock_b, held by worker 2; worker 2 waits for lock_a, held by worker 1."},
		{Result{Goal: scenarios.GoalLostUpdate, Cut: 3},
			"No interleaving ended within 10000 steps, the longest schedule a run can follow: choose fewer threads or less work to search."},
	} {
		if got := Sentence(tc.r); got != tc.want {
			t.Errorf("Sentence(%+v)\n got %q\nwant %q", tc.r, got, tc.want)
		}
	}
}
