package pool

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"interleave/internal/timingclaim"
	"interleave/runner"
	"interleave/scenarios"
)

// longRun is a go engine run that waits for seconds after its first
// events.
func longRun() runner.Job {
	return job("asyncio", scenarios.EngineGo, waitingParams(5000))
}

// startLong starts a long run on d and returns once its first events
// arrived.
func startLong(t *testing.T, ctx context.Context, d *Dispatcher) (*recorded, chan error) {
	t.Helper()
	rec := &recorded{}
	first := make(chan struct{})
	var once bool
	rec.onEvents = func(int) {
		if !once {
			once = true
			close(first)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Execute(ctx, longRun(), rec.sink())
		errc <- err
	}()
	select {
	case <-first:
	case err := <-errc:
		t.Fatalf("the run ended before its first events: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no events within 20 s")
	}
	return rec, errc
}

// gone says whether the process pid has exited.
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

// TestRunnerKilled: kill -9 of the runner mid-run ends the run with
// ErrRunnerLost within 10 s, with the events so far delivered, and the
// run's processes die with their runner.
func TestRunnerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	victim := startRunner(t, ns.URL(), "victim", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "victim")
	rec, errc := startLong(t, context.Background(), d)
	before := rec.count()
	pid := rec.started[0].PID

	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case err := <-errc:
		took := time.Since(killed)
		t.Logf("Execute returned %v after %s with %d events", err, took.Round(time.Millisecond), rec.count())
		if !errors.Is(err, runner.ErrRunnerLost) {
			t.Fatalf("got %v, want ErrRunnerLost", err)
		}
		if took > 10*time.Second {
			t.Fatalf("the lost runner was noticed after %s, want within 10 s", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Execute still waits 15 s after its runner was killed")
	}
	if rec.count() < before || before == 0 {
		t.Fatalf("%d events kept, want the %d delivered before the kill", rec.count(), before)
	}
	waitFor(t, 10*time.Second, "end of the killed runner's run", func() bool { return gone(pid) })
}

// TestCancelReachesRunner: cancelling Execute's context kills the run on
// the runner, which confirms it; Execute returns the context's cause.
func TestCancelReachesRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "solo", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "solo")
	ctx, cancel := context.WithCancelCause(context.Background())
	rec, errc := startLong(t, ctx, d)
	pid := rec.started[0].PID
	why := errors.New("the learner pressed stop")
	cancel(why)
	cancelled := time.Now()
	select {
	case err := <-errc:
		t.Logf("cancel confirmed after %s", time.Since(cancelled).Round(time.Millisecond))
		if !errors.Is(err, why) {
			t.Fatalf("got %v, want the cancel's cause", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Execute still waits 10 s after the cancel")
	}
	if !gone(pid) {
		t.Fatalf("the run's process %d is still there after Execute returned", pid)
	}
	// The slot is free again: the next run executes.
	if _, err := execute(context.Background(), d, job("asyncio", scenarios.EngineGo, waitingParams(50))); err != nil {
		t.Fatalf("a run after the cancel: %v", err)
	}
}

// TestCancelWhileQueued: a run cancelled before any runner took it leaves
// the stream and never executes.
func TestCancelWhileQueued(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "busy", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "busy")
	_, longErr := startLong(t, context.Background(), d) // holds the one slot
	ctx, cancel := context.WithCancel(context.Background())
	queued := &recorded{}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Execute(ctx, job("asyncio", scenarios.EngineGo, waitingParams(50)), queued.sink())
		errc <- err
	}()
	// The stream holds the executing run (acknowledged when it ends) and
	// the queued one.
	waitFor(t, 5*time.Second, "the run in the stream", func() bool { return streamMessages(t, d) == 2 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := streamMessages(t, d); n != 1 {
		t.Fatalf("%d runs in the stream after the cancel, want 1 (the one executing)", n)
	}
	if queued.runner() != "" {
		t.Fatalf("the cancelled run started on %s", queued.runner())
	}
	_ = longErr
}

// streamMessages counts the runs waiting in the stream.
func streamMessages(t *testing.T, d *Dispatcher) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := d.js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestNATSStopped: NATS going away mid-run ends Execute at once (nothing
// hangs), the runner kills its run, new runs are refused at once, and the
// dispatcher says it is unhealthy.
func TestNATSStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "cutoff", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "cutoff")
	rec, errc := startLong(t, context.Background(), d)
	pid := rec.started[0].PID
	ns.Shutdown()
	stopped := time.Now()
	select {
	case err := <-errc:
		t.Logf("Execute returned %v after %s", err, time.Since(stopped).Round(time.Millisecond))
		if !errors.Is(err, runner.ErrRunnerLost) {
			t.Fatalf("got %v, want ErrRunnerLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Execute still waits 5 s after NATS stopped")
	}
	waitFor(t, 5*time.Second, "the runner killing its run", func() bool { return gone(pid) })
	if err := d.Healthy(); !errors.Is(err, runner.ErrUnavailable) {
		t.Fatalf("Healthy() = %v, want ErrUnavailable", err)
	}
	if err := d.Check(longRun()); !errors.Is(err, runner.ErrUnavailable) {
		t.Fatalf("Check() = %v, want ErrUnavailable", err)
	}
	start := time.Now()
	if _, err := execute(context.Background(), d, longRun()); !errors.Is(err, runner.ErrUnavailable) {
		t.Fatalf("a new run without NATS: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("the refusal took %s, want it at once", took)
	}
}

// TestNATSUnreachable: a dispatcher whose NATS does not answer starts
// unhealthy and refuses runs at once.
func TestNATSUnreachable(t *testing.T) {
	d, err := NewDispatcher(DispatcherConfig{URL: "nats://127.0.0.1:1", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Healthy(); !errors.Is(err, runner.ErrUnavailable) {
		t.Fatalf("Healthy() = %v, want ErrUnavailable", err)
	}
	start := time.Now()
	_, err = execute(context.Background(), d, longRun())
	if !errors.Is(err, runner.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("the refusal took %s, want it at once", took)
	}
	t.Logf("refused in %s: %v", time.Since(start), err)
}

// TestAStalledRunIsOfferedAgain: a run whose message JetStream handed to a
// pull that never takes it up (here a client that holds it and reports
// progress, so that it never comes back) is offered again once a runner
// has had a free slot for StallAfter, and runs there; the web node's
// warning carries the consumer's state.
func TestAStalledRunIsOfferedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a runner process")
	}
	ns := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, StreamName, consumerConfig(scenarios.EngineGo))
	if err != nil {
		t.Fatal(err)
	}
	// The holder pulls before the runner exists: JetStream serves waiting
	// pulls in the order they came, so the run's first message is its. It
	// holds the message, reporting progress, until the test ends.
	var heldMu sync.Mutex
	var held jetstream.Msg
	stopHolding := make(chan struct{})
	holding := make(chan struct{})
	defer func() { close(stopHolding); nc.Close(); <-holding }()
	go func() {
		defer close(holding)
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(50*time.Second))
		if err != nil {
			return
		}
		for m := range batch.Messages() {
			heldMu.Lock()
			held = m
			heldMu.Unlock()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					_ = m.InProgress()
				case <-stopHolding:
					return
				}
			}
		}
	}()
	waitFor(t, 10*time.Second, "the holder's pull", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumWaiting == 1
	})

	startRunner(t, ns.URL(), "alpha", "-slots", "1")
	log := &lockedBuffer{}
	d, err := NewDispatcher(DispatcherConfig{URL: ns.URL(), StallAfter: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(log, tWriter{t}), nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitFor(t, 20*time.Second, "alpha's heartbeat", func() bool { return len(d.Runners()) == 1 })

	j := job("subprocess", scenarios.EngineGo, sequentialParams())
	start := time.Now()
	rec, err := execute(ctx, d, j)
	if err != nil {
		t.Fatalf("the stalled run: %v", err)
	}
	t.Logf("the run ended after %v", time.Since(start).Round(time.Millisecond))
	if rec.runner() != "alpha" || rec.count() < 10 {
		t.Fatalf("the run went to %q with %d events, want alpha with its events", rec.runner(), rec.count())
	}
	heldMu.Lock()
	m := held
	heldMu.Unlock()
	var got runner.Job
	if m == nil || json.Unmarshal(m.Data(), &got) != nil || got.ID != j.ID {
		t.Fatalf("the holder did not hold the run %s's first message", j.ID)
	}
	if s := log.String(); !strings.Contains(s, "offering it again") || !strings.Contains(s, "delivered and not acknowledged") {
		t.Fatalf("the web node's log says nothing of the stalled run:\n%s", s)
	}
}
