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

	start := r.Now()
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
	wall := r.Now() - start

	// The sequential time is tasks × size: that is what a task takes alone
	// (CPU work is calibrated to take size ms on one core).
	sequential := float64(tasks) * float64(size) * 1e6
	speedup := sequential / float64(wall)
	s := event.Summary{
		WallNS: wall,
		Metrics: map[string]event.Metric{
			"speedup":    {Value: round2(speedup), Unit: "x", Label: "speedup vs sequential (tasks × size)"},
			"sequential": {Value: sequential / 1e6, Unit: "ms", Label: "sequential time (tasks × size)"},
			"cores":      {Value: float64(procs), Unit: "", Label: "cores the Go scheduler may use (GOMAXPROCS)"},
			"tasks":      {Value: float64(tasks), Unit: "", Label: "tasks"},
		},
	}
	s.Verdict = mentalModelVerdict(work, mode, procs, tasks, speedup)
	return s, runErr
}

func mentalModelVerdict(work, mode string, procs, tasks int, speedup float64) string {
	x := fmt.Sprintf("%.2fx", speedup)
	switch {
	case tasks == 1:
		return "A single task has nothing to overlap with: every mode takes the same time (" + x + ")."
	case mode == "sequential":
		return "Run one after another, the tasks take the sum of their times (" + x + " of the sequential estimate)."
	case work == "io":
		return fmt.Sprintf("The tasks wait at the same time, so concurrency alone gives %s even on %d core(s): waiting needs no CPU.", x, procs)
	case procs == 1:
		return fmt.Sprintf("Concurrency without parallelism: all %d tasks were in progress at once, but one core computed them in turn, so CPU work ran at %s of sequential speed.", tasks, x)
	default:
		return fmt.Sprintf("Parallelism: %d cores computed at the same instant, so CPU work ran %s faster than in sequence.", procs, x)
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
