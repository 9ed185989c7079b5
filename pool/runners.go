package pool

import (
	"slices"
	"strings"
	"time"

	"interleave/runner"
)

// What the web node knows of the pool's runners, from their heartbeats.

// Runners returns the latest heartbeat of every runner alive now.
func (d *Dispatcher) Runners() []Heartbeat {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Heartbeat
	for _, r := range d.runners {
		if time.Since(r.seen) < d.cfg.LostAfter {
			out = append(out, r.hb)
		}
	}
	slices.SortFunc(out, func(a, b Heartbeat) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Slots implements runner.Pool: the slots of the live runners that have
// engine (of every live runner for "").
func (d *Dispatcher) Slots(engine string) int {
	n := 0
	for _, hb := range d.Runners() {
		if engine == "" || slices.ContainsFunc(hb.Engines, func(e EngineInfo) bool { return e.ID == engine }) {
			n += hb.Slots
		}
	}
	return n
}

// Offers implements runner.Pool: every engine a live runner has, with the
// version and GIL of the first runner (by name) that has it and the names
// of all of them, in the order the runners first list them.
func (d *Dispatcher) Offers() []runner.Offer {
	var out []runner.Offer
	at := map[string]int{}
	for _, hb := range d.Runners() {
		for _, e := range hb.Engines {
			i, ok := at[e.ID]
			if !ok {
				i = len(out)
				at[e.ID] = i
				out = append(out, runner.Offer{ID: e.ID, Version: e.Version, GIL: e.GIL})
			}
			out[i].Runners = append(out[i].Runners, hb.Name)
		}
	}
	return out
}

// Abandon implements runner.Abandoner: a web node that restarted tells the
// runners to kill the runs its previous life left executing (nobody
// follows them any more: their events went to a connection that is gone,
// and the store has marked them interrupted). The cancel is repeated every
// 250 ms until no live runner's heartbeat lists any of them (at least two
// heartbeats, so that a runner that was not heard from yet is covered), at
// most abandonFor.
func (d *Dispatcher) Abandon(ids []string) {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return checkToken("run id", id) != nil })
	if len(ids) == 0 {
		return
	}
	d.mu.Lock()
	select {
	case <-d.closed:
		d.mu.Unlock()
		return
	default:
	}
	d.inflight.Add(1)
	d.mu.Unlock()
	d.logger.Info("pool: telling the runners to stop the runs the previous web node left", "runs", ids)
	go func() {
		defer d.inflight.Done()
		start := time.Now()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			listed := false
			for _, hb := range d.Runners() {
				for _, id := range ids {
					listed = listed || slices.Contains(hb.Runs, id)
				}
			}
			if !listed && time.Since(start) > 2*HeartbeatEvery || time.Since(start) > abandonFor {
				if listed {
					d.logger.Warn("pool: a runner still lists a run the previous web node left", "runs", ids)
				}
				return
			}
			for _, id := range ids {
				d.sendCancel(id)
			}
			select {
			case <-tick.C:
			case <-d.closed:
				return
			}
		}
	}()
}

// hasEngine says whether a live runner advertises engine.
func (d *Dispatcher) hasEngine(engine string) bool {
	for _, hb := range d.Runners() {
		for _, e := range hb.Engines {
			if e.ID == engine {
				return true
			}
		}
	}
	return false
}

// runnerAlive says whether the named runner has been heard from lately
// and, in its heartbeats since the run was claimed, still lists the run.
func (d *Dispatcher) runnerAlive(name, id string, claimedAt time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.runners[name]
	if r == nil {
		return time.Since(claimedAt) < d.cfg.LostAfter
	}
	if time.Since(r.seen) >= d.cfg.LostAfter && time.Since(claimedAt) >= d.cfg.LostAfter {
		return false
	}
	// A heartbeat sent well after the claim must list the run.
	if r.seen.Sub(claimedAt) > 2*HeartbeatEvery && !slices.Contains(r.hb.Runs, id) {
		return false
	}
	return true
}
