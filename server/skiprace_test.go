package server

import (
	"testing"

	"interleave/internal/racedetector"
)

// skipUnderRace skips, in the race pass only, a test that runs many whole
// runs one after another to check what the store or the limits keep (not
// how goroutines share data): go test ./... runs it without the race
// detector, and CI's race pass (go test -race -short) must stay within its
// time (these take about 60 s of the server package's 340 s under -race).
func skipUnderRace(t *testing.T) {
	t.Helper()
	if racedetector.Enabled && testing.Short() {
		t.Skip("checked without the race detector (go test ./...); the race pass skips it for time")
	}
}
