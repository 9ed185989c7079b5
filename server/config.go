package server

import (
	"runtime"
	"time"
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
	// MemoryBytes caps the resident memory of a run's whole process group
	// (default 2 GiB); past it the group is killed and the run fails.
	MemoryBytes int64
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
		Limits: Limits{
			MaxConcurrent:   runtime.NumCPU(),
			QueueSize:       16,
			DefaultDeadline: 20 * time.Second,
			MaxDeadline:     60 * time.Second,
			MaxEvents:       2_000_000,
			MaxOutput:       1 << 20,
			MemoryBytes:     2 << 30,
			MaxBodyBytes:    64 << 10,
			RunsPerMinute:   120,
			WSWriteTimeout:  5 * time.Second,
			MaxViewerLag:    500_000,
			BatchEvents:     5_000,
			KeepRuns:        1000,
			KeepBytes:       1 << 30,
			MaxImportBytes:  32 << 20,
			MaxImports:      2,
			CacheBytes:      32 << 20,
		},
	}
}
