package runs

import (
	"fmt"
	"math"
	"time"

	"interleave/internal/machineload"
	"interleave/scenarios/event"
)

// LoadEvery is how often a running run's machine load is sampled for its
// counter track (machineload.SampleEvery, shared with a pool's runners).
const LoadEvery = machineload.SampleEvery

// LoadCounter names the counter track of the other programs' load (short:
// it is the row's label).
const LoadCounter = "other load (cores)"

// A run's numbers are called disturbed when the rest of the machine used at
// least disturbedShare of its cores on average while the run executed, and
// at least disturbedMinCPU in all (below that, /proc's 10 ms ticks blur a
// short run's measure). On 2 cores the share is 0.2 cores: a run that
// needs both cores (2 processes computing) loses up to a tenth of the
// machine, the margin by which the design asks a speedup to match the same
// work run plainly. Idle, the machine measures 0.00-0.05 cores (tick
// rounding and the system's own housekeeping); a browser drawing the live
// page at full rate measured 0.3-0.6 cores, a compiler 1-2.
const (
	disturbedShare  = 0.10
	disturbedMinCPU = 50 * time.Millisecond
)

// watchLoad starts measuring the machine's load while run's process group
// pgid executes, and adds a sample to the run's counter track every
// LoadEvery until the returned stop is called (which waits for the
// sampler to end). Where /proc cannot be read, it measures nothing.
func (r *Run) watchLoad(pgid int) (stop func()) {
	meter, err := machineload.Start(pgid)
	if err != nil {
		return func() {}
	}
	r.mu.Lock()
	r.load = meter
	from := event.Monotonic() - r.clockBase
	r.mu.Unlock()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(LoadEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			_, step, err := meter.Sample()
			if err != nil {
				return
			}
			from = r.appendLoad(from, step.Cores(step.Other()))
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// appendLoad adds one sample of the other programs' load, measured from
// run time from until now, to the counter track (drawn from where its
// interval began). Once the run's end event is in, samples stop: the
// summary has the load of the whole run. It returns now.
func (r *Run) appendLoad(from int64, cores float64) int64 {
	r.mu.Lock()
	now := event.Monotonic() - r.clockBase
	if r.summary != nil {
		r.mu.Unlock()
		return now
	}
	v := math.Round(cores*100) / 100
	line := event.Marshal(&event.Event{T: from, K: event.KindCounter, Name: LoadCounter, V: &v})
	r.events++
	r.bytes += int64(len(line))
	r.mu.Unlock()
	r.log.append(line)
	return now
}

// addLoad puts the machine's load over the whole run into its summary: the
// metrics other_load and observer_load, and a caveat when the rest of the
// machine was busy enough to disturb the numbers. runnerName names the
// pool's runner whose machine it is, "" for this machine.
func addLoad(s *event.Summary, u machineload.Usage, cores int, runnerName string) {
	other := u.Cores(u.Other())
	observer := "the server's own CPU while it ran (recording and serving it)"
	machine := "this machine"
	if runnerName != "" {
		observer = "the runner's own CPU while it ran (relaying its events)"
		machine = "runner " + runnerName + "'s machine"
	}
	s.Metrics[event.MetricOtherLoad] = event.Metric{Value: round2(other), Unit: event.UnitCores,
		Label: "other programs' CPU while it ran"}
	s.Metrics[event.MetricObserverLoad] = event.Metric{Value: round2(u.Cores(u.Observer)), Unit: event.UnitCores,
		Label: observer}
	if c := loadCaveat(other, u.Other(), cores, machine); c != "" {
		if s.Caveat != "" {
			s.Caveat += " "
		}
		s.Caveat += c
	}
}

// loadCaveat says how the rest of the machine disturbed a run, or "" when
// it did not (see disturbedShare).
func loadCaveat(other float64, otherCPU time.Duration, cores int, machine string) string {
	if cores < 1 || otherCPU < disturbedMinCPU || other < disturbedShare*float64(cores) {
		return ""
	}
	return fmt.Sprintf("Disturbed: other programs on %s used %.2f of its %d cores (%.0f %%) while this run ran, so its times may be longer and its speedups smaller than on an idle machine.",
		machine, other, cores, 100*other/float64(cores))
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
