package goengine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"interleave/scenarios/event"
)

// threads: a pool of workers (goroutines, Go's threads) takes tasks from a
// queue. I/O-bound tasks overlap while they wait; CPU-bound tasks speed up
// only as far as there are cores, and in Go nothing (no GIL) stops them.
func init() {
	register("threads", scenario{run: runThreads, source: "threads.go"})
}

func runThreads(ctx context.Context, r *Run) (event.Summary, error) {
	workers, tasks := r.Params.Int("workers"), r.Params.Int("tasks")
	work, size, ioKind := r.Params.String("work"), r.Params.Int("size"), r.Params.String("io")
	workers = min(workers, tasks) // a worker with no task to take would only be an empty lane
	taskTime := time.Duration(size) * time.Millisecond

	var rounds int64
	var doTask func(ctx context.Context, lane string, n int) error
	switch {
	case work == "cpu":
		rounds = calibrate()
		doTask = func(ctx context.Context, lane string, n int) error {
			r.State(lane, event.Active, fmt.Sprintf("task %d: computing %d ms", n, size))
			return cpuWork(ctx, rounds, size)
		}
	case ioKind == "http":
		srv, client := startLatencyServer(r, workers)
		defer srv.Close()
		defer client.CloseIdleConnections()
		url := srv.URL + "/slow?ms=" + strconv.Itoa(size)
		doTask = func(ctx context.Context, lane string, n int) error {
			r.State(lane, event.IO, fmt.Sprintf("task %d: GET %s, waiting for the response", n, url))
			return httpGet(ctx, client, url)
		}
	default:
		doTask = func(ctx context.Context, lane string, n int) error {
			r.State(lane, event.IO, fmt.Sprintf("task %d: waiting %d ms (sleep, as for a slow device)", n, size))
			return sleepCtx(ctx, taskTime)
		}
	}

	queue := make(chan int, tasks)
	for n := 1; n <= tasks; n++ {
		queue <- n
	}
	close(queue)
	lanes := make([]string, workers)
	for i := range workers {
		lanes[i] = fmt.Sprintf("worker-%d", i+1)
		r.Lane(lanes[i], event.LaneGoroutine, fmt.Sprintf("worker %d", i+1), "")
		r.State(lanes[i], event.Runnable, "started, about to take a task")
	}
	r.Counter("tasks done", 0)

	var done atomic.Int64
	var taskNS atomic.Int64
	start, cpu0 := r.Now(), cpuTime()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	ends := make([]int64, workers) // when each worker finished its last task (0: it took none)
	for i := range workers {
		wg.Go(func() {
			labelGoroutine(ctx, lanes[i])
			for n := range queue {
				t0 := time.Now()
				if err := doTask(ctx, lanes[i], n); err != nil {
					errs[i] = err
					break
				}
				taskNS.Add(int64(time.Since(t0)))
				r.Counter("tasks done", float64(done.Add(1)))
				ends[i] = r.Now()
			}
			r.State(lanes[i], event.Done, "no task left in the queue")
		})
	}
	wg.Wait()
	wall, cpu := r.Now()-start, cpuTime()-cpu0
	var runErr error
	for _, err := range errs {
		if err != nil {
			runErr = err
			break
		}
	}

	// The sequential baseline is an estimate: tasks × size is what one worker
	// would take if every task took exactly size ms alone (CPU work is
	// calibrated to do so; a wait is size ms plus a little overhead).
	sequential := float64(tasks) * float64(taskTime)
	speedup := sequential / float64(max(wall, 1))
	meanTask := float64(taskNS.Load()) / float64(max(done.Load(), 1))
	s := event.Summary{
		WallNS: wall,
		CPUNS:  cpu,
		Metrics: map[string]event.Metric{
			"wall":       {Value: round2(float64(wall) / 1e6), Unit: "ms", Label: "wall time to finish every task"},
			"sequential": {Value: round2(sequential / 1e6), Unit: "ms", Label: "sequential estimate: tasks × size, one worker doing one task after another"},
			"mean_task":  {Value: round2(meanTask / 1e6), Unit: "ms", Label: "mean measured time of one task"},
			"workers":    {Value: float64(workers), Label: "workers (goroutines) that took tasks"},
			"cores":      {Value: float64(gomaxprocs()), Label: "cores the Go scheduler may use (GOMAXPROCS)"},
			"tasks_done": {Value: float64(done.Load()), Label: "tasks done"},
		},
	}
	if work == "cpu" {
		s.Metrics["idle"] = event.Metric{Value: round2(float64(idleTail(ends)) / 1e6), Unit: "ms",
			Label: "worker time with no task left while another worker still computed (summed over the workers)"}
	}
	// One worker does the tasks one after another: nothing to speed up.
	if workers > 1 {
		s.Metrics["speedup"] = event.Metric{Value: round2(speedup), Unit: "x", Label: "speedup vs the sequential estimate"}
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	return s, runErr
}

// startLatencyServer starts a loopback HTTP server whose /slow handler
// answers after ?ms= milliseconds, and a client that keeps a connection per
// worker. The server's requests in flight are drawn as a counter.
func startLatencyServer(r *Run, workers int) (*httptest.Server, *http.Client) {
	var inFlight atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ms, err := strconv.Atoi(req.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60_000 {
			http.Error(w, "ms: want 0 to 60000", http.StatusBadRequest)
			return
		}
		r.Counter("requests in flight (server)", float64(inFlight.Add(1)))
		defer func() { r.Counter("requests in flight (server)", float64(inFlight.Add(-1))) }()
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			fmt.Fprintf(w, "answered after %d ms\n", ms)
		case <-req.Context().Done():
		}
	}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	return srv, client
}

// httpGet fetches url and reads the whole body.
func httpGet(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// idleTail sums, over the workers that took a task, the time from the end
// of their last task to the end of the last worker's: a core left idle
// while another still computed (uneven tasks, or cores of unequal speed:
// the quicker one runs out first). ends holds 0 for a worker that took none.
func idleTail(ends []int64) int64 {
	last := slices.Max(ends)
	var idle int64
	for _, e := range ends {
		if e > 0 {
			idle += last - e
		}
	}
	return idle
}
