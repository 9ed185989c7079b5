package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"interleave/runner"
	"interleave/scenarios/child"
)

// DispatcherConfig configures the web node's side of the pool.
type DispatcherConfig struct {
	// URL is the NATS server (nats://host:4222), required.
	URL string
	// Logger receives the pool's messages, required.
	Logger *slog.Logger
	// MaxQueuedPerClient is how many runs of one client (runner.Job.Client)
	// may wait in the stream at once (default 4). Further runs of that
	// client wait in the dispatcher, in order, until one of its queued
	// runs is taken by a runner, so one client cannot fill the queue ahead
	// of everyone else. Runs without a client are not capped.
	MaxQueuedPerClient int
	// LostAfter is how long a runner holding a run may stay silent before
	// the run fails with runner.ErrRunnerLost (default DefaultLostAfter).
	LostAfter time.Duration
	// StallAfter is how long a run may wait unclaimed while a runner with
	// its engine has had a free slot throughout before it is offered again
	// under a new message id (default DefaultStallAfter); see stalled.
	StallAfter time.Duration
}

// Dispatcher hands runs to runners through NATS JetStream. It implements
// runner.Runner and is safe for concurrent use.
type Dispatcher struct {
	cfg    DispatcherConfig
	logger *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	subs   []*nats.Subscription

	mu sync.Mutex
	// runners are the runners heard from, by name.
	runners map[string]*runnerSeen
	// waiting are the runs published and not yet claimed or given up, by id.
	waiting map[string]*pendingRun
	// queued counts each client's runs in the stream.
	queued map[string]int
	// dequeued is closed (and replaced) whenever a client's queued run
	// leaves the stream, waking runs held back by MaxQueuedPerClient.
	dequeued chan struct{}
	// disconnected is closed (and replaced on reconnect) when the
	// connection to NATS drops: runs in flight cannot hear their runner.
	disconnected chan struct{}
	// closed is closed by Close: runs in flight stop waiting.
	closed    chan struct{}
	closeOnce sync.Once
	// inflight counts the Execute calls going on.
	inflight sync.WaitGroup
	// stream is the runs stream, once created on this connection.
	stream jetstream.Stream
}

// runnerSeen is the latest heartbeat of a runner and when it arrived.
type runnerSeen struct {
	hb   Heartbeat
	seen time.Time
	// freeSince is since when every heartbeat of the runner had a free
	// slot, idleSince since when all of them were free (zero when the
	// latest had none).
	freeSince, idleSince time.Time
}

// pendingRun is a run published on the stream, waiting for a runner's claim.
type pendingRun struct {
	client string
	// claimed is closed when a runner's claim is granted; runner names it.
	claimed chan struct{}
	runner  string
	// gone is set once Execute stopped waiting: later claims are refused.
	gone bool
}

// NewDispatcher connects to NATS (retrying in the background should it be
// unreachable now: the dispatcher then reports itself unhealthy) and
// listens for runners' heartbeats and claims. Close releases it.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Logger == nil {
		return nil, errors.New("dispatcher needs a logger")
	}
	if cfg.URL == "" {
		return nil, errors.New("dispatcher needs a NATS URL (-nats)")
	}
	if cfg.MaxQueuedPerClient == 0 {
		cfg.MaxQueuedPerClient = 4
	}
	if cfg.MaxQueuedPerClient < 1 {
		return nil, fmt.Errorf("max queued runs per client %d: want at least 1", cfg.MaxQueuedPerClient)
	}
	if cfg.LostAfter == 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.LostAfter < 2*HeartbeatEvery {
		return nil, fmt.Errorf("lost-after %s: want at least %s (two heartbeats)", cfg.LostAfter, 2*HeartbeatEvery)
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.StallAfter < 2*HeartbeatEvery {
		return nil, fmt.Errorf("stall-after %s: want at least %s (two heartbeats)", cfg.StallAfter, 2*HeartbeatEvery)
	}
	d := &Dispatcher{cfg: cfg, logger: cfg.Logger, runners: map[string]*runnerSeen{}, waiting: map[string]*pendingRun{},
		queued: map[string]int{}, dequeued: make(chan struct{}), disconnected: make(chan struct{}), closed: make(chan struct{})}
	nc, err := nats.Connect(cfg.URL, nats.Name("interleave web node"),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3), nats.Timeout(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { d.lostNATS(err) }),
		nats.ReconnectHandler(d.reconnected),
		nats.ConnectHandler(d.reconnected),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	d.nc = nc
	if !nc.IsConnected() {
		// Not reachable yet: the connection retries and runs get 503.
		d.lostNATS(errors.New("not connected yet"))
	}
	if d.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	hb, err := nc.Subscribe(runnerSubjectPrefix+"*"+heartbeatSuffix, d.heard)
	if err == nil {
		d.subs = append(d.subs, hb)
		var claim *nats.Subscription
		claim, err = nc.Subscribe(runSubjectPrefix+"*"+claimSuffix, d.claim)
		d.subs = append(d.subs, claim)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to the pool's subjects: %w", err)
	}
	if nc.IsConnected() {
		d.ensureStream(d.js)
	}
	return d, nil
}

// Close stops listening and closes the connection; runs in flight end
// with runner.ErrRunnerLost (their runners kill them when no cancel comes:
// see deadlineGrace).
func (d *Dispatcher) Close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		close(d.closed)
		d.mu.Unlock()
	})
	d.inflight.Wait()
	d.nc.Close()
}

// lostNATS marks the connection down: runs in flight end, new runs get
// runner.ErrUnavailable until it is back.
func (d *Dispatcher) lostNATS(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.disconnected:
		return
	default:
	}
	close(d.disconnected)
	select {
	case <-d.closed:
	default:
		d.logger.Warn("pool: lost the connection to NATS", "err", err)
	}
}

// reconnected readies the dispatcher for new runs after a (re)connect.
func (d *Dispatcher) reconnected(nc *nats.Conn) {
	d.mu.Lock()
	select {
	case <-d.disconnected:
		d.disconnected = make(chan struct{})
	default:
	}
	d.mu.Unlock()
	d.logger.Info("pool: connected to NATS", "url", nc.ConnectedUrlRedacted())
	if js, err := jetstream.New(nc); err == nil {
		go d.ensureStream(js)
	}
}

// ensureStream creates the work-queue stream (or checks it), once per
// connection.
func (d *Dispatcher) ensureStream(js jetstream.JetStream) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := createStream(ctx, js)
	if err != nil {
		d.logger.Warn("pool: create the runs stream", "err", err)
		return
	}
	d.mu.Lock()
	d.stream = st
	d.mu.Unlock()
}

// createStream creates or updates the work-queue stream of runs; the web
// node and every runner call it, with the same configuration.
func createStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	return js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Interleave runs waiting for a runner: one message per run",
		Subjects:    []string{jobSubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     10_000,
		MaxMsgSize:  64 << 10,
		// A run not taken within an hour is not waited for by anybody.
		MaxAge:     time.Hour,
		Duplicates: time.Minute,
	})
}

// heard records a runner's heartbeat.
func (d *Dispatcher) heard(m *nats.Msg) {
	var hb Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || checkToken("runner", hb.Name) != nil || m.Subject != heartbeatSubject(hb.Name) {
		return
	}
	d.mu.Lock()
	d.runners[hb.Name] = d.runners[hb.Name].next(hb, time.Now())
	d.mu.Unlock()
}

// claim answers a runner that took a run from the stream: yes once, while
// Execute still waits for the run; no otherwise (the run was cancelled, or
// another runner has it after a redelivery).
func (d *Dispatcher) claim(m *nats.Msg) {
	reply := func(r claimReply) { _ = m.Respond(mustJSON(r)) }
	id, ok := runIDFromSubject(m.Subject, claimSuffix)
	var req claimRequest
	if !ok || json.Unmarshal(m.Data, &req) != nil || checkToken("runner", req.Runner) != nil {
		reply(claimReply{Why: "bad claim"})
		return
	}
	d.mu.Lock()
	p := d.waiting[id]
	switch {
	case p == nil || p.gone:
		d.mu.Unlock()
		reply(claimReply{Why: "nobody waits for this run"})
		return
	case p.runner != "":
		d.mu.Unlock()
		reply(claimReply{Why: "runner " + p.runner + " has it"})
		return
	}
	p.runner = req.Runner
	close(p.claimed)
	d.leaveQueueLocked(p)
	d.mu.Unlock()
	reply(claimReply{OK: true})
}

// leaveQueueLocked counts a client's run out of the stream.
func (d *Dispatcher) leaveQueueLocked(p *pendingRun) {
	if p.client == "" {
		return
	}
	if d.queued[p.client]--; d.queued[p.client] <= 0 {
		delete(d.queued, p.client)
	}
	close(d.dequeued)
	d.dequeued = make(chan struct{})
}

// Healthy returns nil when the dispatcher can take runs, or why not.
func (d *Dispatcher) Healthy() error {
	if !d.nc.IsConnected() {
		return fmt.Errorf("%w: NATS at %s is unreachable", runner.ErrUnavailable, d.cfg.URL)
	}
	return nil
}

// Check implements runner.Checker: it says at once, before a run is queued,
// that the pool could not take it (NATS unreachable, or no live runner has
// the run's engine), so that the web node answers 503 instead of queueing a
// run bound to fail.
func (d *Dispatcher) Check(job runner.Job) error {
	if err := d.Healthy(); err != nil {
		return err
	}
	if !d.hasEngine(job.Engine) {
		return fmt.Errorf("%w: no runner has the %s engine", runner.ErrUnavailable, job.Engine)
	}
	return nil
}

// Execute implements runner.Runner: it publishes job on the stream, waits
// for a runner to claim it, and feeds what the runner sends into sink
// until the run's result.
func (d *Dispatcher) Execute(ctx context.Context, job runner.Job, sink runner.Sink) (child.Result, error) {
	d.mu.Lock()
	select {
	case <-d.closed:
		d.mu.Unlock()
		return child.Result{}, fmt.Errorf("%w: the web node is closing", runner.ErrUnavailable)
	default:
	}
	d.inflight.Add(1)
	d.mu.Unlock()
	defer d.inflight.Done()
	if err := checkToken("run id", job.ID); err != nil {
		return child.Result{}, err
	}
	if err := checkToken("engine", job.Engine); err != nil {
		return child.Result{}, err
	}
	if err := d.Healthy(); err != nil {
		return child.Result{}, err
	}
	if !d.hasEngine(job.Engine) {
		return child.Result{}, fmt.Errorf("%w: no runner has the %s engine", runner.ErrUnavailable, job.Engine)
	}
	if err := d.waitClientTurn(ctx, job.Client); err != nil {
		return child.Result{}, err
	}
	d.mu.Lock()
	disconnected := d.disconnected
	p := &pendingRun{client: job.Client, claimed: make(chan struct{})}
	d.waiting[job.ID] = p
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if p.runner == "" && !p.gone {
			d.leaveQueueLocked(p)
		}
		p.gone = true
		delete(d.waiting, job.ID)
		d.mu.Unlock()
	}()

	rec := &receiver{sink: sink, done: make(chan struct{})}
	sub, err := d.nc.Subscribe(eventsSubject(job.ID), rec.receive)
	if err != nil {
		return child.Result{}, fmt.Errorf("%w: subscribe to the run's events: %v", runner.ErrUnavailable, err)
	}
	// A run's events must never be dropped as a slow consumer's.
	_ = sub.SetPendingLimits(-1, 512<<20)
	defer func() {
		_ = sub.Unsubscribe()
		rec.close()
	}()

	seq, err := d.publish(ctx, job, job.ID)
	if err != nil {
		return child.Result{}, err
	}
	return d.follow(ctx, job, p, rec, seq, disconnected)
}

// waitClientTurn holds a run back while its client already has
// MaxQueuedPerClient runs in the stream, then counts it in.
func (d *Dispatcher) waitClientTurn(ctx context.Context, client string) error {
	if client == "" {
		return nil
	}
	for {
		d.mu.Lock()
		if d.queued[client] < d.cfg.MaxQueuedPerClient {
			d.queued[client]++
			d.mu.Unlock()
			return nil
		}
		wake := d.dequeued
		d.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-d.closed:
			return fmt.Errorf("%w: the web node is closing", runner.ErrUnavailable)
		}
	}
}

// publish puts job on the stream under the message id msgID (JetStream
// drops a second message with the same id within its duplicate window) and
// returns its sequence there.
func (d *Dispatcher) publish(ctx context.Context, job runner.Job, msgID string) (uint64, error) {
	d.mu.Lock()
	ready := d.stream != nil
	d.mu.Unlock()
	if !ready {
		d.ensureStream(d.js)
	}
	msg := nats.NewMsg(jobSubject(job.Engine))
	msg.Data = mustJSON(job)
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	if job.Exclusive {
		msg.Header.Set(HeaderExclusive, "true")
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ack, err := d.js.PublishMsg(pctx, msg)
	if err != nil {
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		return 0, fmt.Errorf("%w: queue the run on NATS: %v", runner.ErrUnavailable, err)
	}
	return ack.Sequence, nil
}

// follow waits for the run's claim, then for its result, watching its
// runner's heartbeats; it cancels the run when ctx ends.
func (d *Dispatcher) follow(ctx context.Context, job runner.Job, p *pendingRun, rec *receiver, seq uint64, disconnected <-chan struct{}) (child.Result, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var claimedAt time.Time
	claimed := p.claimed
	// offeredAt is when the run's message was put on the stream; offers
	// counts the messages.
	offeredAt, offers := time.Now(), 1
	var cancelled <-chan struct{} = ctx.Done()
	var cancelSent time.Time
	lost := func(why string) (child.Result, error) {
		return rec.result(), fmt.Errorf("%w: %s", runner.ErrRunnerLost, why)
	}
	for {
		select {
		case <-rec.done:
			return rec.outcome(ctx)
		case <-claimed:
			claimed = nil
			claimedAt = time.Now()
		case <-d.closed:
			if claimedAt.IsZero() {
				d.deleteJob(seq)
				return child.Result{}, fmt.Errorf("%w: the web node is closing", runner.ErrUnavailable)
			}
			d.sendCancel(job.ID)
			return lost("the web node is closing")
		case <-disconnected:
			if claimedAt.IsZero() {
				return child.Result{}, fmt.Errorf("%w: lost the connection to NATS before a runner took the run", runner.ErrUnavailable)
			}
			return lost("this web node lost its connection to NATS")
		case <-cancelled:
			cancelled = nil
			d.mu.Lock()
			taken := p.runner != ""
			p.gone = true
			d.mu.Unlock()
			if !taken {
				d.deleteJob(seq)
				return child.Result{}, context.Cause(ctx)
			}
			d.sendCancel(job.ID)
			cancelSent = time.Now()
		case <-tick.C:
			if claimedAt.IsZero() {
				if !d.hasEngine(job.Engine) {
					d.mu.Lock()
					taken := p.runner != ""
					p.gone = !taken
					d.mu.Unlock()
					if !taken {
						d.deleteJob(seq)
						return child.Result{}, fmt.Errorf("%w: no runner has the %s engine any more", runner.ErrUnavailable, job.Engine)
					}
				}
				if free, ok := d.stalled(job, offeredAt); ok {
					seq = d.offerAgain(ctx, job, seq, free, offeredAt, offers)
					offeredAt = time.Now()
					offers++
				}
				continue
			}
			d.mu.Lock()
			name := p.runner
			d.mu.Unlock()
			if !d.runnerAlive(name, job.ID, claimedAt) {
				return lost(fmt.Sprintf("runner %s stopped answering (no heartbeat for %s)", name, d.cfg.LostAfter))
			}
			if !cancelSent.IsZero() {
				if time.Since(cancelSent) > d.cfg.LostAfter {
					return lost(fmt.Sprintf("runner %s did not confirm the cancel within %s", name, d.cfg.LostAfter))
				}
				// Again, should the first cancel have gone astray.
				d.sendCancel(job.ID)
			}
		}
	}
}

// sendCancel tells the run's runner to kill it.
func (d *Dispatcher) sendCancel(id string) {
	if err := d.nc.Publish(cancelSubject(id), nil); err != nil {
		d.logger.Warn("pool: send cancel", "run", id, "err", err)
	}
}

// deleteJob removes a run nobody took from the stream.
func (d *Dispatcher) deleteJob(seq uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d.mu.Lock()
	st := d.stream
	d.mu.Unlock()
	if st == nil {
		return
	}
	if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		d.logger.Debug("pool: delete a run nobody took", "seq", seq, "err", err)
	}
}

// The Dispatcher is a Runner that can refuse a run before it is queued,
// says how many runs its runners take, and stops the runs a previous web
// node left.
var (
	_ runner.Runner    = (*Dispatcher)(nil)
	_ runner.Checker   = (*Dispatcher)(nil)
	_ runner.Pool      = (*Dispatcher)(nil)
	_ runner.Abandoner = (*Dispatcher)(nil)
)
