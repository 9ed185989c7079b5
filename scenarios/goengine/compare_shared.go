package goengine

// The shared counter of the processes and pool models under shared-state:
// shared memory every worker maps and a futex beside it (see compare.go).

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// --- the shared counter of processes: shared memory and a futex --------------------------

// sharedCounterFDEnv names the descriptor a compare worker finds the shared
// counter's memory on.
const sharedCounterFDEnv = "INTERLEAVE_SHARED_COUNTER_FD"

// Linux futex operations (not private: the word is shared between processes).
const (
	futexWait = 0
	futexWake = 1
)

// sharedCounter is the shared-state counter of the processes and pool
// models, as multiprocessing.Value("q", 0) is on the python engine: an int64
// in shared memory (a memfd that every worker maps) and, beside it, a lock
// every process can take: a futex word, as a POSIX semaphore is. Taking it
// is one compare-and-swap while it is free; a process that finds it held
// sleeps in the kernel until the holder wakes it.
type sharedCounter struct {
	file  *os.File
	mem   []byte
	value *int64
	lock  *uint32 // 0 free, 1 held, 2 held and someone may be waiting
}

// newSharedCounter creates the counter's shared memory, at zero.
func newSharedCounter() (*sharedCounter, error) {
	fd, err := unix.MemfdCreate("interleave-shared-counter", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "shared-counter")
	if err := unix.Ftruncate(fd, int64(os.Getpagesize())); err != nil {
		f.Close()
		return nil, fmt.Errorf("ftruncate: %w", err)
	}
	return mapSharedCounter(f)
}

// mapSharedCounter maps the counter's memory from f, which it then owns.
func mapSharedCounter(f *os.File) (*sharedCounter, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mmap the shared counter: %w", err)
	}
	return &sharedCounter{file: f, mem: mem, value: (*int64)(unsafe.Pointer(&mem[0])), lock: (*uint32)(unsafe.Pointer(&mem[8]))}, nil
}

func (s *sharedCounter) close() {
	_ = unix.Munmap(s.mem)
	s.file.Close()
}

func (s *sharedCounter) load() int64 { return atomic.LoadInt64(s.value) }

// addOne is one update: take the lock, read, add one, write back, release.
func (s *sharedCounter) addOne() {
	s.acquire()
	v := atomic.LoadInt64(s.value)  // read
	atomic.StoreInt64(s.value, v+1) // add one, write back
	s.release()
}

func (s *sharedCounter) acquire() {
	if atomic.CompareAndSwapUint32(s.lock, 0, 1) {
		return
	}
	// Held: mark it contended and sleep until the word changes.
	for atomic.SwapUint32(s.lock, 2) != 0 {
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(s.lock)), futexWait, 2, 0, 0, 0)
	}
}

func (s *sharedCounter) release() {
	if atomic.SwapUint32(s.lock, 0) == 2 {
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(s.lock)), futexWake, 1, 0, 0, 0)
	}
}

// sampleShared draws the shared counter's track until stop is closed, then
// its final value.
func (c *compareRun) sampleShared(stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-stop:
			c.r.Counter("counter", float64(c.shared.load()))
			return
		case <-t.C:
			if v := c.shared.load(); v != last {
				last = v
				c.r.Counter("counter", float64(v))
			}
		}
	}
}
