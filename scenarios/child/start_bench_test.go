package child

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	benchmarkStart(b, scenarios.Program{Path: exe, Env: []string{testRoleEnv + "=hello"}})
}

// BenchmarkStartPython is BenchmarkStart for python3 writing one event.
//
//	go test ./scenarios/child -run '^$' -bench StartPython -benchtime 60x
func BenchmarkStartPython(b *testing.B) {
	// The interpreter itself, not a launcher on PATH (a pyenv shim is a
	// shell script), as the python engine runs it.
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		b.Skip("python3 not found")
	}
	python := strings.TrimSpace(string(out))
	benchmarkStart(b, scenarios.Program{Path: python, Args: []string{"-E", "-S", "-c", `import os; os.write(3, b'{"hello":true}\n')`}})
}

func benchmarkStart(b *testing.B, prog scenarios.Program) {
	exe, _ := os.Executable()
	c, err := NewContainment(ContainConfig{Executable: exe, Hidden: []string{b.TempDir()}, MemoryBytes: 1 << 30, Tasks: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
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
