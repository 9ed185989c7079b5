package child

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
)

// benchmarkStart measures how long a run takes from child.Run to its first
// event, and to its end, for a program that writes one event and exits:
// what containment adds to every run (the sandbox's exec, the cgroups, the
// namespaces, Landlock) is the difference between the two benchmarks.
//
//	go test ./scenarios/child -run '^$' -bench Start -benchtime 50x
func benchmarkStart(b *testing.B, c *Containment) {
	exe, _ := os.Executable()
	prog := scenarios.Program{Path: exe, Env: []string{testRoleEnv + "=hello"}}
	var first, total time.Duration
	for b.Loop() {
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
		first += at
		total += time.Since(start)
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N)/1000, "ms-to-first-event")
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-per-run")
}

func BenchmarkStartPlain(b *testing.B) { benchmarkStart(b, nil) }

func BenchmarkStartContained(b *testing.B) {
	for _, without := range [][]string{nil, {"network"}, {"cgroup"}, {"landlock"}, {"cgroup", "network", "landlock", "caps"}} {
		b.Run(strings.Join(append([]string{"without"}, without...), "-"), func(b *testing.B) { benchmarkContained(b, without) })
	}
}

func benchmarkContained(b *testing.B, without []string) {
	exe, _ := os.Executable()
	c, err := NewContainment(ContainConfig{Executable: exe, Hidden: []string{b.TempDir()}, MemoryBytes: 1 << 30, Tasks: 4096, Without: without})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchmarkStart(b, c)
}
