package goengine

// The decision matrix's asyncio model: one goroutine running the event loop
// of asyncio.go, its sockets and pidfds watched with epoll (see compare.go).

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"interleave/scenarios/event"
)

// --- asyncio: the event loop model ---------------------------------------------------

// asyncio runs a task per task on the cooperative loop of asyncio.go: one
// goroutine; every wait is an await that gives the loop back.
func (c *compareRun) asyncio() error {
	l := &eventLoop{r: c.r, ctx: c.ctx, lastReady: -1, lastWait: -1}
	var sel *epollSelector
	if c.workload == "io" || c.workload == "mixed" || c.workload == "external" {
		var err error
		if sel, err = newEpollSelector(); err != nil {
			return err
		}
		defer sel.close()
		l.selector = sel
	}
	c.used = 1
	c.r.Lane(loopLane, event.LaneLoop, "event loop (one goroutine: a model of asyncio)", mainLane)
	c.r.State(mainLane, event.Blocked, "asyncio.run: the loop runs until every task has returned")
	labelGoroutine(c.ctx, loopLane)
	c.r.Mark(loopLane, asyncioModelNote(c.workload))
	progs := map[*asyncTask]*program{} // programs started and not yet waited for
	for i := 1; i <= c.size.tasks; i++ {
		t := &asyncTask{n: i}
		if c.drawn(i) {
			t.lane = fmt.Sprintf("task-%d", i)
			c.r.Emit(event.Event{K: event.KindLane, ID: t.lane, Kind: event.LaneTask, Name: fmt.Sprintf("task %d", i), Parent: loopLane, Group: "tasks"})
			c.r.State(t.lane, event.Runnable, "created: in the ready queue")
		}
		t.created = c.r.Now()
		t.coro = c.coroutine(sel, progs)
		l.ready = append(l.ready, t)
	}
	l.pending = c.size.tasks
	err := l.run(c.ctx)
	c.loopBusyNS = l.busyNS
	c.r.State(loopLane, event.Done, "every task returned")
	// Only a stopped run leaves programs behind: the context killed them;
	// reap them.
	for _, p := range progs {
		p.out.Close()
		_ = p.cmd.Wait()
	}
	return err
}

func asyncioModelNote(workload string) string {
	const model = "a model of asyncio: one goroutine, a ready queue, a timer heap"
	switch workload {
	case "io", "mixed":
		return model + " and epoll_wait on real non-blocking sockets to the loopback server"
	case "external":
		return model + " and epoll_wait on each program's pidfd (readable when it exits)"
	}
	return model
}

// coroutine returns the coroutine of one task of the workload: each call
// runs it to its next await (or its end, returning true).
func (c *compareRun) coroutine(sel *epollSelector, progs map[*asyncTask]*program) func(l *eventLoop, t *asyncTask) bool {
	sz := c.size
	var sock *loopSocket // io, mixed: the task's connection
	return func(l *eventLoop, t *asyncTask) bool {
		fail := func(err error) bool {
			c.fail(fmt.Errorf("task %d: %w", t.n, err))
			return true
		}
		switch c.workload {
		case "cpu":
			l.taskState(t, event.Active, fmt.Sprintf("computing %d ms inline: no await, every other task waits", sz.cpuMS))
			if err := cpuWork(c.ctx, c.rounds, sz.cpuMS); err != nil {
				return fail(err)
			}
		case "shared-state":
			l.taskState(t, event.Active, fmt.Sprintf("%d updates: one goroutine, no await between read and write, so no lock", sz.updates))
			if err := c.addOnes(sz.updates, false); err != nil {
				return fail(err)
			}
		case "many-io":
			if t.step == stepStart {
				l.taskState(t, event.Sleep, fmt.Sprintf("await asyncio.sleep(%d ms): a timer in the heap", sz.waitMS))
				c.track("waits in flight", &c.inFlight, 1)
				t.step, t.due = stepAfterAwait, c.r.Now()+int64(sz.waitMS)*1e6
				heap.Push(&l.timers, t)
				return false
			}
			c.track("waits in flight", &c.inFlight, -1)
		case "io", "mixed":
			if sock == nil {
				sock = &loopSocket{addr: c.srv.Listener.Addr().(*net.TCPAddr), req: fmt.Sprintf("GET /slow?ms=%d HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", sz.waitMS)}
			}
			doneIO, err := sock.step(l, t, sel, sz.waitMS)
			if err != nil {
				return fail(err)
			}
			if !doneIO {
				return false
			}
			if c.workload == "mixed" {
				l.taskState(t, event.Active, fmt.Sprintf("computing %d ms inline: every other task waits", sz.cpuMS))
				if err := cpuWork(c.ctx, c.rounds, sz.cpuMS); err != nil {
					return fail(err)
				}
			}
		case "external":
			if t.step == stepStart {
				p, err := c.startProgram(t.n, t.lane)
				if err != nil {
					return fail(err)
				}
				progs[t] = p
				pidfd, err := unix.PidfdOpen(p.cmd.Process.Pid, unix.PIDFD_NONBLOCK)
				if err == nil {
					err = sel.register(pidfd, unix.EPOLLIN, t)
				}
				if err != nil {
					return fail(fmt.Errorf("watch program %d: %w", t.n, err))
				}
				t.step = stepAfterAwait
				l.taskState(t, event.IO, "await proc.wait(): the loop watches the program's pidfd")
				return false
			}
			p := progs[t]
			delete(progs, t)
			if err := c.waitProgram(p); err != nil {
				return fail(err)
			}
		}
		c.finished()
		return true
	}
}

// loopSocket is one HTTP request of an asyncio task on a real non-blocking
// socket: connect, send the request, read the answer to its end.
type loopSocket struct {
	addr  *net.TCPAddr
	req   string
	fd    int
	phase int // 0 connect, 1 connecting, 2 reading
	resp  []byte
}

// step advances the request as far as it can without blocking; it reports
// whether the answer is complete, or registers the socket with the selector
// and returns false.
func (s *loopSocket) step(l *eventLoop, t *asyncTask, sel *epollSelector, waitMS int) (bool, error) {
	switch s.phase {
	case 0:
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false, fmt.Errorf("socket: %w", err)
		}
		s.fd = fd
		sa := &unix.SockaddrInet4{Port: s.addr.Port}
		copy(sa.Addr[:], s.addr.IP.To4())
		if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			unix.Close(fd)
			return false, fmt.Errorf("connect: %w", err)
		}
		s.phase = 1
		l.taskState(t, event.IO, "await open_connection(): connecting")
		return false, s.await(sel, t, unix.EPOLLOUT)
	case 1:
		soErr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soErr != 0 {
			err = syscall.Errno(soErr)
		}
		if err != nil {
			unix.Close(s.fd)
			return false, fmt.Errorf("connect: %w", err)
		}
		// The request is a few dozen bytes: a fresh socket's buffer takes it whole.
		if n, err := unix.Write(s.fd, []byte(s.req)); err != nil || n != len(s.req) {
			unix.Close(s.fd)
			return false, fmt.Errorf("send request: wrote %d of %d bytes: %v", n, len(s.req), err)
		}
		s.phase = 2
		l.taskState(t, event.IO, fmt.Sprintf("await reader.read(): the server answers after %d ms", waitMS))
		return false, s.await(sel, t, unix.EPOLLIN)
	}
	var buf [4096]byte
	for {
		n, err := unix.Read(s.fd, buf[:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return false, s.await(sel, t, unix.EPOLLIN)
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			unix.Close(s.fd)
			return false, fmt.Errorf("read answer: %w", err)
		case n > 0:
			s.resp = append(s.resp, buf[:n]...)
			continue
		}
		// End of the answer: the server closes an HTTP/1.0 connection.
		unix.Close(s.fd)
		status, _, _ := bytes.Cut(s.resp, []byte("\r\n"))
		if !bytes.HasPrefix(status, []byte("HTTP/1.")) || !bytes.Contains(status, []byte(" 200 ")) {
			return false, fmt.Errorf("answer %q, want 200", status)
		}
		return true, nil
	}
}

func (s *loopSocket) await(sel *epollSelector, t *asyncTask, events uint32) error {
	if err := sel.register(s.fd, events, t); err != nil {
		unix.Close(s.fd)
		return err
	}
	return nil
}

// epollSelector is the loop's selector for real descriptors: epoll, as
// asyncio's default selector on Linux.
type epollSelector struct {
	epfd   int
	tasks  map[int]*asyncTask // registered descriptor -> the task awaiting it
	events []unix.EpollEvent
}

func newEpollSelector() (*epollSelector, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &epollSelector{epfd: fd, tasks: map[int]*asyncTask{}, events: make([]unix.EpollEvent, 256)}, nil
}

// register makes t wait until fd is ready for events.
func (s *epollSelector) register(fd int, events uint32, t *asyncTask) error {
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	s.tasks[fd] = t
	return nil
}

func (s *epollSelector) waiting() int { return len(s.tasks) }

// selectorMaxWait bounds one epoll_wait, so that a stopped run is noticed.
const selectorMaxWait = 100 * time.Millisecond

func (s *epollSelector) wait(ctx context.Context, timeout time.Duration) ([]*asyncTask, error) {
	timeout = min(max(timeout, 0), selectorMaxWait)
	n, err := unix.EpollWait(s.epfd, s.events, int((timeout+time.Millisecond-1)/time.Millisecond))
	if errors.Is(err, unix.EINTR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("epoll_wait: %w", err)
	}
	var woken []*asyncTask
	for _, ev := range s.events[:n] {
		fd := int(ev.Fd)
		if t, ok := s.tasks[fd]; ok {
			delete(s.tasks, fd)
			_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			woken = append(woken, t)
		}
	}
	return woken, nil
}

// close closes the selector and what is still registered (a stopped run).
func (s *epollSelector) close() {
	for fd := range s.tasks {
		unix.Close(fd)
	}
	unix.Close(s.epfd)
}
