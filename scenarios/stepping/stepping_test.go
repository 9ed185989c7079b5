package stepping

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRun plays the child's end of the channel: it says it is paused, then
// answers each command with reply(cmd).
func fakeRun(t *testing.T, c *Control, reply func(cmd map[string]string) Reply) (stop func()) {
	t.Helper()
	conn, err := net.FileConn(c.ChildEnd())
	if err != nil {
		t.Fatal(err)
	}
	c.Started()
	done := make(chan struct{})
	go func() {
		defer close(done)
		enc := json.NewEncoder(conn)
		enc.Encode(Reply{Paused: true, Steps: 0, Threads: []string{"worker-1", "worker-2"}})
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var cmd map[string]string
			json.Unmarshal(sc.Bytes(), &cmd)
			enc.Encode(reply(cmd))
		}
	}()
	return func() { conn.Close(); <-done }
}

// TestStepsCountAgainstTheLimit: steps pass until the run has taken
// maxSteps; then a step is refused without reaching the run, "free" still
// goes through, and afterwards nothing does.
func TestStepsCountAgainstTheLimit(t *testing.T) {
	c, err := Open(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := 0
	stop := fakeRun(t, c, func(cmd map[string]string) Reply {
		if cmd["op"] == "free" {
			return Reply{OK: true, Free: true, Steps: n, Ended: true}
		}
		n++
		return Reply{OK: true, N: n, Steps: n, Lane: cmd["lane"], Line: 10 + n, Status: "ready"}
	})
	defer stop()
	<-c.Paused()
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		r, err := c.Step(ctx, "worker-1")
		if err != nil || r.N != i || r.Line != 10+i {
			t.Fatalf("step %d: %+v %v", i, r, err)
		}
	}
	if _, err := c.Step(ctx, "worker-1"); !isCode(err, CodeLimit) || n != 3 {
		t.Errorf("fourth step: %v (the run saw %d), want refused at the limit before the run", err, n)
	}
	if r, err := c.Free(ctx); err != nil || !r.Ended {
		t.Errorf("free at the limit: %+v %v, want it carried out", r, err)
	}
	if _, err := c.Random(ctx); !isCode(err, CodeEnded) {
		t.Errorf("a step after free: %v, want ended", err)
	}
}

// TestRefusalsAndTheRunsEnd: before the run waits there is nothing to
// step; a refusal of the run is an Error with its code and words; once the
// child's end is gone every command says the run has ended.
func TestRefusalsAndTheRunsEnd(t *testing.T) {
	c, err := Open(100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Step(context.Background(), "worker-1"); !isCode(err, CodeNotPaused) {
		t.Errorf("a step before the run waits: %v, want not paused", err)
	}
	stop := fakeRun(t, c, func(cmd map[string]string) Reply {
		return Reply{OK: false, Code: CodeBlocked, Error: "worker-2 cannot take a step: worker 2 waits for counter_lock, held by worker 1"}
	})
	<-c.Paused()
	_, err = c.Step(context.Background(), "worker-2")
	if e, ok := IsError(err); !ok || e.Code != CodeBlocked || e.Message != "worker-2 cannot take a step: worker 2 waits for counter_lock, held by worker 1" {
		t.Errorf("a refused step: %v, want the run's code and words", err)
	}
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Step(context.Background(), "worker-1")
		if isCode(err, CodeEnded) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the run's end: %v, want ended", err)
		}
		time.Sleep(10 * time.Millisecond) // the reader notices the end
	}
}

// TestChildEndIsAFile: the child's end can be passed as an extra file.
func TestChildEndIsAFile(t *testing.T) {
	c, err := Open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var _ *os.File = c.ChildEnd()
	if fi, err := c.ChildEnd().Stat(); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("child end: %v %v, want a socket", fi, err)
	}
}

func isCode(err error, code string) bool {
	e, ok := IsError(err)
	return ok && e.Code == code
}

// TestFreeAnsweredAsTheRunEnds: a run answers "free" and ends at once (its
// threads finish); the answer is in before the end and the learner gets it,
// every time, never "the run has ended".
func TestFreeAnsweredAsTheRunEnds(t *testing.T) {
	for i := range 50 {
		c, err := Open(100)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.FileConn(c.ChildEnd())
		if err != nil {
			t.Fatal(err)
		}
		c.Started()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer conn.Close()
			enc := json.NewEncoder(conn)
			enc.Encode(Reply{Paused: true, Threads: []string{"worker-1"}})
			sc := bufio.NewScanner(conn)
			if sc.Scan() {
				enc.Encode(Reply{OK: true, Free: true, Steps: 6, Ended: true})
			}
		}()
		<-c.Paused()
		r, err := c.Free(context.Background())
		<-done
		c.Close()
		if err != nil || !r.Ended {
			t.Fatalf("try %d: free = %+v %v, want the run's answer", i+1, r, err)
		}
	}
}
