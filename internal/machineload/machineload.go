// Package machineload measures who used the machine's CPUs while a run
// executed: the run's own process group, the observer (this process, the
// server that records and serves the run), and everything else (other
// runs, a browser on the same machine, a compiler...). A speedup measured
// while the rest of the machine was busy is not the program's own, so the
// server reports this next to every run's numbers.
//
// It reads Linux's /proc: the machine's busy time from /proc/stat, the
// group's from /proc/<pid>/stat of each of its processes (their own CPU
// time and that of the children they reaped; see package procgroup), this
// process's from getrusage. A sample costs a handful of reads: the /proc
// listing, the group's few processes, and only those processes of the
// machine that are new since the previous sample.
package machineload

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"interleave/internal/procgroup"
)

// SampleEvery is how often a running run's machine load is sampled for its
// counter track, on the web node and on a pool's runners alike: often
// enough to show when other work hit the run, rarely enough to cost
// nothing (a sample reads a handful of /proc files, about 0.1 ms of CPU).
const SampleEvery = 250 * time.Millisecond

// tick is the unit of /proc's CPU times: USER_HZ, which Linux fixes at 100
// per second for user space on every architecture Go supports.
const tick = 10 * time.Millisecond

// Usage is the CPU time each party used over Wall. It travels as JSON (in
// nanoseconds) from a pool's runner to the web node.
type Usage struct {
	Wall time.Duration `json:"wall_ns"`
	// Machine is the busy time of every CPU together (user, nice, system,
	// irq and softirq; idle and I/O wait are not busy).
	Machine time.Duration `json:"machine_ns"`
	// Group is the CPU time of the measured process group, its reaped
	// processes included.
	Group time.Duration `json:"group_ns"`
	// Observer is this process's CPU time.
	Observer time.Duration `json:"observer_ns"`
}

// Other is the CPU time neither the group nor the observer used: everything
// else on the machine. Tick rounding can make the difference slightly
// negative on an idle machine; it is never reported below zero.
func (u Usage) Other() time.Duration {
	return max(0, u.Machine-u.Group-u.Observer)
}

// Cores returns d as an average number of cores busy over the usage's wall
// time (0 for an empty interval).
func (u Usage) Cores(d time.Duration) float64 {
	if u.Wall <= 0 {
		return 0
	}
	return d.Seconds() / u.Wall.Seconds()
}

// reading is the raw counters at one instant.
type reading struct {
	at       time.Time
	machine  int64 // ticks
	group    int64 // ticks
	observer time.Duration
}

// Meter measures one process group from Start on. Its methods are safe
// for concurrent use.
type Meter struct {
	mu    sync.Mutex
	group *procgroup.Scanner
	start reading
	prev  reading
	buf   []byte
}

// ErrUnsupported is returned where /proc cannot be read (not Linux).
var ErrUnsupported = errors.New("machine load: /proc/stat is not readable here")

// Start begins measuring process group pgid (the pid of its leader).
func Start(pgid int) (*Meter, error) {
	m := &Meter{group: procgroup.New(pgid), buf: make([]byte, 0, 4096)}
	r, err := m.read()
	if err != nil {
		return nil, err
	}
	m.start, m.prev = r, r
	return m, nil
}

// Sample measures now and returns the usage since Start and since the
// previous Sample (or Start).
func (m *Meter) Sample() (total, step Usage, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.read()
	if err != nil {
		return total, step, err
	}
	total, step = diff(m.start, r), diff(m.prev, r)
	m.prev = r
	return total, step, nil
}

func diff(a, b reading) Usage {
	return Usage{
		Wall:     b.at.Sub(a.at),
		Machine:  time.Duration(b.machine-a.machine) * tick,
		Group:    time.Duration(b.group-a.group) * tick,
		Observer: b.observer - a.observer,
	}
}

// read takes one reading of every counter (m.mu held).
func (m *Meter) read() (reading, error) {
	var r reading
	r.at = time.Now()
	var err error
	if r.machine, err = m.machineTicks(); err != nil {
		return r, err
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return r, fmt.Errorf("machine load: getrusage: %w", err)
	}
	r.observer = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	g, err := m.group.Scan()
	if err != nil {
		return r, ErrUnsupported
	}
	r.group = g.CPUTicks
	return r, nil
}

// machineTicks reads the busy time of every CPU from /proc/stat's first line.
func (m *Meter) machineTicks() (int64, error) {
	return machineTicks(&m.buf)
}

// MachineBusy returns the time every CPU of the machine has been busy since
// boot (/proc/stat), at the kernel's tick resolution: the difference of two
// readings is the CPU time everything on the machine used between them.
func MachineBusy() (time.Duration, error) {
	var buf []byte
	ticks, err := machineTicks(&buf)
	return time.Duration(ticks) * tick, err
}

func machineTicks(buf *[]byte) (int64, error) {
	b, err := procgroup.ReadSmall("/proc/stat", buf)
	if err != nil || !bytes.HasPrefix(b, []byte("cpu ")) {
		return 0, ErrUnsupported
	}
	line := b[4:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	f := bytes.Fields(line)
	// user nice system idle iowait irq softirq steal guest guest_nice
	if len(f) < 7 {
		return 0, ErrUnsupported
	}
	var busy int64
	for _, i := range []int{0, 1, 2, 5, 6} {
		v, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, ErrUnsupported
		}
		busy += v
	}
	return busy, nil
}
