package goengine

// The decision matrix's threads model in Go: a goroutine per task, or a
// pool of goroutines taking tasks from a queue (see compare.go).

import (
	"fmt"
	"sync"

	"interleave/scenarios/event"
)

// --- threads: goroutines ------------------------------------------------------

// goroutinePool runs the tasks on c.workers goroutines taking them from a
// queue: the many-io pool, as a ThreadPoolExecutor of `workers` threads.
func (c *compareRun) goroutinePool(name string) error {
	queue := make(chan int, c.size.tasks)
	for i := 1; i <= c.size.tasks; i++ {
		queue <- i
	}
	close(queue)
	c.used = c.workers
	r := c.r
	r.State(mainLane, event.Blocked, fmt.Sprintf("waiting for %d goroutines to take every task from the queue", c.workers))
	c.track("tasks queued", &c.queued, int64(c.size.tasks))
	locked := c.workload == "shared-state"
	var wg sync.WaitGroup
	for w := 1; w <= c.workers; w++ {
		lane := fmt.Sprintf("worker-%d", w)
		r.Emit(event.Event{K: event.KindLane, ID: lane, Kind: event.LaneGoroutine, Name: fmt.Sprintf("%s %d (goroutine)", name, w), Parent: mainLane, Group: "goroutines"})
		r.State(lane, event.Runnable, "started, about to take a task")
		wg.Go(func() {
			labelGoroutine(c.ctx, lane)
			for i := range queue {
				c.track("tasks queued", &c.queued, -1)
				if err := c.doTask(lane, i, locked); err != nil {
					c.fail(err)
					break
				}
				c.finished()
			}
			r.State(lane, event.Done, "no task left in the queue")
		})
	}
	wg.Wait()
	return nil
}

// goroutinePerTask is the threads model: a goroutine for every task, all
// started at once, as the python engine starts a threading.Thread per task.
// Shared-state updates take counterMu.
func (c *compareRun) goroutinePerTask() error {
	c.used = c.size.tasks
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting %d goroutines, one per task, and waiting for them all", c.size.tasks))
	locked := c.workload == "shared-state"
	var wg sync.WaitGroup
	for i := 1; i <= c.size.tasks; i++ {
		lane := ""
		if c.drawn(i) {
			lane = fmt.Sprintf("g-%d", i)
			c.r.Emit(event.Event{K: event.KindLane, ID: lane, Kind: event.LaneGoroutine, Name: fmt.Sprintf("goroutine %d", i), Parent: mainLane, Group: "goroutines"})
		}
		wg.Go(func() {
			if lane != "" {
				labelGoroutine(c.ctx, lane)
			}
			if err := c.doTask(lane, i, locked); err != nil {
				c.fail(err)
				return
			}
			c.finished()
			c.state(lane, event.Done, "")
		})
	}
	wg.Wait()
	return nil
}
