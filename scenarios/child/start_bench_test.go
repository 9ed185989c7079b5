package child

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"interleave/scenarios"
)

// BenchmarkStart measures what containment adds to every run: the time
// from child.Run to the first event of a program that writes one event
// and exits, plain and contained (the sandbox's execve, the cgroups, the
// namespaces, Landlock), alternating so that both see the same machine.
// It reports the medians.
//
//	go test ./scenarios/child -run '^$' -bench Start -benchtime 60x
func BenchmarkStart(b *testing.B) {
	exe, _ := os.Executable()
	c, err := NewContainment(ContainConfig{Executable: exe, Hidden: []string{b.TempDir()}, MemoryBytes: 1 << 30, Tasks: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	prog := scenarios.Program{Path: exe, Env: []string{testRoleEnv + "=hello"}}
	first := func(c *Containment) time.Duration {
		start := time.Now()
		var at time.Duration
		_, err := Run(context.Background(), prog, Options{Contain: c, OnEvents: func([][]byte) {
			if at == 0 {
				at = time.Since(start)
			}
		}})
		if err != nil || at == 0 {
			b.Fatalf("run: %v (first event after %s)", err, at)
		}
		return at
	}
	var plain, contained []time.Duration
	for b.Loop() {
		plain = append(plain, first(nil))
		contained = append(contained, first(c))
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(median(plain), "ms-plain")
	b.ReportMetric(median(contained), "ms-contained")
}
