package scenarios

// EnginePythonFT is the engine id of a free-threaded CPython (PEP 703, no
// GIL). The id is part of the HTTP contract (?engine=python-ft, /api/engines).
const EnginePythonFT = "python-ft"

// EngineInfo describes one engine for GET /api/engines and the pages'
// badge: what runs the scenarios, whether it has a GIL, and, when it
// cannot run here, why and how to get it.
type EngineInfo struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// GIL is true when one thread at a time runs the engine's code (CPython
	// with the GIL); false for Go and for a free-threaded CPython.
	GIL       bool   `json:"gil"`
	Available bool   `json:"available"`
	Why       string `json:"why,omitempty"`
	// Label is the badge a page shows, e.g. "CPython 3.13.15 · free-threaded: no GIL".
	Label string `json:"label"`
	// Runners names the runners of the server's pool that have the engine
	// (present, possibly empty, only when the server has a pool).
	Runners []string `json:"runners,omitzero"`
}

// Describer is an Engine that can say what it is. Engines that are not
// Describers are listed with their id and availability only.
type Describer interface {
	Info() EngineInfo
}

// FreeThreaded reports whether engine runs without a GIL on a CPython
// interpreter: the engine whose threads compute at once and whose
// `counter += 1` loses updates.
func FreeThreaded(engine string) bool { return engine == EnginePythonFT }
