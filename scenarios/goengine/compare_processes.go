package goengine

// The decision matrix's processes and pool models: worker processes (this
// binary re-executed in the compare-worker role), the jobs they are sent and
// the results they send back (see compare.go).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"interleave/scenarios/event"
)

// --- processes and pool: worker processes ----------------------------------------------

// compareJob is what the parent sends a compare worker: tasks to do one
// after another.
type compareJob struct {
	Workload      string
	Tasks         []int
	WaitMS, CPUMS int
	Updates       int
	RoundsPerMS   int64
	URL           string
}

// compareResult is a worker's answer to a job.
type compareResult struct {
	PID      int
	Done     int
	DecodeNS int64 // decoding the job, measured in the worker
	// PeakRSS is the worker's own peak resident memory so far (VmHWM),
	// bytes, read as it sends the result; it exits only after its last.
	PeakRSS int64
	Err     string
}

// startWorker starts one compare worker, drawn on lane as name, and waits
// until it is ready. The shared counter's memory, if any, is open in it.
func (c *compareRun) startWorker(lane, name, group string) (*workerProcess, error) {
	opt := roleProcessOptions{group: group}
	var env []string
	if c.shared != nil {
		opt.files = []*os.File{c.shared.file}
		env = append(env, sharedCounterFDEnv+"=4")
	}
	w, err := startRoleProcessWith(c.ctx, c.r, roleCompareWorker, lane, name, mainLane, opt, env...)
	if err != nil {
		return nil, err
	}
	w.ownMemoryOnly = true
	d := w.readyT - w.spawnT
	c.mu.Lock()
	c.children++
	c.startupNS += d
	c.startupMax = max(c.startupMax, d)
	c.mu.Unlock()
	return w, nil
}

// finishWorker closes the worker's stdin, waits for it to exit and adds its
// own peak memory (see workerProcess.finish) to the children's.
func (c *compareRun) finishWorker(w *workerProcess) error {
	peak, err := w.finish()
	c.addChildPeak(peak)
	c.r.Mark(w.lane, fmt.Sprintf("exited; its own (private) memory %s", formatBytes(int(peak))))
	if err != nil && c.ctx.Err() == nil {
		return err
	}
	return nil
}

// addChildPeak adds one child process's own peak memory (VmHWM), bytes.
func (c *compareRun) addChildPeak(peak int64) {
	if peak <= 0 {
		return
	}
	c.mu.Lock()
	c.childRSS += peak
	c.childMax = max(c.childMax, peak)
	c.childPeaks++
	c.mu.Unlock()
}

func (c *compareRun) job(tasks []int) compareJob {
	return compareJob{Workload: c.workload, Tasks: tasks, WaitMS: c.size.waitMS, CPUMS: c.size.cpuMS, Updates: c.size.updates,
		RoundsPerMS: c.rounds, URL: c.url}
}

// processPerTask starts a new process for every task, at most c.workers at
// once: with c.workers running, it waits for the oldest to exit before it
// starts the next, as the python engine joins the oldest
// multiprocessing.Process.
func (c *compareRun) processPerTask() error {
	c.used = c.workers
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting a process per task, %d at a time", c.workers))
	var running []chan struct{} // oldest first; closed when the process has exited
	for i := 1; i <= c.size.tasks && c.ctx.Err() == nil; i++ {
		for len(running) >= c.workers {
			<-running[0]
			running = running[1:]
		}
		exited := make(chan struct{})
		running = append(running, exited)
		go func() {
			defer close(exited)
			if err := c.taskProcess(i); err != nil {
				c.fail(err)
			}
		}()
	}
	for _, exited := range running {
		<-exited
	}
	return nil
}

// taskProcess is the life of one task's process: start, its one task, exit.
func (c *compareRun) taskProcess(i int) error {
	w, err := c.startWorker(fmt.Sprintf("task-%d", i), fmt.Sprintf("task %d (a process of its own)", i), "processes")
	if err != nil {
		return err
	}
	if err := c.exchange(w, c.job([]int{i})); err != nil {
		w.kill()
		return err
	}
	return c.finishWorker(w)
}

// mapChunksize is how many tasks Pool.map sends a worker at once by default:
// the tasks over four times the workers, rounded up.
func mapChunksize(tasks, workers int) int {
	return (tasks + 4*workers - 1) / (4 * workers)
}

// processPool starts `workers` worker processes, as multiprocessing.Pool
// does (even when there are fewer tasks), and feeds them chunks of tasks
// (Pool.map's default chunk size) as each becomes free.
func (c *compareRun) processPool() error {
	n := c.r.Params.Int("workers")
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting a pool of %d worker processes", n))
	ws := make([]*workerProcess, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			ws[k], errs[k] = c.startWorker(fmt.Sprintf("worker-%d", k+1), fmt.Sprintf("pool worker %d", k+1), "workers")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, w := range ws {
			if w != nil {
				w.kill()
			}
		}
		return err
	}
	c.used = n
	chunk := mapChunksize(c.size.tasks, n)
	queue := make(chan []int, c.size.tasks)
	for i := 1; i <= c.size.tasks; i += chunk {
		var tasks []int
		for j := i; j < i+chunk && j <= c.size.tasks; j++ {
			tasks = append(tasks, j)
		}
		queue <- tasks
	}
	close(queue)
	c.track("tasks queued", &c.queued, int64(c.size.tasks))
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("pool.map: %d tasks to %d workers, %d at a time (chunksize %d)", c.size.tasks, n, chunk, chunk))
	for _, w := range ws {
		wg.Go(func() {
			for tasks := range queue {
				c.track("tasks queued", &c.queued, -int64(len(tasks)))
				if err := c.exchange(w, c.job(tasks)); err != nil {
					c.fail(err)
					w.kill()
					return
				}
			}
		})
	}
	wg.Wait()
	c.r.State(mainLane, event.Blocked, "pool.close(); pool.join(): the workers exit")
	var ferrs []error
	for _, w := range ws {
		ferrs = append(ferrs, c.finishWorker(w))
	}
	return errors.Join(ferrs...)
}

// exchange sends job to worker w and takes its result.
func (c *compareRun) exchange(w *workerProcess, job compareJob) error {
	t0 := time.Now()
	frame, err := gobEncode(job)
	encodeNS := int64(time.Since(t0))
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	c.r.Flow(mainLane, w.lane, fmt.Sprintf("%s: %s (gob)", taskRange(job.Tasks), formatBytes(len(frame))))
	if err := w.send(frame); err != nil {
		return err
	}
	f, err := readFrame(w.out)
	if err != nil {
		return fmt.Errorf("worker pid %d: %w %s", w.pid, err, w.stderr.String())
	}
	t1 := time.Now()
	var res compareResult
	err = gobDecode(f, &res)
	decodeNS := int64(time.Since(t1))
	if err != nil {
		return fmt.Errorf("decode result of worker pid %d: %w", w.pid, err)
	}
	c.r.Flow(w.lane, mainLane, fmt.Sprintf("result: %s (gob)", formatBytes(len(f))))
	w.reportPeak(res.PeakRSS)
	c.mu.Lock()
	c.serialNS += encodeNS + res.DecodeNS + decodeNS
	c.mu.Unlock()
	if res.Err != "" {
		return fmt.Errorf("worker pid %d: %s", res.PID, res.Err)
	}
	for range res.Done {
		c.finished()
	}
	return nil
}

func taskRange(tasks []int) string {
	if len(tasks) == 1 {
		return fmt.Sprintf("task %d", tasks[0])
	}
	return fmt.Sprintf("tasks %d-%d", tasks[0], tasks[len(tasks)-1])
}

// compareWorkerMain is a compare worker process: it announces itself, then
// does jobs from stdin until stdin closes.
func compareWorkerMain() error {
	w, err := openWorkerSide()
	if err != nil {
		return err
	}
	defer w.close()
	cw := &compareWorker{em: w.em, lane: w.lane, client: newRequestClient()}
	if fd := os.Getenv(sharedCounterFDEnv); fd != "" {
		n, err := strconv.Atoi(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", sharedCounterFDEnv, err)
		}
		if cw.shared, err = mapSharedCounter(os.NewFile(uintptr(n), "shared-counter")); err != nil {
			return err
		}
		defer cw.shared.close()
	}
	return w.serve(func(frame []byte) ([][]byte, error) {
		t0 := time.Now()
		var job compareJob
		if err := gobDecode(frame, &job); err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		res := compareResult{PID: os.Getpid(), DecodeNS: int64(time.Since(t0))}
		if err := cw.do(job, &res); err != nil {
			res.Err = err.Error()
		}
		res.PeakRSS = ownMemoryOf("self")
		b, err := gobEncode(res)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		return [][]byte{b}, nil
	})
}

// compareWorker is the state of a compare worker process.
type compareWorker struct {
	em     *Emitter
	lane   string
	client *http.Client
	shared *sharedCounter // shared-state: the counter every worker maps
}

// do does the job's tasks one after another.
func (w *compareWorker) do(job compareJob, res *compareResult) error {
	ctx := context.Background() // the parent kills the worker to stop it
	for _, i := range job.Tasks {
		switch job.Workload {
		case "cpu":
			_, _ = measuredCPUWork(ctx, w.em, w.lane, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS), job.RoundsPerMS, job.CPUMS)
		case "io", "mixed":
			w.em.State(w.lane, event.IO, fmt.Sprintf("task %d: HTTP GET, the server answers after %d ms", i, job.WaitMS))
			if err := httpGet(ctx, w.client, job.URL); err != nil {
				return err
			}
			if job.Workload == "mixed" {
				_, _ = measuredCPUWork(ctx, w.em, w.lane, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS), job.RoundsPerMS, job.CPUMS)
			}
		case "shared-state":
			if w.shared == nil {
				return errors.New("shared-state: no shared counter in this worker")
			}
			w.em.State(w.lane, event.Active, fmt.Sprintf("task %d: %d updates of the shared counter (shared memory), each under the process-shared lock", i, job.Updates))
			for range job.Updates {
				w.shared.addOne()
			}
		default:
			return fmt.Errorf("workload %q does not run in worker processes", job.Workload)
		}
		res.Done++
	}
	return nil
}
