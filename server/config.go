package server

import (
	"runtime"
	"time"

	"interleave/rooms"
	"interleave/scenarios"
)

// Config is everything the server is started with; main fills it from flags.
type Config struct {
	// Addr is the listen address (default 127.0.0.1:8080).
	Addr string
	// DataDir holds recorded runs (the SQLite store); created on start.
	DataDir string
	// DevStatic serves static/ from disk instead of the embedded copy.
	DevStatic bool
	// ResetStore moves a store file that cannot be opened (empty, damaged,
	// of another version) aside and starts an empty one; without it the
	// server refuses to start on such a file and says why.
	ResetStore bool
	// AllowedHosts are the host names, besides loopback names and IP
	// literals, that requests may name in their Host header (-allowed-hosts).
	AllowedHosts []string
	Limits       Limits
	// Rooms bounds the workshop rooms (rooms.Config: how many rooms, how
	// many attendees each, idle expiry); they are kept under DataDir/rooms.
	Rooms rooms.Config
	// Without turns protections of a run off by name (cgroup, network,
	// landlock, userns, caps; see child.ContainConfig): for an operator
	// whose machine misbehaves with one. The log says what is off either way.
	Without []string
	// Python is the interpreter of the python engine (-python python=PATH);
	// "" means python3 from PATH.
	Python string
	// FreeThreaded lists the interpreters tried, in order, for the
	// python-ft engine (-python python-ft=PATH, repeatable); the first
	// free-threaded build wins. pyengine.FreeThreadedNames on PATH are
	// tried after them.
	FreeThreaded []string
}

// Limits bounds what one run and the whole server may use. Every field is
// enforced and has a test.
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
	// MaxBodyBytes caps a request body (default 64 KiB).
	MaxBodyBytes int64
	// RunsPerMinute is how many runs one client address may start a minute
	// (default 120).
	RunsPerMinute int
	// WSWriteTimeout is how long one WebSocket write may take before the
	// viewer is dropped as too slow (default 5 s).
	WSWriteTimeout time.Duration
	// MaxViewerLag is how many events a viewer may fall behind a live run
	// before it is dropped as too slow (default 500,000).
	MaxViewerLag int
	// BatchEvents is the most events sent in one WebSocket message (default 5,000).
	BatchEvents int
	// WSOriginPatterns are extra origins allowed to open the event socket;
	// same-origin is always allowed.
	WSOriginPatterns []string
	// KeepRuns and KeepBytes bound the store (defaults 1,000 runs and 1 GiB
	// of event lines): past either, the oldest finished runs that are not
	// pinned are deleted.
	KeepRuns  int
	KeepBytes int64
	// MaxImportBytes caps an uploaded runtime/trace file (default 32 MiB).
	MaxImportBytes int64
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
	// MaxImports is how many uploads are parsed and stored at once
	// (default 2); beyond it POST /api/imports answers 429 with
	// Retry-After. Each import's memory is bounded whatever its size, so
	// this bounds what imports take together.
	MaxImports int
	// CacheBytes caps the decoded event chunks of recorded runs kept in
	// memory for replays and exports (default 32 MiB).
	CacheBytes int64
}

// DefaultConfig returns the defaults documented on Limits.
func DefaultConfig() Config {
	return Config{
		Addr:    "127.0.0.1:8080",
		DataDir: "./data",
		Rooms:   rooms.DefaultConfig(),
		Limits: Limits{
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
			MaxBodyBytes:    64 << 10,
			RunsPerMinute:   120,
			WSWriteTimeout:  5 * time.Second,
			MaxViewerLag:    500_000,
			BatchEvents:     5_000,
			KeepRuns:        1000,
			KeepBytes:       1 << 30,
			MaxImportBytes:  32 << 20,
			MaxStepRuns:     32,
			StepIdle:        10 * time.Minute,
			MaxSteps:        scenarios.MaxScheduleSteps,
			MaxImports:      2,
			CacheBytes:      32 << 20,
		},
	}
}
