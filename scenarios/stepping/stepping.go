// Package stepping is the server's end of a step run's control channel. A
// step run's threads stop before every line of the scenario's own code;
// the learner lets one of them run a line at a time. The server passes the
// learner's choices to the child over a Unix socket pair whose other end
// the child holds as file descriptor 4 (scenarios.ControlFD): one JSON
// command per line in, one JSON reply per line out. The child also says,
// unasked, when it first waits for the learner ({"paused":true}), which is
// when a step run stops using the machine and gives back its run slot.
//
// Commands: {"op":"step","lane":"worker-1"}, {"op":"random"} (the child
// picks one of the threads that can step), {"op":"free"} (every thread
// runs on its own to the end). Replies: {"ok":true,"n","steps","lane",
// "line","status","ended","deadlock"?} or {"ok":false,"code","error"}.
//
// What a step does, and which thread may take one, is the child's
// business (scenarios/pyengine/stepper.py); this package only carries the
// commands, counts the steps against a limit and turns refusals into
// errors that say why.
package stepping

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Reasons a command is refused (Error.Code).
const (
	// CodeBlocked: the thread cannot take a step (it waits for a lock
	// another one holds, or it has finished).
	CodeBlocked = "blocked"
	// CodeUnknownLane: the lane is not a thread of the run.
	CodeUnknownLane = "unknown-lane"
	// CodeLimit: the run has taken the most steps a run may.
	CodeLimit = "limit"
	// CodeNotPaused: the run does not wait for the learner (yet): it is
	// starting or following its schedule.
	CodeNotPaused = "not-paused"
	// CodeEnded: the run's threads run freely or have finished: nobody
	// steps them any more.
	CodeEnded = "ended"
)

// answerTimeout bounds how long the child may take to answer a command:
// a step runs one line, so only a wedged child takes longer.
const answerTimeout = 10 * time.Second

// Error is a command the run refused, and why.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Reply is the child's answer to a command that was carried out.
type Reply struct {
	OK bool `json:"ok"`
	// N is the number of the step just taken; Steps how many the run has
	// taken in all (the schedule's included).
	N     int `json:"n,omitempty"`
	Steps int `json:"steps"`
	// Lane is the thread that took the step; Line the line it stopped
	// before (0: its function returned); Status is ready, blocked or done.
	Lane   string `json:"lane,omitempty"`
	Line   int    `json:"line"`
	Status string `json:"status,omitempty"`
	// Ended is set when the step (or "free") ended the stepping: every
	// thread finished, a deadlock, or the threads now run freely.
	Ended bool `json:"ended"`
	// Deadlock names the cycle of waits when the step closed one.
	Deadlock string `json:"deadlock,omitempty"`
	// Free is set in the reply to "free".
	Free bool `json:"free,omitempty"`

	// Code and Error are set when OK is false.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	// Paused marks the child's unasked notice that it waits for the learner.
	Paused bool `json:"paused,omitempty"`
	// Threads are the lanes of the run's threads (in the notice).
	Threads []string `json:"threads,omitempty"`
}

// Control is one step run's control channel. Commands are carried out one
// at a time, in the order they arrive. It is safe for concurrent use.
type Control struct {
	maxSteps int
	conn     net.Conn
	child    *os.File

	paused     chan struct{} // closed when the child first waits for the learner
	pausedOnce sync.Once
	replies    chan Reply
	gone       chan struct{} // closed when the child's end is closed (it exited)

	mu      sync.Mutex // one command at a time
	state   sync.Mutex // guards the fields below
	steps   int
	threads []string
	ended   bool
}

// Open makes a control channel for a run that may take at most maxSteps
// steps. Pass ChildEnd to the child as file descriptor 4, then call
// Started.
func Open(maxSteps int) (*Control, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket pair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "step-control")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, fmt.Errorf("control socket: %w", err)
	}
	c := &Control{maxSteps: maxSteps, conn: conn, child: os.NewFile(uintptr(fds[1]), "step-control-child"),
		paused: make(chan struct{}), replies: make(chan Reply, 1), gone: make(chan struct{})}
	go c.read()
	return c, nil
}

// ChildEnd is the end of the channel the child must hold as fd 4. Close it
// in the parent once the child has started (Started does).
func (c *Control) ChildEnd() *os.File { return c.child }

// Started closes the parent's copy of the child's end, so that the
// channel reports the child's exit.
func (c *Control) Started() { c.child.Close() }

// Paused is closed when the run first waits for the learner.
func (c *Control) Paused() <-chan struct{} { return c.paused }

// Steps is how many steps the run has taken, as of the last reply.
func (c *Control) Steps() int {
	c.state.Lock()
	defer c.state.Unlock()
	return c.steps
}

// Close ends the channel; the child, if it still runs, sees its end.
func (c *Control) Close() error {
	c.child.Close()
	return c.conn.Close()
}

// read hands the child's lines over: its notice, then one reply per command.
func (c *Control) read() {
	defer close(c.gone)
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		var r Reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		if r.Paused {
			c.state.Lock()
			c.steps, c.threads = r.Steps, r.Threads
			c.state.Unlock()
			c.pausedOnce.Do(func() { close(c.paused) })
			continue
		}
		select {
		case c.replies <- r:
		default: // nobody asked: a reply out of turn is dropped
		}
	}
}

// Step lets the thread of lane run one line.
func (c *Control) Step(ctx context.Context, lane string) (Reply, error) {
	return c.command(ctx, map[string]string{"op": "step", "lane": lane}, true)
}

// Random lets one of the threads that can step, picked at random by the
// run, run one line.
func (c *Control) Random(ctx context.Context) (Reply, error) {
	return c.command(ctx, map[string]string{"op": "random"}, true)
}

// Free lets every thread run on its own to the end: nobody steps them
// any more.
func (c *Control) Free(ctx context.Context) (Reply, error) {
	return c.command(ctx, map[string]string{"op": "free"}, false)
}

func (c *Control) command(ctx context.Context, cmd map[string]string, isStep bool) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.paused:
	default:
		select {
		case <-c.gone:
			return Reply{}, &Error{Code: CodeEnded, Message: "the run has ended: there is nothing to step"}
		default:
		}
		return Reply{}, &Error{Code: CodeNotPaused, Message: "the run does not wait for a step yet: it is starting or following its schedule; try again in a moment"}
	}
	c.state.Lock()
	ended, steps := c.ended, c.steps
	c.state.Unlock()
	if ended {
		return Reply{}, &Error{Code: CodeEnded, Message: "the threads run freely or have finished: nobody steps them any more"}
	}
	if isStep && steps >= c.maxSteps {
		return Reply{}, &Error{Code: CodeLimit, Message: fmt.Sprintf("this run has taken %d steps, the most one run may take; run it freely or start over", c.maxSteps)}
	}
	select {
	case <-c.replies: // the answer to a command whose asker gave up
	default:
	}
	line, _ := json.Marshal(cmd)
	c.conn.SetWriteDeadline(time.Now().Add(answerTimeout))
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		return Reply{}, c.goneOr(fmt.Errorf("send the step to the run: %w", err))
	}
	timer := time.NewTimer(answerTimeout)
	defer timer.Stop()
	answered := func(r Reply) (Reply, error) {
		if !r.OK {
			return r, &Error{Code: r.Code, Message: r.Error}
		}
		c.state.Lock()
		c.steps = r.Steps
		c.ended = r.Ended
		c.state.Unlock()
		return r, nil
	}
	select {
	case r := <-c.replies:
		return answered(r)
	case <-c.gone:
		// The run may answer and end at once (free lets it finish): its
		// answer is in replies before gone closes, and wins.
		select {
		case r := <-c.replies:
			return answered(r)
		default:
		}
		return Reply{}, &Error{Code: CodeEnded, Message: "the run has ended: there is nothing to step"}
	case <-timer.C:
		return Reply{}, fmt.Errorf("the run did not answer a step within %s", answerTimeout)
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// goneOr says the run ended when the channel is closed, else returns err.
func (c *Control) goneOr(err error) error {
	select {
	case <-c.gone:
		return &Error{Code: CodeEnded, Message: "the run has ended: there is nothing to step"}
	case <-time.After(100 * time.Millisecond):
		return err
	}
}

// IsError reports whether err is a refusal of the run (an *Error) and returns it.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
