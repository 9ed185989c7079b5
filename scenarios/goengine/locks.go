package goengine

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"interleave/scenarios/event"
)

// locks: counter += 1 as a read-modify-write, with or without a mutex.
func init() {
	register("locks", scenario{run: runLocks, source: "locks.go"})
}

// lockWaitShown is the shortest wait for the lock drawn as a lock-wait span;
// shorter waits are counted in the summary but not drawn, which keeps a
// million increments from becoming millions of events.
const lockWaitShown = 20 * time.Microsecond

// counterSampleEvery is how often the counter track is sampled.
const counterSampleEvery = 2 * time.Millisecond

func runLocks(ctx context.Context, r *Run) (event.Summary, error) {
	workers, increments := r.Params.Int("workers"), r.Params.Int("increments")
	useLock, pause := r.Params.Bool("lock"), r.Params.Bool("yield")

	// counter is read and written with atomic loads and stores: there is no
	// Go data race, yet "load, add one, store" is still not atomic as a
	// whole, exactly like counter += 1 in Python.
	var counter atomic.Int64
	var mu sync.Mutex
	var waitedNS atomic.Int64

	lanes := make([]string, workers)
	for i := range workers {
		lanes[i] = fmt.Sprintf("worker-%d", i+1)
		r.Lane(lanes[i], event.LaneGoroutine, fmt.Sprintf("worker %d", i+1), "")
	}
	r.Counter("counter", 0)

	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(counterSampleEvery)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if v := counter.Load(); v != last {
					r.Counter("counter", float64(v))
					last = v
				}
			}
		}
	}()

	increment := func(lane string) {
		if useLock {
			t0 := time.Now()
			mu.Lock()
			if waited := time.Since(t0); waited >= lockWaitShown {
				now := r.Now()
				r.Emit(event.Event{T: now - waited.Nanoseconds(), K: event.KindLock, Lane: lane, Lock: "mu", Op: event.LockWant})
				r.Emit(event.Event{T: now - waited.Nanoseconds(), K: event.KindState, Lane: lane, S: event.LockWait, Why: "sync.Mutex held by another worker", Src: event.SrcApp})
				r.Emit(event.Event{T: now, K: event.KindLock, Lane: lane, Lock: "mu", Op: event.LockGot})
				r.Emit(event.Event{T: now, K: event.KindState, Lane: lane, S: event.Active, Why: "read-modify-write under the lock", Src: event.SrcApp})
				waitedNS.Add(waited.Nanoseconds())
			} else {
				waitedNS.Add(waited.Nanoseconds())
			}
		}
		v := counter.Load() // read
		if pause {
			runtime.Gosched() // another worker may run here and read the same value
		}
		counter.Store(v + 1) // write back: an update made meanwhile is lost
		if useLock {
			mu.Unlock()
		}
	}

	// Every worker waits at the start line, so that none has finished before
	// the last one is created: they really run at the same time.
	startLine := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			labelGoroutine(ctx, lanes[i])
			<-startLine
			why := "read, add one, write back (no lock)"
			if useLock {
				why = "read-modify-write under the lock"
			}
			r.State(lanes[i], event.Active, why)
			for n := 0; n < increments; n++ {
				if n%1024 == 0 && ctx.Err() != nil {
					break
				}
				increment(lanes[i])
			}
			r.State(lanes[i], event.Done, "")
		})
	}
	start := r.Now()
	close(startLine)
	wg.Wait()
	wall := r.Now() - start
	close(stopSampling)
	<-sampled

	final := counter.Load()
	r.Counter("counter", float64(final))
	expected := int64(workers) * int64(increments)
	lost := expected - final
	waited := waitedNS.Load()

	s := event.Summary{
		WallNS: wall,
		Metrics: map[string]event.Metric{
			"expected":   {Value: float64(expected), Label: "expected final value (workers × increments)"},
			"actual":     {Value: float64(final), Label: "actual final value"},
			"lost":       {Value: float64(lost), Label: "lost updates"},
			"lost_pct":   {Value: round2(100 * float64(lost) / float64(expected)), Unit: "%", Label: "share of updates lost"},
			"lock_wait":  {Value: round2(float64(waited) / 1e6), Unit: "ms", Label: "time spent waiting for the lock (all workers)"},
			"wait_share": {Value: round2(100 * float64(waited) / float64(max(wall*int64(workers), 1))), Unit: "%", Label: "share of worker time spent waiting for the lock"},
		},
	}
	return s, ctx.Err()
}
