package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
//	go test ./server -run '^$' -bench CompareNoise -benchtime 3x -timeout 90m -v
//
// (-v keeps the per-run lines, which a benchmark's log otherwise truncates).
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
	type sample struct {
		ModelResult
		// other is the CPU the rest of the machine used while the model
		// ran, in cores: /proc/stat's busy time over the run, less the
		// run's own CPU time.
		other float64
	}
	samples := map[key][]sample{}
	stat := startProcStat(b, 50*time.Millisecond)
	for b.Loop() {
		for _, e := range engines {
			for _, w := range scenarios.Workloads {
				c, err := s.compares.start(CompareRequest{Workload: w.ID, Engine: e.Name(), Size: "medium"})
				if err != nil {
					b.Fatal(err)
				}
				<-c.Done()
				for _, m := range c.Result().Models {
					if m.Status == StatusDone && m.Correct && m.WallNS > 0 && m.Started != nil && m.Finished != nil {
						k := key{e.Name(), w.ID, m.Model}
						busy, span := stat.busy(*m.Started, *m.Finished)
						other := math.Max(0, (busy-float64(m.CPUNS))/float64(span))
						samples[k] = append(samples[k], sample{m, other})
						b.Logf("sample %s %s/%s: wall %.1f ms, cpu %.1f ms, memory %.1f MiB, other load %.2f cores",
							k.engine, k.workload, k.model, float64(m.WallNS)/1e6, float64(m.CPUNS)/1e6, float64(m.PeakRSSBytes)/(1<<20), other)
					}
				}
			}
		}
	}
	stat.stop()
	// quiet is the most other load, in cores, a run may have had to count
	// as a run on a quiet machine (the run's own start-up and recording
	// count as other load here, so it is not zero).
	const quiet = 0.35
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
	for _, sel := range []struct {
		name string
		keep func(sample) bool
	}{
		{"quiet", func(s sample) bool { return s.other <= quiet }},
		{"all", func(sample) bool { return true }},
	} {
		for _, c := range criteria {
			var rel []float64
			var absShort float64
			var lines []string
			for _, k := range keys {
				var vs []float64
				for _, m := range samples[k] {
					if v := c.value(m.ModelResult); v > 0 && sel.keep(m) {
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
				b.Logf("%s runs, %s: no pair of runs to compare", sel.name, c.name)
				continue
			}
			slices.Sort(rel)
			p95 := rel[int(math.Ceil(0.95*float64(len(rel))))-1]
			b.Logf("%s runs, %s: %d pairs; relative difference median %.1f %%, p95 %.1f %%, max %.1f %%; largest absolute difference among short ones %.4g\n%s",
				sel.name, c.name, len(rel), 100*rel[len(rel)/2], 100*p95, 100*rel[len(rel)-1], absShort, strings.Join(lines, "\n"))
			b.ReportMetric(100*p95, sel.name+"-"+c.name+"-p95-%")
			b.ReportMetric(float64(len(rel)), sel.name+"-"+c.name+"-pairs")
		}
	}
	var loads []float64
	for _, ss := range samples {
		for _, s := range ss {
			loads = append(loads, s.other)
		}
	}
	slices.Sort(loads)
	if len(loads) > 0 {
		b.Logf("other load during the runs (cores): median %.2f, p90 %.2f, max %.2f", loads[len(loads)/2], loads[len(loads)*9/10], loads[len(loads)-1])
	}
}

// procStat samples the machine's busy CPU time (/proc/stat) every period,
// so that the CPU other processes used during a run can be read afterwards.
type procStat struct {
	mu      sync.Mutex
	at      []time.Time
	busyNS  []float64
	stopped chan struct{}
	done    chan struct{}
}

func startProcStat(b *testing.B, period time.Duration) *procStat {
	p := &procStat{stopped: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		data, err := os.ReadFile("/proc/stat")
		if err != nil {
			return
		}
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			return
		}
		var busy float64
		for i, v := range f[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			if i != 3 && i != 4 { // idle and iowait
				busy += n
			}
		}
		p.mu.Lock()
		p.at = append(p.at, time.Now())
		p.busyNS = append(p.busyNS, busy*1e9/100) // USER_HZ
		p.mu.Unlock()
	}
	read()
	go func() {
		defer close(p.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-p.stopped:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return p
}

func (p *procStat) stop() {
	close(p.stopped)
	<-p.done
}

// busy returns the CPU time (ns) the machine spent busy between from and to,
// from the samples nearest outside them, and the span (ns) it covers.
func (p *procStat) busy(from, to time.Time) (busyNS float64, spanNS int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.at), func(i int) bool { return p.at[i].After(from) }) - 1
	j := sort.Search(len(p.at), func(j int) bool { return !p.at[j].Before(to) })
	if i < 0 || j >= len(p.at) || j <= i {
		return 0, 1
	}
	return p.busyNS[j] - p.busyNS[i], int64(p.at[j].Sub(p.at[i]))
}
