package goengine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// mental-model: the same tasks run sequentially, concurrently on one core
// (GOMAXPROCS=1) and in parallel on every core.
func init() {
	register("mental-model", scenario{
		run:    runMentalModel,
		source: "mentalmodel.go",
		procs: func(p scenarios.Params, cores int) int {
			if p.String("mode") == "parallel" {
				return cores
			}
			return 1
		},
	})
}

func runMentalModel(ctx context.Context, r *Run) (event.Summary, error) {
	tasks, work, mode, size := r.Params.Int("tasks"), r.Params.String("work"), r.Params.String("mode"), r.Params.Int("size")
	procs := gomaxprocs()

	var rounds int64
	if work == "cpu" {
		rounds = calibrate()
	}
	lanes := make([]string, tasks)
	for i := range tasks {
		lanes[i] = fmt.Sprintf("task-%d", i+1)
		r.Lane(lanes[i], event.LaneGoroutine, fmt.Sprintf("task %d", i+1), "")
		r.State(lanes[i], event.Runnable, "waiting for its turn")
	}

	// task does one unit of work on its own lane.
	task := func(ctx context.Context, i int) error {
		labelGoroutine(ctx, lanes[i])
		var err error
		if work == "cpu" {
			r.State(lanes[i], event.Active, "computing")
			err = cpuWork(ctx, rounds, size)
		} else {
			r.State(lanes[i], event.IO, "waiting for I/O")
			err = sleepCtx(ctx, time.Duration(size)*time.Millisecond)
		}
		r.State(lanes[i], event.Done, "")
		return err
	}

	start, cpu0 := r.Now(), cpuTime()
	var runErr error
	if mode == "sequential" {
		for i := range tasks {
			if runErr = task(ctx, i); runErr != nil {
				break
			}
		}
	} else {
		var wg sync.WaitGroup
		errs := make([]error, tasks)
		for i := range tasks {
			wg.Go(func() { errs[i] = task(ctx, i) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				runErr = err
				break
			}
		}
	}
	wall, cpu := r.Now()-start, cpuTime()-cpu0

	// The sequential time is tasks × size: that is what a task takes alone
	// (CPU work is calibrated to take size ms on one core). The verdict is
	// derived from these numbers by the server (package verdict).
	sequential := float64(tasks) * float64(size) * 1e6
	s := event.Summary{
		WallNS: wall,
		CPUNS:  cpu,
		Metrics: map[string]event.Metric{
			"wall":       {Value: round2(float64(wall) / 1e6), Unit: "ms", Label: "wall time of the tasks"},
			"sequential": {Value: sequential / 1e6, Unit: "ms", Label: "sequential time (tasks × size)"},
			"cores":      {Value: float64(procs), Unit: "", Label: "cores the Go scheduler may use (GOMAXPROCS)"},
			"tasks":      {Value: float64(tasks), Unit: "", Label: "tasks"},
		},
	}
	// Run one after another (or alone) there is nothing to speed up.
	if mode != "sequential" && tasks > 1 {
		s.Metrics["speedup"] = event.Metric{Value: round2(sequential / float64(wall)), Unit: "x", Label: "speedup vs sequential (tasks × size)"}
	}
	return s, runErr
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
