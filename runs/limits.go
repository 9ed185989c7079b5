package runs

import (
	"runtime"
	"time"

	"interleave/scenarios"
)

// Limits bounds what one run and the run manager may use: how many runs
// execute and wait, how long and how large a run may be, and what the store
// keeps. Every field is enforced and has a test. The server's own limits
// (request bodies, sockets, imports) are in server.Limits, which embeds
// these.
type Limits struct {
	// MaxConcurrent is how many runs execute at once (default: cores), so
	// runs never compete for cores and their timings stay true.
	MaxConcurrent int
	// QueueSize is how many runs may wait for a slot; beyond it POST /api/runs
	// answers 429 with Retry-After (default 16).
	QueueSize int
	// DefaultDeadline is a run's wall-clock deadline (default 20 s); a run
	// may ask for less or more up to MaxDeadline (default 60 s).
	DefaultDeadline time.Duration
	MaxDeadline     time.Duration
	// MaxEvents is how many events a run keeps (default 2,000,000); past it
	// the run is truncated with a mark.
	MaxEvents int64
	// MaxOutput is how many bytes of stdout+stderr a run keeps (default 1 MiB).
	MaxOutput int64
	// MemoryBytes caps the memory of all of a run's processes together
	// (default 2 GiB). Where the machine has a memory cgroup the kernel
	// enforces it (the allocation that crosses it fails and the run is
	// killed); elsewhere the resident memory of the run's process group is
	// measured every 100 ms and the group killed past it.
	MemoryBytes int64
	// MaxTasks caps a run's processes and threads together (default 8192:
	// the decision matrix's many-io model runs 2,000 client threads and as
	// many server threads), with the pids cgroup controller.
	MaxTasks int64
	// MaxOpenFiles is the open-file limit of each of a run's processes
	// (default 8192, RLIMIT_NOFILE: 2,000 sockets each side of many-io).
	MaxOpenFiles uint64
	// MaxFileBytes is the largest file a run may write (default 256 MiB,
	// RLIMIT_FSIZE), in its private directory, the only place it can write.
	MaxFileBytes uint64
	// KeepRuns and KeepBytes bound the store (defaults 1,000 runs and 1 GiB
	// of event lines): past either, the oldest finished runs that are not
	// pinned are deleted.
	KeepRuns  int
	KeepBytes int64
	// MaxStepRuns is how many step runs (step=true) may be live at once,
	// most of them waiting for their learners (default 32). A step run
	// holds a run slot only until it first waits for its learner.
	MaxStepRuns int
	// StepIdle cancels a step run nobody has stepped for that long
	// (default 10 min).
	StepIdle time.Duration
	// MaxSteps is the most steps one run may take, its schedule's included
	// (default 10,000).
	MaxSteps int
	// CacheBytes caps the decoded event chunks of recorded runs kept in
	// memory for replays and exports (default 32 MiB).
	CacheBytes int64
	// LocalSlots is how many runs this machine executes itself at once
	// (-local-slots; at most MaxConcurrent; a negative value, the default,
	// means MaxConcurrent). The rest
	// of MaxConcurrent goes to the manager's other runner (WithRunner); 0
	// makes every run go there. Step runs always execute here, within
	// MaxConcurrent, whatever LocalSlots says.
	LocalSlots int
}

// DefaultLimits returns the defaults documented on Limits. LocalSlots is -1:
// every run slot is this machine's (see Limits.LocalSlots).
func DefaultLimits() Limits {
	return Limits{
		MaxConcurrent:   runtime.NumCPU(),
		QueueSize:       16,
		DefaultDeadline: 20 * time.Second,
		MaxDeadline:     60 * time.Second,
		MaxEvents:       2_000_000,
		MaxOutput:       1 << 20,
		MemoryBytes:     2 << 30,
		MaxTasks:        8192,
		MaxOpenFiles:    8192,
		MaxFileBytes:    256 << 20,
		KeepRuns:        1000,
		KeepBytes:       1 << 30,
		MaxStepRuns:     32,
		StepIdle:        10 * time.Minute,
		MaxSteps:        scenarios.MaxScheduleSteps,
		CacheBytes:      32 << 20,
		LocalSlots:      -1,
	}
}
