package pool

import (
	"context"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
)

// scaleWaitMS is how long each run of the scaling claim waits: on one
// machine only runs that wait can show a pool's throughput growing with its
// runners, and each run's start still costs CPU (about 0.1 s of a core,
// measured with the 500 ms runs of BenchmarkPool), which two runners on the
// same two cores share: the longer the wait, the less the starts weigh.
const scaleWaitMS = 2000

// throughput executes n waiting runs on d, keeping inFlight of them
// submitted at once, and returns runs per second and the median first-event
// latency (from Execute to the first events in the sink).
func throughput(tb testing.TB, d runner.Runner, n, inFlight, waitMS int) (perSec float64, firstEvent time.Duration) {
	tb.Helper()
	var mu sync.Mutex
	var firsts []time.Duration
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rec := &recorded{}
			t0 := time.Now()
			if _, err := d.Execute(context.Background(), job("asyncio", scenarios.EngineGo, waitingParams(waitMS)), rec.sink()); err != nil {
				tb.Error(err)
				return
			}
			mu.Lock()
			firsts = append(firsts, rec.first.Sub(t0))
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(firsts)
	if len(firsts) == 0 {
		return 0, 0
	}
	return float64(n) / elapsed.Seconds(), firsts[len(firsts)/2]
}

// firstEventLatency returns the median time from asking for a run to its
// first events, over n runs one after another.
func firstEventLatency(tb testing.TB, d runner.Runner, n int) time.Duration {
	tb.Helper()
	var firsts []time.Duration
	for range n {
		rec := &recorded{}
		t0 := time.Now()
		if _, err := d.Execute(context.Background(), job("asyncio", scenarios.EngineGo, waitingParams(20)), rec.sink()); err != nil {
			tb.Fatal(err)
		}
		firsts = append(firsts, rec.first.Sub(t0))
	}
	slices.Sort(firsts)
	return firsts[len(firsts)/2]
}

// localRunner executes runs on this machine, contained, as a web node's
// local runs are: the reference for the pool's overhead.
type localRunner struct{ contain *child.Containment }

func (l localRunner) Execute(ctx context.Context, j runner.Job, sink runner.Sink) (child.Result, error) {
	eng := &goengine.Engine{Executable: binary, Env: []string{"PATH=/usr/bin:/bin"}}
	base := event.Monotonic()
	prog, err := eng.Program(scenarios.Spec{RunID: j.ID, Scenario: j.Scenario, Engine: j.Engine, Params: j.Params, ClockBase: base, Cores: 2})
	if err != nil {
		return child.Result{}, err
	}
	return child.Run(ctx, prog, child.Options{OnEvents: sink.Events, OnOutput: sink.Output, Contain: l.contain,
		OutputLimit: j.Limits.MaxOutput, MemoryLimit: j.Limits.MemoryBytes})
}

func newLocalRunner(tb testing.TB) localRunner {
	tb.Helper()
	c, err := child.NewContainment(child.ContainConfig{Executable: binary, MemoryBytes: 512 << 20, Log: tWriter{tb}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return localRunner{contain: c}
}

// stopRunner stops a runner process and waits until it exited.
func stopRunner(tb testing.TB, p *runnerProc) {
	tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// BenchmarkPool reports runs/s and first-event latency with one and two
// runners of two slots each, and a local run's first-event latency.
func BenchmarkPool(b *testing.B) {
	timingclaim.Claim(b)
	ns := startNATS(b)
	startRunner(b, ns.URL(), "bench-1", "-slots", "2")
	d := newDispatcher(b, ns.URL(), DispatcherConfig{}, "bench-1")
	b.Run("runners=1/wait=500ms", func(b *testing.B) {
		for b.Loop() {
			perSec, first := throughput(b, d, 16, 8, 500)
			b.ReportMetric(perSec, "runs/s")
			b.ReportMetric(float64(first.Microseconds())/1000, "ms-to-first-event-queued")
		}
	})
	b.Run("runners=1/wait=2s", func(b *testing.B) {
		for b.Loop() {
			perSec, first := throughput(b, d, 8, 4, scaleWaitMS)
			b.ReportMetric(perSec, "runs/s")
			b.ReportMetric(float64(first.Microseconds())/1000, "ms-to-first-event-queued")
		}
	})
	second := startRunner(b, ns.URL(), "bench-2", "-slots", "2")
	waitFor(b, 20*time.Second, "the second runner", func() bool { return len(d.Runners()) == 2 })
	b.Run("runners=2/wait=500ms", func(b *testing.B) {
		for b.Loop() {
			perSec, first := throughput(b, d, 32, 16, 500)
			b.ReportMetric(perSec, "runs/s")
			b.ReportMetric(float64(first.Microseconds())/1000, "ms-to-first-event-queued")
		}
	})
	b.Run("runners=2/wait=2s", func(b *testing.B) {
		for b.Loop() {
			perSec, first := throughput(b, d, 16, 8, scaleWaitMS)
			b.ReportMetric(perSec, "runs/s")
			b.ReportMetric(float64(first.Microseconds())/1000, "ms-to-first-event-queued")
		}
	})
	stopRunner(b, second)
	local := newLocalRunner(b)
	// One run at a time, alternating the two paths so that the machine's
	// other load weighs on both alike.
	b.Run("first-event", func(b *testing.B) {
		for b.Loop() {
			var pool, loc []time.Duration
			for range 9 {
				pool = append(pool, firstEventLatency(b, d, 1))
				loc = append(loc, firstEventLatency(b, local, 1))
			}
			slices.Sort(pool)
			slices.Sort(loc)
			b.ReportMetric(float64(pool[4].Microseconds())/1000, "ms-first-event-pool")
			b.ReportMetric(float64(loc[4].Microseconds())/1000, "ms-first-event-local")
		}
	})
}

// TestPoolScalesWithRunners: with runs that wait, two runners of two slots
// execute at least 1.8x the runs per second of one.
func TestPoolScalesWithRunners(t *testing.T) {
	if testing.Short() {
		t.Skip("a timing claim")
	}
	timingclaim.Claim(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "scale-1", "-slots", "2")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "scale-1")
	ratio := timingclaim.Best(t, 3, 1.8, func() float64 {
		one, _ := throughput(t, d, 8, 4, scaleWaitMS)
		second := startRunner(t, ns.URL(), "scale-2", "-slots", "2")
		waitFor(t, 20*time.Second, "the second runner", func() bool { return len(d.Runners()) == 2 })
		two, _ := throughput(t, d, 16, 8, scaleWaitMS)
		stopRunner(t, second)
		waitFor(t, 20*time.Second, "the second runner gone", func() bool { return len(d.Runners()) == 1 })
		t.Logf("one runner %.2f runs/s, two %.2f runs/s", one, two)
		return two / one
	})
	if ratio < 1.8 {
		t.Fatalf("two runners executed %.2fx the runs per second of one, want at least 1.8x", ratio)
	}
}

// TestFirstEventOverhead: the pool's path (queue on the stream, a runner's
// fetch and claim, events back over NATS) adds at most 25 ms to a run's
// first event over the same contained start on this machine.
func TestFirstEventOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("a timing claim")
	}
	timingclaim.Claim(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "latency", "-slots", "2")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "latency")
	local := newLocalRunner(t)
	// Alternating the two paths, so that the machine's other load weighs
	// on both alike.
	// The best of up to 3 attempts (timingclaim.Best keeps the largest).
	overhead := time.Hour
	for attempt := 0; attempt < 3 && overhead > 25*time.Millisecond; attempt++ {
		var pool, loc []time.Duration
		for range 9 {
			pool = append(pool, firstEventLatency(t, d, 1))
			loc = append(loc, firstEventLatency(t, local, 1))
		}
		slices.Sort(pool)
		slices.Sort(loc)
		t.Logf("first event: pool %s, local %s (medians of 9, alternating)", pool[4], loc[4])
		overhead = min(overhead, pool[4]-loc[4])
	}
	if overhead > 25*time.Millisecond {
		t.Fatalf("the pool adds %s to the first event, want at most 25 ms", overhead)
	}
}
