package pool

import (
	"context"
	"fmt"
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

// next is what the web node knows of a runner after its heartbeat hb
// arrived at now (r is what it knew before, nil for a new runner).
func (r *runnerSeen) next(hb Heartbeat, now time.Time) *runnerSeen {
	since := func(prev time.Time, holds bool) time.Time {
		switch {
		case !holds:
			return time.Time{}
		case prev.IsZero():
			return now
		}
		return prev
	}
	var prev runnerSeen
	if r != nil {
		prev = *r
	}
	return &runnerSeen{hb: hb, seen: now,
		freeSince: since(prev.freeSince, hb.Free > 0),
		idleSince: since(prev.idleSince, hb.Free > 0 && hb.Free >= hb.Slots)}
}

// stalled says whether a run offered on the stream at offeredAt and not
// claimed yet should have been taken by now, and names the runner that
// could have: a live runner with the run's engine has had a free slot
// (every slot, for an exclusive run) in every heartbeat since StallAfter
// ago, and the run has waited that long. A runner with a free slot fetches
// the oldest run of its engine within a second, so such a run's message
// went astray between JetStream and the runners (a pull whose messages
// were never seen, a redelivery that did not come).
func (d *Dispatcher) stalled(job runner.Job, offeredAt time.Time) (string, bool) {
	if time.Since(offeredAt) < d.cfg.StallAfter {
		return "", false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.runners))
	for name := range d.runners {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		r := d.runners[name]
		since := r.freeSince
		if job.Exclusive {
			since = r.idleSince
		}
		if time.Since(r.seen) < d.cfg.LostAfter && !since.IsZero() && time.Since(since) >= d.cfg.StallAfter &&
			slices.ContainsFunc(r.hb.Engines, func(e EngineInfo) bool { return e.ID == job.Engine }) {
			return name, true
		}
	}
	return "", false
}

// offerAgain puts a stalled run on the stream again under a new message
// id, then removes its previous message (a runner that took that one
// meanwhile still gets its claim granted; whoever takes the other is
// refused), and returns the run's sequence in the stream. The warning
// carries the consumer's state, the evidence of where the run went astray.
func (d *Dispatcher) offerAgain(ctx context.Context, job runner.Job, seq uint64, free string, offeredAt time.Time, offers int) uint64 {
	d.logger.Warn("pool: a run waited unclaimed while a runner had a free slot; offering it again",
		"run", job.ID, "engine", job.Engine, "free_runner", free, "waited", time.Since(offeredAt).Round(time.Millisecond),
		"offers", offers, "stream_seq", seq, "queue", d.queueState(job.Engine))
	next, err := d.publish(ctx, job, fmt.Sprintf("%s#%d", job.ID, offers+1))
	if err != nil {
		d.logger.Warn("pool: offer a stalled run again", "run", job.ID, "err", err)
		return seq
	}
	d.deleteJob(seq)
	return next
}

// queueState describes the consumer of engine's runs, for the log.
func (d *Dispatcher) queueState(engine string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := d.js.Consumer(ctx, StreamName, consumerName(engine))
	if err != nil {
		return "unknown: " + err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return "unknown: " + err.Error()
	}
	return fmt.Sprintf("%d pending, %d delivered and not acknowledged, %d redelivered, %d pulls waiting",
		info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting)
}
