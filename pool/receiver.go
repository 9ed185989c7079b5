package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"interleave/runner"
	"interleave/scenarios/child"
)

// receiver feeds one run's messages into its sink, in order.
type receiver struct {
	mu     sync.Mutex
	sink   runner.Sink
	closed bool
	seq    int
	// gap is the first missing message, 0 when none is.
	gap  int
	res  *Result
	done chan struct{}
}

// receive handles one message of the run's events subject (NATS calls it
// from one goroutine per subscription, in order).
func (r *receiver) receive(m *nats.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.res != nil {
		return
	}
	seq, _ := strconv.Atoi(m.Header.Get(HeaderSeq))
	if seq != r.seq+1 && r.gap == 0 {
		r.gap = r.seq + 1
	}
	r.seq = seq
	switch m.Header.Get(HeaderKind) {
	case KindStarted:
		var st runner.Started
		if json.Unmarshal(m.Data, &st) == nil && r.sink.Started != nil {
			r.sink.Started(st)
		}
	case KindEvents:
		if r.sink.Events != nil {
			r.sink.Events(splitLines(m.Data))
		}
	case KindOutput:
		if r.sink.Output != nil {
			r.sink.Output(m.Header.Get(HeaderStream), m.Data)
		}
	case KindLoad:
		var l runner.Load
		if json.Unmarshal(m.Data, &l) == nil && r.sink.Load != nil {
			r.sink.Load(l)
		}
	case KindResult:
		var res Result
		if err := json.Unmarshal(m.Data, &res); err != nil {
			res = Result{ErrKind: ErrKindExit, Err: "unreadable result from the runner: " + err.Error()}
		}
		r.res = &res
		close(r.done)
	}
}

// close stops feeding the sink: Execute has returned.
func (r *receiver) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// result is the child's result as far as it is known.
func (r *receiver) result() child.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res == nil {
		return child.Result{}
	}
	return r.res.Result
}

// outcome turns the runner's result into what Execute returns.
func (r *receiver) outcome(ctx context.Context) (child.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	var err error
	switch res.ErrKind {
	case "":
	case ErrKindMemory:
		err = fmt.Errorf("%w (on the runner)", child.ErrMemory)
	case ErrKindCancelled:
		if err = context.Cause(ctx); err == nil {
			err = errors.New(res.Err)
		}
	default:
		err = errors.New(res.Err)
	}
	if r.gap != 0 {
		err = errors.Join(err, fmt.Errorf("events lost between the runner and this node from message %d on", r.gap))
	}
	return res.Result, err
}

// splitLines splits a batch into its event lines.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, b)
			break
		}
		if i > 0 {
			lines = append(lines, b[:i])
		}
		b = b[i+1:]
	}
	return lines
}
