package goengine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"interleave/scenarios/event"
)

// pools: tasks split into chunks (chunksize) and fed from one queue to a
// pool of workers, goroutines or processes. A pool starts its workers once
// and reuses them (reuse=true, like multiprocessing.Pool); without reuse every
// chunk pays for a fresh worker. Workers that find the queue empty sit idle
// until the last chunk is done: the tail.
func init() {
	register("pools", scenario{run: runPools, source: "pools.go"})
}

// poolChunk is a run of consecutive tasks handed out together.
type poolChunk struct {
	n     int // 1-based
	tasks []workerTask
}

// pool is the state of one run of the scenario.
type pool struct {
	r      *Run
	rounds int64
	queue  chan poolChunk
	// runs counts how many times each task ran: exactly once is the claim.
	runs []atomic.Int32
	done atomic.Int64
	// procs are the reused worker processes, closed after the last result.
	procs []*workerProcess

	mu         sync.Mutex
	starts     int   // workers started
	startupNS  int64 // their start-up, summed
	startupMax int64
	lastFinish map[string]int64 // per worker lane, when its last chunk was done
	perWorker  map[string]int   // tasks each worker ran
}

func runPools(ctx context.Context, r *Run) (event.Summary, error) {
	workers, tasks, chunksize := r.Params.Int("workers"), r.Params.Int("tasks"), r.Params.Int("chunksize")
	kind, size, skew, reuse := r.Params.String("kind"), r.Params.Int("size"), r.Params.Bool("skew"), r.Params.Bool("reuse")

	chunks := makeChunks(tasks, chunksize, size, skew)
	workers = min(workers, len(chunks)) // more workers than chunks would never get work
	p := &pool{r: r, rounds: calibrate(), queue: make(chan poolChunk, len(chunks)), runs: make([]atomic.Int32, tasks),
		lastFinish: map[string]int64{}, perWorker: map[string]int{}}
	for _, c := range chunks {
		p.queue <- c
	}
	close(p.queue)

	r.Lane("pool", event.LaneGoroutine, "pool (the caller of map)", "")
	r.State("pool", event.Blocked, fmt.Sprintf("map: %d tasks in %d chunks of up to %d, waiting for the results", tasks, len(chunks), chunksize))
	r.Counter("chunks queued", float64(len(chunks)))
	r.Counter("tasks done", 0)
	start := r.Now()
	var err error
	switch {
	case kind == "processes" && reuse:
		err = p.reusedProcesses(ctx, workers)
	case kind == "processes":
		err = p.freshWorkers(ctx, workers, p.freshProcess)
	case reuse:
		err = p.reusedGoroutines(ctx, workers)
	default:
		err = p.freshWorkers(ctx, workers, p.freshGoroutine)
	}
	end := r.Now()
	// pool.close(); pool.join(): only now do reused workers see the end of
	// their input and exit.
	r.State("pool", event.Blocked, "all results in; closing the pool")
	if cerr := p.closeProcesses(ctx); err == nil {
		err = cerr
	}
	r.State("pool", event.Done, "pool closed")
	if err == nil {
		err = ctx.Err()
	}
	return p.summary(kind, reuse, tasks, len(chunks), chunksize, start, end), err
}

// makeChunks splits tasks in order into chunks. With skew the task sizes grow
// from a quarter to 1.75 times size (the same total): the heaviest tasks are
// at the end, as often happens with real inputs.
func makeChunks(tasks, chunksize, size int, skew bool) []poolChunk {
	var chunks []poolChunk
	for i := 0; i < tasks; i += chunksize {
		c := poolChunk{n: len(chunks) + 1}
		for id := i; id < min(i+chunksize, tasks); id++ {
			ms := size
			if skew && tasks > 1 {
				ms = max(1, int(math.Round(float64(size)*(0.25+1.5*float64(id)/float64(tasks-1)))))
			}
			c.tasks = append(c.tasks, workerTask{ID: id, MS: ms})
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// ran records that a worker on lane ran the tasks of a chunk.
func (p *pool) ran(lane string, ids []int) {
	for _, id := range ids {
		if id >= 0 && id < len(p.runs) {
			p.runs[id].Add(1)
		}
	}
	p.r.Counter("tasks done", float64(p.done.Add(int64(len(ids)))))
	p.mu.Lock()
	p.lastFinish[lane] = p.r.Now()
	p.perWorker[lane] += len(ids)
	p.mu.Unlock()
}

// joined registers a reused worker from the time it was ready, so a worker
// that never gets a chunk still counts as idle at the tail.
func (p *pool) joined(lane string, readyT int64) {
	p.mu.Lock()
	if _, ok := p.lastFinish[lane]; !ok {
		p.lastFinish[lane] = readyT
	}
	p.mu.Unlock()
}

func (p *pool) started(spawnT, readyT int64) {
	p.mu.Lock()
	p.starts++
	p.startupNS += readyT - spawnT
	p.startupMax = max(p.startupMax, readyT-spawnT)
	p.mu.Unlock()
}

func (p *pool) take(ctx context.Context) (poolChunk, bool) {
	select {
	case c, ok := <-p.queue:
		if ok {
			p.r.Counter("chunks queued", float64(len(p.queue)))
		}
		return c, ok
	case <-ctx.Done():
		return poolChunk{}, false
	}
}

// reusedProcesses starts the pool's worker processes once; each takes chunk
// after chunk until the queue is empty, then idles until the pool closes.
func (p *pool) reusedProcesses(ctx context.Context, workers int) error {
	procs := make([]*workerProcess, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			lane := fmt.Sprintf("worker-%d", i+1)
			w, err := startWorkerProcess(ctx, p.r, lane, fmt.Sprintf("worker %d", i+1), "pool", false)
			if err != nil {
				errs[i] = err
				return
			}
			procs[i] = w
			p.started(w.spawnT, w.readyT)
			p.joined(lane, w.readyT)
			errs[i] = p.feed(ctx, w)
		})
	}
	wg.Wait()
	for _, w := range procs {
		if w != nil {
			p.procs = append(p.procs, w)
		}
	}
	return errors.Join(errs...)
}

// closeProcesses closes the reused workers' stdin and waits for them to exit.
func (p *pool) closeProcesses(ctx context.Context) error {
	var errs []error
	for _, w := range p.procs {
		if _, err := w.finish(); err != nil && ctx.Err() == nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// feed sends chunks to worker process w until the queue is empty.
func (p *pool) feed(ctx context.Context, w *workerProcess) error {
	for {
		c, ok := p.take(ctx)
		if !ok {
			return nil
		}
		if err := p.runChunkIn(w, c); err != nil {
			return err
		}
	}
}

// runChunkIn sends one chunk to a worker process and counts what it ran.
func (p *pool) runChunkIn(w *workerProcess, c poolChunk) error {
	frame, err := gobEncode(workerJob{Tasks: c.tasks, RoundsPerMS: p.rounds})
	if err != nil {
		return err
	}
	p.r.Flow("pool", w.lane, fmt.Sprintf("chunk %d: %d task(s)", c.n, len(c.tasks)))
	if err := w.send(frame); err != nil {
		return err
	}
	meta, _, err := w.receive()
	if err != nil {
		return err
	}
	var res workerResult
	if err := gobDecode(meta, &res); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	p.ran(w.lane, res.Done)
	return nil
}

// freshWorkers gives every chunk a worker of its own, at most workers at a
// time: no reuse, so every chunk pays a start-up.
func (p *pool) freshWorkers(ctx context.Context, workers int, run func(ctx context.Context, c poolChunk) error) error {
	slots := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for {
		c, ok := p.take(ctx)
		if !ok {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := run(ctx, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freshProcess starts a process for one chunk, runs it, and lets it exit.
func (p *pool) freshProcess(ctx context.Context, c poolChunk) error {
	lane := fmt.Sprintf("chunk-%d", c.n)
	w, err := startWorkerProcess(ctx, p.r, lane, fmt.Sprintf("process for chunk %d", c.n), "pool", false)
	if err != nil {
		return err
	}
	p.started(w.spawnT, w.readyT)
	err = p.runChunkIn(w, c)
	if _, ferr := w.finish(); err == nil && ctx.Err() == nil {
		err = ferr
	}
	return err
}

// freshGoroutine starts a goroutine for one chunk; its start-up is the time
// from the go statement to its first instruction.
func (p *pool) freshGoroutine(ctx context.Context, c poolChunk) error {
	lane := fmt.Sprintf("chunk-%d", c.n)
	p.r.Lane(lane, event.LaneGoroutine, fmt.Sprintf("goroutine for chunk %d", c.n), "pool")
	spawnT := p.r.Now()
	errc := make(chan error, 1)
	go func() {
		readyT := p.r.Now()
		labelGoroutine(ctx, lane)
		p.started(spawnT, readyT)
		errc <- p.runChunkHere(ctx, lane, c)
		p.r.State(lane, event.Done, "chunk done: the goroutine ends")
	}()
	return <-errc
}

// reusedGoroutines runs the pool's worker goroutines, each taking chunks
// until the queue is empty.
func (p *pool) reusedGoroutines(ctx context.Context, workers int) error {
	lanes := make([]string, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		lanes[i] = fmt.Sprintf("worker-%d", i+1)
		p.r.Lane(lanes[i], event.LaneGoroutine, fmt.Sprintf("worker %d", i+1), "pool")
		spawnT := p.r.Now()
		wg.Go(func() {
			readyT := p.r.Now()
			p.started(spawnT, readyT)
			p.joined(lanes[i], readyT)
			labelGoroutine(ctx, lanes[i])
			for {
				c, ok := p.take(ctx)
				if !ok {
					break
				}
				if errs[i] = p.runChunkHere(ctx, lanes[i], c); errs[i] != nil {
					return
				}
			}
			p.r.State(lanes[i], event.Idle, "queue empty: idle until the pool closes")
		})
	}
	wg.Wait()
	for _, lane := range lanes {
		p.r.State(lane, event.Done, "pool closed")
	}
	return errors.Join(errs...)
}

// runChunkHere runs a chunk on the calling goroutine.
func (p *pool) runChunkHere(ctx context.Context, lane string, c poolChunk) error {
	ids := make([]int, 0, len(c.tasks))
	for _, t := range c.tasks {
		p.r.State(lane, event.Active, fmt.Sprintf("compute task %d (%d ms of CPU)", t.ID+1, t.MS))
		if err := cpuWork(ctx, p.rounds, t.MS); err != nil {
			return err
		}
		ids = append(ids, t.ID)
	}
	p.ran(lane, ids)
	return nil
}

// summary measures the pool for its verdict, which the server derives
// (package verdict): the same metrics as the CPython script's.
func (p *pool) summary(kind string, reuse bool, tasks, chunks, chunksize int, start, end int64) event.Summary {
	var once, more, never, executions int
	for i := range p.runs {
		switch n := int(p.runs[i].Load()); {
		case n == 1:
			once++
		case n > 1:
			more++
		default:
			never++
		}
		executions += int(p.runs[i].Load())
	}
	wall := end - start
	// The tail: how long each worker waited, after its last chunk, for the
	// pool to finish.
	var idleNS, idleMax int64
	minTasks, maxTasks := tasks, 0
	for lane, t := range p.lastFinish {
		idle := end - t
		idleNS += idle
		idleMax = max(idleMax, idle)
		minTasks, maxTasks = min(minTasks, p.perWorker[lane]), max(maxTasks, p.perWorker[lane])
	}
	idleShare := 100 * float64(idleNS) / float64(max(int64(len(p.lastFinish))*wall, 1))
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	m := map[string]event.Metric{
		"tasks":         {Value: float64(tasks), Label: "tasks submitted"},
		"chunks":        {Value: float64(chunks), Label: fmt.Sprintf("chunks of up to %d tasks", chunksize)},
		"chunksize":     {Value: float64(chunksize), Label: "tasks handed to a worker at a time"},
		"executions":    {Value: float64(executions), Label: "task executions counted"},
		"ran_once":      {Value: float64(once), Label: "tasks that ran exactly once"},
		"ran_more":      {Value: float64(more), Label: "tasks that ran more than once"},
		"never_ran":     {Value: float64(never), Label: "tasks that never ran"},
		"wall":          {Value: ms(wall), Unit: "ms", Label: "wall time of map, from submitting to the last result"},
		"starts":        {Value: float64(p.starts), Label: "workers started (" + kind + ")"},
		"startup_total": {Value: msPrecise(p.startupNS), Unit: "ms", Label: "start-up paid, summed over every worker started"},
		"startup_max":   {Value: msPrecise(p.startupMax), Unit: "ms", Label: "slowest start-up of one worker"},
	}
	if reuse {
		m["idle_tail_max"] = event.Metric{Value: ms(idleMax), Unit: "ms", Label: "longest a worker sat idle at the end, waiting for the others"}
		m["idle_tail_pct"] = event.Metric{Value: round2(idleShare), Unit: "%", Label: "share of the workers' time spent idle at the tail"}
		m["tasks_per_max"] = event.Metric{Value: float64(maxTasks), Label: "most tasks run by one worker"}
		m["tasks_per_min"] = event.Metric{Value: float64(minTasks), Label: "fewest tasks run by one worker"}
	}
	return event.Summary{WallNS: wall, Metrics: m}
}
