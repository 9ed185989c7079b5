package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"interleave/internal/machineload"
	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// RunnerConfig configures a runner: one machine's share of the pool.
type RunnerConfig struct {
	// URL is the NATS server, required.
	URL string
	// Name identifies the runner in heartbeats and on the run's page;
	// letters, digits, - and _ only. Required.
	Name string
	// Slots is how many runs it executes at once (default: its cores).
	Slots int
	// Engines are the engines it may run; only the available ones are
	// advertised and consumed.
	Engines []scenarios.Engine
	// Contain confines every run's processes as on the web node (nil: plain
	// children in their own process groups).
	Contain *child.Containment
	// Logger receives the runner's messages, required.
	Logger *slog.Logger
}

// Runner takes runs from the pool's stream and executes them on this
// machine. Run serves until its context ends.
type Runner struct {
	cfg     RunnerConfig
	logger  *slog.Logger
	engines map[string]scenarios.Engine
	info    []EngineInfo
	cores   int
	nc      *nats.Conn
	js      jetstream.JetStream

	mu sync.Mutex
	// free counts the free slots; draining counts exclusive runs waiting
	// for every slot to be free (no other run is taken meanwhile).
	free, draining int
	// changed is closed (and replaced) whenever free or draining changes.
	changed chan struct{}
	// runs are the runs executing, each with the function that kills it.
	runs map[string]context.CancelCauseFunc
	// consumers are the stream's consumers of this runner's engines.
	consumers map[string]jetstream.Consumer
	wg        sync.WaitGroup
}

// Why a runner kills a run.
var (
	errCancelled = errors.New("cancelled by the web node")
	errDeadline  = errors.New("passed its deadline on the runner")
	errLostNATS  = errors.New("the runner lost its connection to NATS")
	errStopping  = errors.New("the runner is stopping")
)

// NewRunner checks cfg and finds the available engines.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Logger == nil {
		return nil, errors.New("runner needs a logger")
	}
	if cfg.URL == "" {
		return nil, errors.New("runner needs a NATS URL (-nats)")
	}
	if err := checkToken("-name", cfg.Name); err != nil {
		return nil, err
	}
	cores := runtime.NumCPU()
	if cfg.Slots == 0 {
		cfg.Slots = cores
	}
	if cfg.Slots < 1 || cfg.Slots > 1024 {
		return nil, fmt.Errorf("-slots %d: want 1 to 1024 runs at once", cfg.Slots)
	}
	r := &Runner{cfg: cfg, logger: cfg.Logger, engines: map[string]scenarios.Engine{}, cores: cores,
		free: cfg.Slots, changed: make(chan struct{}), runs: map[string]context.CancelCauseFunc{}, consumers: map[string]jetstream.Consumer{}}
	for _, e := range cfg.Engines {
		if err := e.Available(); err != nil {
			cfg.Logger.Info("runner: engine unavailable, not taking its runs", "engine", e.Name(), "why", err)
			continue
		}
		if err := checkToken("engine", e.Name()); err != nil {
			return nil, err
		}
		r.engines[e.Name()] = e
		r.info = append(r.info, describeEngine(e))
	}
	if len(r.engines) == 0 {
		return nil, errors.New("runner: no engine is available on this machine")
	}
	// Measured now, before any run: the probe keeps each core busy for a
	// moment, and every run's summary carries the result (slowest_core).
	machineload.CoreSpeeds()
	return r, nil
}

// describeEngine is what a runner advertises of an engine: its version and
// whether it has a GIL, where the engine says (the go engine is this
// binary, without a GIL; python3 has one unless the engine says not).
func describeEngine(e scenarios.Engine) EngineInfo {
	info := EngineInfo{ID: e.Name()}
	if v, ok := e.(interface{ Version() string }); ok {
		info.Version = v.Version()
	}
	switch g := e.(type) {
	case interface{ GIL() bool }:
		info.GIL = g.GIL()
	default:
		info.GIL = e.Name() == scenarios.EnginePython
	}
	if e.Name() == scenarios.EngineGo && info.Version == "" {
		info.Version = runtime.Version()
	}
	return info
}

// Engines returns what the runner advertises.
func (r *Runner) Engines() []EngineInfo { return slices.Clone(r.info) }

// Run connects to NATS, takes runs until ctx ends, then kills the runs
// still going and returns once they are gone. Losing NATS kills the runs
// too; the runner reconnects and takes new runs when NATS is back.
func (r *Runner) Run(ctx context.Context) error {
	nc, err := nats.Connect(r.cfg.URL, nats.Name("interleave runner "+r.cfg.Name),
		nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3), nats.Timeout(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.logger.Warn("runner: lost NATS; killing the runs", "err", err)
			r.killAll(errLostNATS)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { r.logger.Info("runner: reconnected to NATS", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", r.cfg.URL, err)
	}
	defer nc.Close()
	r.nc = nc
	if r.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	r.logger.Info("runner: taking runs", "name", r.cfg.Name, "slots", r.cfg.Slots, "engines", r.info)

	var loops sync.WaitGroup
	loops.Add(1)
	go func() { defer loops.Done(); r.heartbeats(ctx) }()
	for id := range r.engines {
		loops.Add(1)
		go func() { defer loops.Done(); r.fetch(ctx, id) }()
	}
	<-ctx.Done()
	loops.Wait()
	r.killAll(errStopping)
	r.wg.Wait()
	_ = nc.FlushTimeout(2 * time.Second)
	return nil
}

// heartbeats says every HeartbeatEvery that the runner is alive, with its
// slots, engines and runs.
func (r *Runner) heartbeats(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		if r.nc.IsConnected() {
			_ = r.nc.Publish(heartbeatSubject(r.cfg.Name), mustJSON(r.heartbeat()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) heartbeat() Heartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	hb := Heartbeat{Name: r.cfg.Name, Slots: r.cfg.Slots, Free: r.free, Cores: r.cores, Engines: r.info, Runs: []string{}}
	if r.draining > 0 {
		// The free slots wait for an exclusive run: no other run takes them.
		hb.Free = 0
	}
	for id := range r.runs {
		hb.Runs = append(hb.Runs, id)
	}
	slices.Sort(hb.Runs)
	return hb
}

// consumer returns the stream's consumer of engine's runs, creating the
// stream and the consumer when needed. Every runner with the engine shares
// it: the work queue gives each run to one of them.
func (r *Runner) consumer(ctx context.Context, engine string) (jetstream.Consumer, error) {
	r.mu.Lock()
	c := r.consumers[engine]
	r.mu.Unlock()
	if c != nil {
		return c, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := createStream(cctx, r.js); err != nil {
		return nil, fmt.Errorf("create the runs stream: %w", err)
	}
	c, err := r.js.CreateOrUpdateConsumer(cctx, StreamName, consumerConfig(engine))
	if err != nil {
		return nil, fmt.Errorf("create the consumer of %s runs: %w", engine, err)
	}
	r.mu.Lock()
	r.consumers[engine] = c
	r.mu.Unlock()
	return c, nil
}

// consumerConfig is the durable pull consumer of engine's runs.
func consumerConfig(engine string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumerName(engine),
		Description:   "runners with the " + engine + " engine",
		FilterSubject: jobSubject(engine),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxAckPending: -1,
		// A run is offered again only after its runner died (its claim is
		// then refused) or after a runner had no free slot for it.
		MaxDeliver: -1,
	}
}

// fetch takes engine's runs from the stream, one at a time, while a slot
// is free.
func (r *Runner) fetch(ctx context.Context, engine string) {
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(250 * time.Millisecond):
			return true
		}
	}
	for r.waitFree(ctx) {
		c, err := r.consumer(ctx, engine)
		if err != nil {
			if r.nc.IsConnected() && ctx.Err() == nil {
				r.logger.Warn("runner: cannot consume runs", "engine", engine, "err", err)
			}
			if !pause() {
				return
			}
			continue
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err == nil {
			for msg := range batch.Messages() {
				r.take(ctx, engine, msg)
			}
			err = batch.Error()
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				r.mu.Lock()
				delete(r.consumers, engine)
				r.mu.Unlock()
			}
			if !pause() {
				return
			}
		}
	}
}

// waitFree waits until a slot is free and no exclusive run waits for all
// of them; false when ctx ended.
func (r *Runner) waitFree(ctx context.Context) bool {
	for {
		r.mu.Lock()
		ok, wake := r.free > 0 && r.draining == 0, r.changed
		r.mu.Unlock()
		if ok {
			return ctx.Err() == nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// changedLocked wakes whoever waits for the slots.
func (r *Runner) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// take reserves slots for a run it fetched and starts it: one slot, or,
// for an exclusive run, every slot once all are free. A run it has no slot
// for goes back to the stream at once for another runner.
func (r *Runner) take(ctx context.Context, engine string, msg jetstream.Msg) {
	var job runner.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.Engine != engine || checkToken("run id", job.ID) != nil {
		r.logger.Warn("runner: dropping an unreadable run", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	r.mu.Lock()
	if !job.Exclusive {
		if r.free == 0 || r.draining > 0 {
			r.mu.Unlock()
			_ = msg.Nak()
			return
		}
		r.free--
		r.changedLocked()
		r.mu.Unlock()
		r.start(ctx, msg, job, 1)
		return
	}
	// An exclusive run: take no other run until every slot is free, and
	// tell JetStream meanwhile that the run is in hand.
	r.draining++
	r.changedLocked()
	progress := time.NewTicker(AckWait / 4)
	defer progress.Stop()
	for r.free < r.cfg.Slots {
		wake := r.changed
		r.mu.Unlock()
		select {
		case <-wake:
		case <-progress.C:
			_ = msg.InProgress()
		case <-ctx.Done():
			r.mu.Lock()
			r.draining--
			r.changedLocked()
			r.mu.Unlock()
			_ = msg.Nak()
			return
		}
		r.mu.Lock()
	}
	r.draining--
	r.free = 0
	r.changedLocked()
	r.mu.Unlock()
	r.start(ctx, msg, job, r.cfg.Slots)
}

// start executes a run on its own goroutine, holding slots slots.
func (r *Runner) start(ctx context.Context, msg jetstream.Msg, job runner.Job, slots int) {
	runCtx, kill := context.WithCancelCause(context.WithoutCancel(ctx))
	r.mu.Lock()
	_, dup := r.runs[job.ID]
	if !dup {
		r.runs[job.ID] = kill
	}
	r.mu.Unlock()
	if dup {
		// A redelivery of a run this runner executes now.
		r.release(slots)
		kill(nil)
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.runs, job.ID)
			r.mu.Unlock()
			kill(nil)
			r.release(slots)
		}()
		r.execute(runCtx, kill, msg, job)
	}()
}

// release gives slots back.
func (r *Runner) release(slots int) {
	r.mu.Lock()
	r.free += slots
	r.changedLocked()
	r.mu.Unlock()
}

// killAll kills every run executing now.
func (r *Runner) killAll(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, kill := range r.runs {
		kill(cause)
	}
}

// execute claims the run from the web node and, if granted, runs it and
// publishes what it writes and how it ended.
func (r *Runner) execute(ctx context.Context, kill context.CancelCauseFunc, msg jetstream.Msg, job runner.Job) {
	log := r.logger.With("run", job.ID, "scenario", job.Scenario, "engine", job.Engine)
	// The cancel subject is listened to before the claim, so that a
	// cancel sent right after it is not missed.
	cancelSub, err := r.nc.Subscribe(cancelSubject(job.ID), func(*nats.Msg) { kill(errCancelled) })
	if err != nil {
		log.Warn("runner: subscribe to the run's cancel", "err", err)
		_ = msg.Nak()
		return
	}
	defer cancelSub.Unsubscribe()
	reply, err := r.nc.Request(claimSubject(job.ID), mustJSON(claimRequest{Runner: r.cfg.Name}), claimTimeout)
	var granted claimReply
	if err == nil {
		err = json.Unmarshal(reply.Data, &granted)
	}
	if err != nil || !granted.OK {
		// Nobody waits for this run any more (cancelled, redelivered after
		// its runner died, or the web node restarted): drop it.
		log.Info("runner: claim refused; dropping the run", "why", granted.Why, "err", err)
		_ = msg.Ack()
		return
	}
	stopProgress := make(chan struct{})
	defer close(stopProgress)
	go func() {
		t := time.NewTicker(AckWait / 4)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	if job.Deadline > 0 {
		t := time.AfterFunc(job.Deadline+deadlineGrace, func() { kill(errDeadline) })
		defer t.Stop()
	}
	pub := &publisher{nc: r.nc, subject: eventsSubject(job.ID), maxLine: r.maxLine()}
	res := r.runJob(ctx, job, pub)
	pub.send(KindResult, nil, mustJSON(res))
	if err := r.nc.FlushTimeout(2 * time.Second); err != nil {
		log.Warn("runner: flush the run's last messages", "err", err)
	}
	// Acknowledged last: the run leaves the stream once it has ended.
	_ = msg.Ack()
	log.Info("runner: run ended", "exit", res.Result.ExitCode, "err", res.Err)
}

// runJob runs the job's program with the same child code and containment
// as a local run.
func (r *Runner) runJob(ctx context.Context, job runner.Job, pub *publisher) Result {
	eng := r.engines[job.Engine]
	base := event.Monotonic()
	prog, err := eng.Program(scenarios.Spec{RunID: job.ID, Scenario: job.Scenario, Engine: job.Engine, Params: job.Params, ClockBase: base, Cores: r.cores})
	if err != nil {
		return Result{ErrKind: ErrKindStart, Err: "could not start: " + err.Error()}
	}
	load := &loadWatch{pub: pub, base: base, cores: r.cores}
	pub.beforeEnd = func() { load.sample(true) }
	defer load.stop()
	res, err := child.Run(ctx, prog, child.Options{
		OnEvents:    pub.events,
		OnOutput:    pub.output,
		OutputLimit: job.Limits.MaxOutput,
		MemoryLimit: job.Limits.MemoryBytes,
		MaxLine:     pub.maxLine,
		Contain:     r.cfg.Contain,
		OnStart: func(pid int) {
			pub.send(KindStarted, nil, mustJSON(runner.Started{PID: pid, ClockBase: base, Cores: r.cores, Runner: r.cfg.Name}))
			load.start(pid)
		},
	})
	out := Result{Result: res}
	if err == nil {
		return out
	}
	out.Err = err.Error()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCancelled):
		out.ErrKind, out.Err = ErrKindCancelled, cause.Error()
	case errors.Is(cause, errDeadline):
		out.ErrKind, out.Err = ErrKindDeadline, cause.Error()
	case errors.Is(cause, errLostNATS), errors.Is(cause, errStopping):
		out.ErrKind, out.Err = ErrKindLostNATS, cause.Error()
	case errors.Is(err, child.ErrMemory):
		out.ErrKind = ErrKindMemory
	default:
		out.ErrKind = ErrKindExit
	}
	return out
}

// maxLine is the longest event line a run may send: NATS's payload limit,
// less room for the headers.
func (r *Runner) maxLine() int {
	n := int(r.nc.MaxPayload()) - 4<<10
	if n > 1<<20 {
		n = 1 << 20
	}
	return n
}

// publisher sends one run's messages in order, numbered.
type publisher struct {
	nc      *nats.Conn
	subject string
	maxLine int
	// beforeEnd, when set, is called before the batch that holds the
	// run's end event is sent (the runner's last load sample goes first).
	beforeEnd func()
	mu        sync.Mutex
	seq       int
	buf       []byte
}

// send publishes one message.
func (p *publisher) send(kind string, header nats.Header, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sendLocked(kind, header, data)
}

func (p *publisher) sendLocked(kind string, header nats.Header, data []byte) {
	p.seq++
	m := nats.NewMsg(p.subject)
	for k, v := range header {
		m.Header[k] = v
	}
	m.Header.Set(HeaderKind, kind)
	m.Header.Set(HeaderSeq, strconv.Itoa(p.seq))
	m.Data = data
	// A failed publish (NATS gone) shows up as a lost runner on the web node.
	_ = p.nc.PublishMsg(m)
}

// events publishes a batch of event lines, split into messages of at most
// maxBatchBytes (a longer line goes alone).
func (p *publisher) events(lines [][]byte) {
	if p.beforeEnd != nil && hasEnd(lines) {
		p.beforeEnd()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = p.buf[:0]
	for _, line := range lines {
		if len(p.buf) > 0 && len(p.buf)+len(line)+1 > maxBatchBytes {
			p.sendLocked(KindEvents, nil, append([]byte(nil), p.buf...))
			p.buf = p.buf[:0]
		}
		if len(p.buf) > 0 {
			p.buf = append(p.buf, '\n')
		}
		p.buf = append(p.buf, line...)
	}
	if len(p.buf) > 0 {
		p.sendLocked(KindEvents, nil, append([]byte(nil), p.buf...))
	}
}

// output publishes what the program printed.
func (p *publisher) output(stream string, text []byte) {
	p.send(KindOutput, nats.Header{HeaderStream: []string{stream}}, append([]byte(nil), text...))
}
