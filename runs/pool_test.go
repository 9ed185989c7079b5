package runs

import (
	"sync/atomic"
	"testing"
	"time"

	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/goengine"
)

// growingPool is a pool whose runners' slots the test sets: it executes
// runs on this machine, named as a pool's runner.
type growingPool struct {
	namedRunner
	slots atomic.Int64
}

func (p *growingPool) Slots(string) int       { return int(p.slots.Load()) }
func (p *growingPool) Offers() []runner.Offer { return nil }

var _ runner.Pool = (*growingPool)(nil)

// TestPoolSlotsBoundRunsAndAJoiningRunnerTakesTheQueue: with a pool, the
// runs handed to it are bounded by its slots (a run beyond waits queued,
// with its position), and slots that appear without any run ending (a
// runner joined) take the queued run within a second.
func TestPoolSlotsBoundRunsAndAJoiningRunnerTakesTheQueue(t *testing.T) {
	eng, err := goengine.New()
	if err != nil {
		t.Fatal(err)
	}
	pool := &growingPool{namedRunner: namedRunner{local: NewLocal([]scenarios.Engine{eng}, nil), name: "pool-c"}}
	pool.slots.Store(1)
	limits := DefaultLimits()
	limits.LocalSlots = 0
	m := newTestManager(t, limits, WithRunner(pool))
	waiting := RunRequest{Scenario: "asyncio", Engine: scenarios.EngineGo, Params: map[string]any{"tasks": 3, "wait_ms": 2000, scenarios.SchedParam: false}}
	first, err := m.Submit(waiting)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Submit(waiting)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := first.Status(); st != StatusRunning {
		t.Fatalf("first run %s, want running on the pool's one slot", st)
	}
	if st, pos := second.Status(); st != StatusQueued || pos != 1 {
		t.Fatalf("second run %s at %d, want queued at 1 (the pool has one slot)", st, pos)
	}
	pool.slots.Store(2)
	joined := time.Now()
	deadline := time.After(time.Second)
	for {
		st, _, changed := second.WatchStatus()
		if st == StatusRunning {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the queued run did not start within 1 s of a second slot appearing (first run still %v)", first.Info().Status)
		}
	}
	t.Logf("the queued run started %s after the pool's second slot appeared", time.Since(joined).Round(time.Millisecond))
	for _, r := range []*Run{first, second} {
		if info, _ := finish(t, r); info.Status != StatusDone || info.Runner != "pool-c" {
			t.Errorf("run %s on %q, want done on pool-c", info.Status, info.Runner)
		}
	}
}
