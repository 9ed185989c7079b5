package scenarios

// Spec is everything a child runner needs to run one scenario. The server
// hands it to the child as JSON in the environment (SpecEnv).
type Spec struct {
	RunID    string `json:"run_id"`
	Scenario string `json:"scenario"`
	Engine   string `json:"engine"`
	Params   Params `json:"params"`
	// ClockBase is CLOCK_MONOTONIC in ns when the run started: every process
	// of the run stamps events as now - ClockBase.
	ClockBase int64 `json:"clock_base"`
	// Cores is the number of CPUs the run may use (GOMAXPROCS on the go engine).
	Cores int `json:"cores"`
	// Search, when set, asks the program to look for an interleaving
	// instead of running once (package search); it writes one JSON line.
	Search *SearchSpec `json:"search,omitempty"`
}

// SearchSpec is what a search looks for and how long it may look.
type SearchSpec struct {
	// Goal is GoalLostUpdate or GoalDeadlock.
	Goal string `json:"goal"`
	// Budget is the most random interleavings tried once the space is too
	// big to explore exhaustively.
	Budget int `json:"budget"`
	// MaxStates bounds the exhaustive exploration, in distinct states.
	MaxStates int `json:"max_states"`
	// Seed makes the random part repeatable (0: the program picks one and
	// reports it).
	Seed int64 `json:"seed,omitempty"`
	// DeadlineMS is how long the search may take; the exhaustive part
	// gets 80 % of it.
	DeadlineMS int64 `json:"deadline_ms"`
}

// SpecEnv is the environment variable that carries a Spec as JSON.
const SpecEnv = "INTERLEAVE_SPEC"

// EventFD is the file descriptor a child writes its JSON-lines events to.
const EventFD = 3

// ControlFD is the file descriptor of a step run's control socket: the
// server writes the learner's commands and the child answers each, one
// JSON line apiece (see package stepping).
const ControlFD = 4

// Program is an external command to start for a run: never a shell, always
// an explicit path, arguments and environment.
type Program struct {
	Path string
	Args []string
	// Env is the complete environment of the child (nothing is inherited).
	Env []string
	Dir string
}

// Engine starts scenarios of one kind (Go code, CPython).
type Engine interface {
	// Name is the engine's id, as in ?engine=.
	Name() string
	// Available returns nil when the engine can run, or why not and how to fix it.
	Available() error
	// Program returns the command that runs spec; it writes events on EventFD.
	Program(spec Spec) (Program, error)
	// Source returns the source code that runs scenario, shown on its page.
	Source(scenario string) (filename, code string, ok bool)
}
