package pool

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	"interleave/internal/machineload"
	"interleave/runner"
	"interleave/scenarios/event"
)

// loadWatch measures the runner's machine while one run executes, with the
// same meter as a local run on the web node (package machineload), and
// publishes it on the run's subject: a sample every machineload.SampleEvery
// for the run's counter track, and a last one just before the run's end
// event, which the web node puts into the summary (other_load,
// observer_load and the caveat when the machine was busy).
type loadWatch struct {
	pub   *publisher
	base  int64
	cores int

	mu      sync.Mutex
	meter   *machineload.Meter
	from    int64
	ended   bool
	done    chan struct{}
	stopped chan struct{}
}

// start begins measuring process group pgid; where /proc cannot be read it
// measures nothing, and the run's summary says nothing of the load.
func (w *loadWatch) start(pgid int) {
	meter, err := machineload.Start(pgid)
	if err != nil {
		return
	}
	w.mu.Lock()
	w.meter = meter
	w.from = event.Monotonic() - w.base
	w.done, w.stopped = make(chan struct{}), make(chan struct{})
	w.mu.Unlock()
	go func() {
		defer close(w.stopped)
		tick := time.NewTicker(machineload.SampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			w.sample(false)
		}
	}()
}

// sample publishes one measure; last marks the one before the end event,
// after which nothing more is sent.
func (w *loadWatch) sample(last bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.meter == nil || w.ended {
		return
	}
	total, step, err := w.meter.Sample()
	if err != nil {
		return
	}
	now := event.Monotonic() - w.base
	w.pub.send(KindLoad, nil, mustJSON(runner.Load{From: w.from, Step: step.Cores(step.Other()), Total: total, Cores: w.cores, CoreSpeeds: machineload.CoreSpeeds()}))
	w.from = now
	w.ended = last
}

// stop ends the sampling and waits for it.
func (w *loadWatch) stop() {
	w.mu.Lock()
	done, stopped := w.done, w.stopped
	w.done = nil
	w.mu.Unlock()
	if done != nil {
		close(done)
		<-stopped
	}
}

var endKind = []byte(`"end"`)

// hasEnd says whether a batch holds the run's end event.
func hasEnd(lines [][]byte) bool {
	for _, line := range lines {
		if !bytes.Contains(line, endKind) {
			continue
		}
		var ev struct {
			K string `json:"k"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.K == event.KindEnd {
			return true
		}
	}
	return false
}
