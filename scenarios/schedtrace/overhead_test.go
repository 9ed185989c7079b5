package schedtrace

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"interleave/scenarios/event"
)

// BenchmarkOverhead measures what the scheduler trace costs a CPU-bound run:
// two labelled goroutines compute a fixed amount of work (about 200 ms each
// on an idle core), untraced and traced in turn so both share the machine's
// noise. traced/untraced is the wall-time ratio of the work alone; stop-ms is
// what stop adds at the end of a run.
//
//	go test ./scenarios/schedtrace -run '^$' -bench Overhead -benchtime 10x
func BenchmarkOverhead(b *testing.B) {
	perMS := calibrate()
	cpu := func() time.Duration {
		start := time.Now()
		cpuPair([2]string{"a", "b"}, perMS, 200)
		return time.Since(start)
	}
	for _, procs := range []int{1, 2} {
		benchOverhead(b, fmt.Sprintf("cpu/GOMAXPROCS=%d", procs), procs, cpu)
	}
}

// BenchmarkOverheadContended is the worst case: four goroutines taking
// turns on one mutex make a scheduler transition every microsecond or so.
// A short burst (50k turns each, tens of ms) is traced in full; a long one
// (500k each) is sampled after its first 100 ms.
//
//	go test ./scenarios/schedtrace -run '^$' -bench OverheadContended -benchtime 5x
func BenchmarkOverheadContended(b *testing.B) {
	contended := func(turns int) func() time.Duration {
		return func() time.Duration {
			start := time.Now()
			var mu sync.Mutex
			var wg sync.WaitGroup
			counter := 0
			for i := range 4 {
				wg.Go(func() {
					Label(context.Background(), fmt.Sprintf("worker-%d", i))
					for range turns {
						mu.Lock()
						counter++
						runtime.Gosched()
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			return time.Since(start)
		}
	}
	for _, turns := range []int{50_000, 500_000} {
		for _, procs := range []int{1, 2} {
			benchOverhead(b, fmt.Sprintf("mutex-%dk/GOMAXPROCS=%d", turns/1000, procs), procs, contended(turns))
		}
	}
}

func benchOverhead(b *testing.B, name string, procs int, work func() time.Duration) {
	b.Run(name, func(b *testing.B) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		var plain, traced, stopping time.Duration
		var events int
		for b.Loop() {
			plain += work()

			var mu sync.Mutex
			stop, err := Start(func(event.Event) { mu.Lock(); events++; mu.Unlock() }, event.Monotonic())
			if err != nil {
				b.Fatal(err)
			}
			traced += work()
			begin := time.Now()
			stop()
			stopping += time.Since(begin)
		}
		b.ReportMetric(float64(traced)/float64(plain), "traced/untraced")
		b.ReportMetric(float64(stopping.Milliseconds())/float64(b.N), "stop-ms")
		b.ReportMetric(float64(events)/float64(b.N), "events/run")
	})
}
