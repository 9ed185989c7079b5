package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/pyengine"
)

// BenchmarkCompareNoise measures the decision matrix's run-to-run noise, from
// which noiseMargin is set: it runs every workload's comparison (size medium)
// b.N times on each engine, then reports per criterion the 95th percentile and
// the largest relative difference between two runs of the same model on the
// same workload, and the largest absolute difference among short ones:
//
//	go test ./server -run '^$' -bench CompareNoise -benchtime 3x -timeout 90m
func BenchmarkCompareNoise(b *testing.B) {
	timingclaim.Claim(b)
	py, err := pyengine.New("")
	if err != nil {
		b.Fatal(err)
	}
	defer py.Close()
	engines := []scenarios.Engine{goEngine()}
	if py.Available() == nil {
		engines = append(engines, py)
	} else {
		b.Logf("python engine unavailable: measuring the go engine only")
	}
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Limits.RunsPerMinute = 1 << 20
	s, err := New(cfg, slog.New(slog.DiscardHandler), engines)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		s.Close()
	}()

	type key struct{ engine, workload, model string }
	samples := map[key][]ModelResult{}
	for b.Loop() {
		for _, e := range engines {
			for _, w := range scenarios.Workloads {
				c, err := s.compares.start(CompareRequest{Workload: w.ID, Engine: e.Name(), Size: "medium"})
				if err != nil {
					b.Fatal(err)
				}
				<-c.Done()
				for _, m := range c.Result().Models {
					if m.Status == StatusDone && m.Correct && m.WallNS > 0 {
						k := key{e.Name(), w.ID, m.Model}
						samples[k] = append(samples[k], m)
					}
				}
			}
		}
	}
	criteria := []struct {
		name  string
		value func(ModelResult) float64
		short float64 // values below this count as short, for the absolute floor
	}{
		{"wall", func(m ModelResult) float64 { return float64(m.WallNS) }, 50e6},
		{"cpu", func(m ModelResult) float64 { return float64(m.CPUNS) }, 50e6},
		{"memory", func(m ModelResult) float64 { return float64(m.PeakRSSBytes) }, 32 << 20},
	}
	keys := make([]key, 0, len(samples))
	for k := range samples {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, c := range criteria {
		var rel []float64
		var absShort float64
		var lines []string
		for _, k := range keys {
			var vs []float64
			for _, m := range samples[k] {
				if v := c.value(m); v > 0 {
					vs = append(vs, v)
				}
			}
			worst := 0.0
			for i := range vs {
				for j := i + 1; j < len(vs); j++ {
					lo, hi := math.Min(vs[i], vs[j]), math.Max(vs[i], vs[j])
					rel = append(rel, (hi-lo)/lo)
					worst = math.Max(worst, (hi-lo)/lo)
					if hi < c.short {
						absShort = math.Max(absShort, hi-lo)
					}
				}
			}
			if len(vs) > 1 {
				slices.Sort(vs)
				lines = append(lines, fmt.Sprintf("%s %s/%s: %d runs, median %.4g, spread %.1f %%", k.engine, k.workload, k.model, len(vs), vs[len(vs)/2], 100*worst))
			}
		}
		if len(rel) == 0 {
			b.Logf("%s: no pair of runs to compare", c.name)
			continue
		}
		slices.Sort(rel)
		p95 := rel[int(math.Ceil(0.95*float64(len(rel))))-1]
		b.Logf("%s: %d pairs; relative difference median %.1f %%, p95 %.1f %%, max %.1f %%; largest absolute difference among short ones %.4g\n%s",
			c.name, len(rel), 100*rel[len(rel)/2], 100*p95, 100*rel[len(rel)-1], absShort, strings.Join(lines, "\n"))
		b.ReportMetric(100*p95, c.name+"-p95-%")
		b.ReportMetric(100*rel[len(rel)-1], c.name+"-max-%")
	}
}
