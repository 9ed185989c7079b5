package server

import (
	"time"

	"interleave/runner"
	"interleave/runs"

	"interleave/rooms"
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
	// Runner, when set, is a second runner (a pool of other machines) that
	// takes the runs the local slots (Limits.LocalSlots) cannot.
	Runner runner.Runner
	// Python is the interpreter of the python engine (-python python=PATH);
	// "" means python3 from PATH.
	Python string
	// FreeThreaded lists the interpreters tried, in order, for the
	// python-ft engine (-python python-ft=PATH, repeatable); the first
	// free-threaded build wins. pyengine.FreeThreadedNames on PATH are
	// tried after them.
	FreeThreaded []string
}

// Limits bounds what one run and the whole server may use: the run
// manager's limits (runs.Limits) and those of HTTP, sockets and imports.
// Every field is enforced and has a test.
type Limits struct {
	runs.Limits
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
	// MaxImportBytes caps an uploaded runtime/trace file (default 32 MiB).
	MaxImportBytes int64
	// MaxImports is how many uploads are parsed and stored at once
	// (default 2); beyond it POST /api/imports answers 429 with
	// Retry-After. Each import's memory is bounded whatever its size, so
	// this bounds what imports take together.
	MaxImports int
}

// DefaultConfig returns the defaults documented on Limits.
func DefaultConfig() Config {
	return Config{
		Addr:    "127.0.0.1:8080",
		DataDir: "./data",
		Rooms:   rooms.DefaultConfig(),
		Limits: Limits{
			Limits:         runs.DefaultLimits(),
			MaxBodyBytes:   64 << 10,
			RunsPerMinute:  120,
			WSWriteTimeout: 5 * time.Second,
			MaxViewerLag:   500_000,
			BatchEvents:    5_000,
			MaxImportBytes: 32 << 20,
			MaxImports:     2,
		},
	}
}
