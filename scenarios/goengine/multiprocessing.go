package goengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"interleave/scenarios/event"
)

// multiprocessing: the same CPU work given to worker processes (this binary
// re-executed, one thread each, like fresh Python interpreters) or to threads
// (goroutines sharing the runner's memory). Processes pay for their
// separation: start-up, memory of their own, and every argument and result
// encoded and decoded (gob here, pickle in Python) to cross between them.
func init() {
	register("multiprocessing", scenario{run: runMultiprocessing, source: "multiprocessing.go"})
}

// mpWorker is what the parent knows of one worker once its result is in.
type mpWorker struct {
	lane                     string
	pid                      int
	spawnT, readyT           int64
	argsBytes, resultBytes   int
	parentEncodeNS           int64
	parentDecodeNS           int64
	workerDecodeNS, encodeNS int64
	computeNS                int64
	peakRSS                  int64
	checksumOK               bool
}

// mpResult is a worker's raw answer, decoded by the main lane in arrival order.
type mpResult struct {
	i             int
	meta, payload []byte
	err           error
}

func runMultiprocessing(ctx context.Context, r *Run) (event.Summary, error) {
	workers, mode := r.Params.Int("workers"), r.Params.String("mode")
	size, payloadKB := r.Params.Int("size"), r.Params.Int("payload_kb")

	rounds := calibrate()
	payload := makePayload(payloadKB * 1024 / 8)
	want := payloadSum(payload) + int64(len(payload)) // what every result must add up to

	r.Emit(event.Event{K: event.KindLane, ID: "main", Kind: event.LaneProcess, Name: "main (the parent process)", PID: os.Getpid()})
	ws := make([]*mpWorker, workers)
	for i := range ws {
		ws[i] = &mpWorker{lane: fmt.Sprintf("worker-%d", i+1)}
	}
	start, cpu0 := r.Now(), cpuTime()
	var err error
	var shutdown int64
	if mode == "processes" {
		shutdown, err = runWorkerProcesses(ctx, r, ws, workerJob{RoundsPerMS: rounds, Tasks: []workerTask{{MS: size}}}, payload, want)
	} else {
		err = runWorkerThreads(ctx, r, ws, rounds, size, payload, want)
	}
	// The wall time ends with the last result, as pool.map returns; the
	// workers' exit afterwards is reported on its own.
	wall := r.Now() - start - shutdown
	// The workers' CPU time counts once they are reaped: after shutdown.
	cpu := cpuTime() - cpu0
	r.State("main", event.Done, "")
	if err == nil {
		err = ctx.Err()
	}
	s := mpSummary(mode, ws, size, len(payload), wall)
	s.CPUNS = cpu
	if mode == "processes" {
		s.Metrics["shutdown"] = event.Metric{Value: round2(float64(shutdown) / 1e6), Unit: "ms", Label: "closing the workers' stdin until every worker exited (after the results)"}
	}
	return s, err
}

// runWorkerProcesses starts one process per worker, sends each its job with
// the payload, and decodes the results as they come back. It returns how long
// the workers then took to exit.
func runWorkerProcesses(ctx context.Context, r *Run, ws []*mpWorker, job workerJob, payload []int64, want int64) (shutdown int64, err error) {
	n := len(ws)
	frames := make([]chan []byte, n)
	results := make(chan mpResult, n)
	procs := make([]*workerProcess, n)
	var wg sync.WaitGroup
	for i, w := range ws {
		frames[i] = make(chan []byte, 1)
		wg.Go(func() {
			p, err := startWorkerProcess(ctx, r, w.lane, fmt.Sprintf("worker %d", i+1), "main", true)
			if err != nil {
				results <- mpResult{i: i, err: err}
				return
			}
			procs[i] = p
			w.pid, w.spawnT, w.readyT = p.pid, p.spawnT, p.readyT
			var frame []byte
			select {
			case frame = <-frames[i]:
			case <-ctx.Done():
				results <- mpResult{i: i, err: ctx.Err()}
				return
			}
			r.Flow("main", w.lane, fmt.Sprintf("args: %s (gob)", formatBytes(len(frame))))
			if err := p.send(frame); err != nil {
				results <- mpResult{i: i, err: err}
				return
			}
			meta, res, err := p.receive()
			results <- mpResult{i: i, meta: meta, payload: res, err: err}
		})
	}
	// The parent encodes each worker's arguments in turn while the workers
	// start, as Python pickles the arguments of each task.
	job.Payload = payload
	for i, w := range ws {
		r.State("main", event.Active, fmt.Sprintf("encode the args of worker %d: %d values (gob, like pickling)", i+1, len(payload)))
		job.Tasks[0].ID = i
		t := time.Now()
		frame, err := gobEncode(job)
		w.parentEncodeNS = int64(time.Since(t))
		if err != nil {
			return 0, fmt.Errorf("encode args: %w", err)
		}
		w.argsBytes = len(frame)
		frames[i] <- frame
	}
	var firstErr error
	for range n {
		r.State("main", event.Blocked, "waiting for a result")
		res := <-results
		if res.err != nil {
			firstErr = cmpErr(firstErr, res.err)
			continue
		}
		w := ws[res.i]
		r.Flow(w.lane, "main", fmt.Sprintf("result: %s (gob)", formatBytes(len(res.payload))))
		r.State("main", event.Active, fmt.Sprintf("decode the result of worker %d (gob, like unpickling)", res.i+1))
		t := time.Now()
		var meta workerResult
		var back []int64
		err := gobDecode(res.meta, &meta)
		if err == nil {
			err = gobDecode(res.payload, &back)
		}
		w.parentDecodeNS = int64(time.Since(t))
		if err != nil {
			firstErr = cmpErr(firstErr, fmt.Errorf("decode result of worker %d: %w", res.i+1, err))
			continue
		}
		w.resultBytes = len(res.payload)
		w.workerDecodeNS, w.encodeNS, w.computeNS = meta.DecodeNS, meta.EncodeNS, meta.ComputeNS
		// The worker's own peak (VmHWM), as it reported it with its result:
		// the rusage of the reaped worker would start at this process's peak.
		w.peakRSS = meta.PeakRSS
		w.checksumOK = len(back) == len(payload) && payloadSum(back) == want
	}
	r.State("main", event.Blocked, "closing the workers' stdin and waiting for them to exit")
	closing := r.Now()
	wg.Wait()
	for i, p := range procs {
		if p == nil {
			continue
		}
		rss, err := p.finish()
		if err != nil && ctx.Err() == nil {
			firstErr = cmpErr(firstErr, err)
		}
		// Its own peak: as it reported it with its result, or as read
		// from /proc/<pid>/status before it exited.
		ws[i].peakRSS = max(ws[i].peakRSS, rss)
		if rss := ws[i].peakRSS; rss > 0 {
			r.Mark(ws[i].lane, fmt.Sprintf("exited; its own peak memory (VmHWM) %s", formatBytes(int(rss))))
		} else {
			r.Mark(ws[i].lane, "exited")
		}
	}
	return r.Now() - closing, firstErr
}

// runWorkerThreads does the same work on goroutines of this process: the
// payload is shared, not copied.
func runWorkerThreads(ctx context.Context, r *Run, ws []*mpWorker, rounds int64, size int, payload []int64, want int64) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	r.State("main", event.Blocked, "waiting for the threads")
	for i, w := range ws {
		w.pid = os.Getpid()
		w.spawnT = r.Now()
		r.Emit(event.Event{T: w.spawnT, K: event.KindLane, ID: w.lane, Kind: event.LaneGoroutine, Name: fmt.Sprintf("worker %d (thread)", i+1), Parent: "main"})
		r.Flow("main", w.lane, fmt.Sprintf("args: a reference to %s, nothing copied", formatBytes(len(payload)*8)))
		wg.Go(func() {
			w.readyT = r.Now()
			labelGoroutine(ctx, w.lane)
			r.State(w.lane, event.Active, fmt.Sprintf("compute %d ms of CPU", size))
			t := time.Now()
			if errs[i] = cpuWork(ctx, rounds, size); errs[i] != nil {
				return
			}
			back := make([]int64, len(payload)) // a new result list, as a Python function returns
			for j, v := range payload {
				back[j] = v + 1
			}
			w.computeNS = int64(time.Since(t))
			w.checksumOK = payloadSum(back) == want
			r.Flow(w.lane, "main", fmt.Sprintf("result: a reference to %s, nothing copied", formatBytes(len(back)*8)))
			r.State(w.lane, event.Done, "")
		})
	}
	wg.Wait()
	rss := selfRSS()
	for _, w := range ws {
		w.peakRSS = rss
	}
	return errors.Join(errs...)
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// makePayload returns n deterministic values of varied magnitude, so their
// encoding has varied length as real data would.
func makePayload(n int) []int64 {
	out := make([]int64, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = int64(x >> (x & 63))
	}
	return out
}

func payloadSum(p []int64) int64 {
	var s int64
	for _, v := range p {
		s += v
	}
	return s
}

// mpSummary measures the run for its verdict, which the server derives
// (package verdict): the same metrics as the CPython script's.
func mpSummary(mode string, ws []*mpWorker, size, values int, wall int64) event.Summary {
	n := len(ws)
	var startupSum, startupMax, serial, serialMain, computeSum, rssMax int64
	var bytesArgs, bytesResult int
	ok := 0
	for _, w := range ws {
		st := w.readyT - w.spawnT
		startupSum += st
		startupMax = max(startupMax, st)
		serial += w.parentEncodeNS + w.workerDecodeNS + w.encodeNS + w.parentDecodeNS
		serialMain += w.parentEncodeNS + w.parentDecodeNS
		computeSum += w.computeNS
		rssMax = max(rssMax, w.peakRSS)
		bytesArgs += w.argsBytes
		bytesResult += w.resultBytes
		if w.checksumOK {
			ok++
		}
	}
	sequential := float64(n) * float64(size) * 1e6
	speedup := sequential / float64(max(wall, 1))
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	what, whats := "process", "worker processes"
	if mode == "threads" {
		what, whats = "goroutine", "worker goroutines"
	}
	if n == 0 {
		return event.Summary{WallNS: wall, Metrics: map[string]event.Metric{}, Verdict: "No worker ran."}
	}
	m := map[string]event.Metric{
		"workers":            {Value: float64(n), Label: whats + " that computed"},
		"wall":               {Value: ms(wall), Unit: "ms", Label: "wall time: first start to last result decoded"},
		"sequential":         {Value: round2(sequential / 1e6), Unit: "ms", Label: "sequential estimate: workers × size of CPU work, calibrated on one core"},
		"startup_mean":       {Value: msPrecise(startupSum / int64(n)), Unit: "ms", Label: "start-up of one " + what + ": from start until ready for work (mean)"},
		"startup_max":        {Value: msPrecise(startupMax), Unit: "ms", Label: "start-up of the slowest " + what},
		"serialization":      {Value: ms(serial), Unit: "ms", Label: "time spent encoding and decoding args and results, both sides, all workers"},
		"serialization_main": {Value: ms(serialMain), Unit: "ms", Label: "of it, in the main process, one worker after another"},
		"compute_mean":       {Value: ms(computeSum / int64(n)), Unit: "ms", Label: "measured compute time of one worker (mean)"},
		"payload_values":     {Value: float64(values), Label: "int64 values sent to each worker and back"},
		"results_ok":         {Value: float64(ok), Label: "results that came back complete and correct (checksum)"},
	}
	if mode == "processes" {
		m["bytes_sent"] = event.Metric{Value: round2(float64(bytesArgs) / 1024), Unit: "KiB", Label: "encoded args sent to the workers, all together"}
		m["bytes_received"] = event.Metric{Value: round2(float64(bytesResult) / 1024), Unit: "KiB", Label: "encoded results received, all together"}
		m["rss_worker_max"] = event.Metric{Value: round2(float64(rssMax) / (1 << 20)), Unit: "MiB", Label: "peak resident memory of one worker process (the largest; VmHWM, as each worker reported it)"}
		m["rss_runner"] = event.Metric{Value: round2(float64(selfRSS()) / (1 << 20)), Unit: "MiB", Label: "peak resident memory of the parent (runner) process"}
	} else {
		m["rss_runner"] = event.Metric{Value: round2(float64(rssMax) / (1 << 20)), Unit: "MiB", Label: "peak resident memory of the one process all threads share"}
	}
	// One worker has nothing to be faster than.
	if n > 1 {
		m["speedup"] = event.Metric{Value: round2(speedup), Unit: "x", Label: "speedup vs the sequential estimate (start-up and serialization included in the wall time)"}
	}
	s := event.Summary{WallNS: wall, Metrics: m}
	return s
}
