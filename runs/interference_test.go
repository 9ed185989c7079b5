package runs

import (
	"strings"
	"testing"
	"time"
)

func TestLoadCaveatThreshold(t *testing.T) {
	cases := []struct {
		other float64
		cpu   time.Duration
		cores int
		want  string
	}{
		{0.05, 100 * time.Millisecond, 2, ""},
		{0.19, 400 * time.Millisecond, 2, ""},
		{0.2, 400 * time.Millisecond, 2, "Disturbed: other programs on this machine used 0.20 of its 2 cores (10 %) while this run ran"},
		{1.0, 40 * time.Millisecond, 2, ""}, // 40 ms in all: below what the ticks resolve
		{1.5, 3 * time.Second, 2, "used 1.50 of its 2 cores (75 %)"},
		{0.5, time.Second, 8, ""},
	}
	for _, c := range cases {
		got := loadCaveat(c.other, c.cpu, c.cores, "this machine")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("loadCaveat(%v, %v, %d) = %q, want %q", c.other, c.cpu, c.cores, got, c.want)
		}
	}
	// A run on a pool's runner names that runner's machine.
	if got := loadCaveat(1.5, 3*time.Second, 8, "runner r1's machine"); !strings.Contains(got, "other programs on runner r1's machine used 1.50 of its 8 cores") {
		t.Errorf("a remote run's caveat %q does not name its runner's machine", got)
	}
}
