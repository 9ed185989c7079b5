package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/pyengine"
)

// BenchmarkCompareCPU measures what the CPU comparison's claim rests on:
// for each engine and size, sequential, threads, processes and pool on the
// cpu workload, run as /compare runs them, plain (every protection off) and
// contained, alternating so that both see the same machine. It logs the
// median (and the spread) of each model's wall time, its CPU time above the
// work's (what starting and feeding processes cost) and the worker
// processes' start-up as the run measured it:
//
//	go test ./server -run '^$' -bench CompareCPU -benchtime 5x -timeout 60m -v
//
// INTERLEAVE_BENCH_SIZES (default "small,medium") and
// INTERLEAVE_BENCH_ENGINES (default "go,python") narrow it.
func BenchmarkCompareCPU(b *testing.B) {
	timingclaim.Claim(b)
	sizes := strings.Split(envOr("INTERLEAVE_BENCH_SIZES", "small,medium"), ",")
	engineIDs := strings.Split(envOr("INTERLEAVE_BENCH_ENGINES", "go,python"), ",")
	var engines []scenarios.Engine
	if slices.Contains(engineIDs, scenarios.EngineGo) {
		engines = append(engines, goEngine())
	}
	if slices.Contains(engineIDs, scenarios.EnginePython) {
		py, err := pyengine.New("")
		if err != nil {
			b.Fatal(err)
		}
		defer py.Close()
		if py.Available() == nil {
			engines = append(engines, py)
		}
	}
	type setup struct {
		name    string
		without []string
	}
	setups := []setup{{"plain", []string{"cgroup", "network", "landlock", "userns", "caps"}}, {"contained", nil}}
	servers := make([]*httptest.Server, len(setups))
	for i, su := range setups {
		cfg := DefaultConfig()
		cfg.DataDir = b.TempDir()
		cfg.Limits.RunsPerMinute = 1 << 20
		cfg.Without = su.without
		s, err := New(cfg, slog.New(slog.DiscardHandler), engines)
		if err != nil {
			b.Fatal(err)
		}
		hs := httptest.NewServer(s)
		servers[i] = hs
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.Shutdown(ctx)
			hs.Close()
			s.Close()
		}()
	}
	type key struct{ engine, size, setup, model, what string }
	samples := map[key][]float64{}
	client := &http.Client{Timeout: 5 * time.Minute}
	getJSON := func(url string, v any) {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s = %d", url, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			b.Fatal(err)
		}
	}
	work := map[string]float64{"small": 8 * 25, "medium": 8 * 100, "large": 16 * 200} // ms of CPU, compareSizes
	for b.Loop() {
		for _, e := range engines {
			for _, size := range sizes {
				for i, su := range setups {
					var res CompareResult
					getJSON(servers[i].URL+"/api/compare?workload=cpu&engine="+e.Name()+"&size="+size, &res)
					for _, m := range res.Models {
						if m.Status != StatusDone {
							b.Fatalf("%s %s %s %s: %s", e.Name(), size, su.name, m.Model, m.Status)
						}
						var run struct {
							Summary struct {
								Metrics map[string]struct{ Value float64 } `json:"metrics"`
							} `json:"summary"`
						}
						getJSON(servers[i].URL+"/api/runs/"+m.Run, &run)
						k := func(what string) key { return key{e.Name(), size, su.name, m.Model, what} }
						samples[k("wall")] = append(samples[k("wall")], float64(m.WallNS)/1e6)
						samples[k("cpu-work")] = append(samples[k("cpu-work")], float64(m.CPUNS)/1e6-work[size])
						if st, ok := run.Summary.Metrics["startup_total"]; ok {
							samples[k("startup")] = append(samples[k("startup")], st.Value)
						}
						if ol, ok := run.Summary.Metrics["other_load"]; ok {
							samples[k("other_load")] = append(samples[k("other_load")], ol.Value)
						}
					}
				}
			}
		}
	}
	med := func(xs []float64) string {
		if len(xs) == 0 {
			return "-"
		}
		s := slices.Clone(xs)
		slices.Sort(s)
		return fmt.Sprintf("%.0f [%.0f–%.0f]", s[len(s)/2], s[0], s[len(s)-1])
	}
	for _, e := range engines {
		for _, size := range sizes {
			for _, su := range setups {
				seq := samples[key{e.Name(), size, su.name, "sequential", "wall"}]
				for _, model := range []string{"sequential", "threads", "processes", "pool"} {
					k := func(what string) key { return key{e.Name(), size, su.name, model, what} }
					walls := samples[k("wall")]
					ratio := make([]float64, 0, len(walls))
					for j := range min(len(walls), len(seq)) {
						ratio = append(ratio, 100*seq[j]/walls[j])
					}
					b.Logf("%-6s %-6s %-9s %-10s wall ms %-16s seq/wall %% %-16s cpu-work ms %-16s startup ms %-16s other_load %%x100 %s",
						e.Name(), size, su.name, model, med(walls), med(ratio), med(samples[k("cpu-work")]), med(samples[k("startup")]), med(scale(samples[k("other_load")], 100)))
				}
			}
		}
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}
