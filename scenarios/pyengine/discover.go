package pyengine

import (
	"errors"
	"fmt"
	"strings"

	"interleave/scenarios"
)

// FreeThreadedNames are the free-threaded interpreters looked for on PATH,
// newest first: 3.14t is the first release in which the free-threaded build
// is supported (PEP 779); 3.13t is experimental but has the same threads.
var FreeThreadedNames = []string{"python3.14t", "python3.13t"}

// freeThreadedHint is how to get a free-threaded CPython, shown by
// /api/engines and on the pages when none was found.
const freeThreadedHint = "install one (uv python install 3.14t, or a distribution's package such as python3.13-nogil) and put python3.14t or python3.13t on PATH, or name it with -python python-ft=PATH"

// NewFreeThreaded returns the engine python-ft: the first of candidates
// (names looked up in PATH, or paths; tried in order) that runs and is a
// free-threaded build, probed once, here. With no candidates it tries
// FreeThreadedNames. Like New, a missing interpreter is not an error: the
// engine is returned unavailable, and Available says what was found and
// how to get one. The probes are returned for the log.
func NewFreeThreaded(candidates []string) (*Engine, []Interpreter, error) {
	if len(candidates) == 0 {
		candidates = FreeThreadedNames
	}
	e, err := newEngine(scenarios.EnginePythonFT)
	if err != nil {
		return nil, nil, err
	}
	e.gil = false
	probes := make([]Interpreter, 0, len(candidates))
	var found []string
	for _, c := range candidates {
		p := probe(c)
		probes = append(probes, p)
		switch {
		case p.Err == nil && !p.GIL:
			e.python, e.version = p.Path, p.Version
			return e, probes, nil
		case p.Path == "":
			// Not on PATH: only the summary below mentions it.
		case p.Err != nil:
			found = append(found, fmt.Sprintf("%s does not run as a scenario interpreter (%s)", p.Path, strings.TrimSuffix(p.Err.Error(), ": "+installHint)))
		default:
			found = append(found, fmt.Sprintf("%s (CPython %s) has the GIL", p.Path, p.Version))
		}
	}
	msg := "no free-threaded CPython found (looked for " + strings.Join(candidates, ", ") + ")"
	if len(found) > 0 {
		msg += "; " + strings.Join(found, "; ")
	}
	e.unavailable = errors.New(msg + ": " + freeThreadedHint)
	return e, probes, nil
}
