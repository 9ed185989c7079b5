package server

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"interleave/runs"
	"interleave/scenarios"
)

// maxCompareEngines bounds the engines one comparison runs its models on:
// every model runs once per engine, one after another.
const maxCompareEngines = 3

// compareEngines reads a comparison's engine field: one engine id, or
// several separated by commas ("python,python-ft,go"), each once. The
// same workload then runs under every model on each engine, in order.
// "" is the default, python.
func compareEngines(field string) ([]string, error) {
	if strings.TrimSpace(field) == "" {
		return []string{scenarios.EnginePython}, nil
	}
	var out []string
	for _, e := range strings.Split(field, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return nil, &scenarios.ParamError{Field: "engine", Message: fmt.Sprintf("%s has an empty name; want engine ids separated by commas, such as python,python-ft,go", scenarios.Describe(field))}
		case slices.Contains(out, e):
			return nil, &scenarios.ParamError{Field: "engine", Message: fmt.Sprintf("%s names %s twice; want each engine once", scenarios.Describe(field), e)}
		}
		out = append(out, e)
	}
	if len(out) > maxCompareEngines {
		return nil, &scenarios.ParamError{Field: "engine", Message: fmt.Sprintf("%s names %d engines; want 1 to %d", scenarios.Describe(field), len(out), maxCompareEngines)}
	}
	return out, nil
}

// slotKey names the run of model on engine in a comparison's maps (runs,
// spans, evicted, and the stored record): the model alone on the
// comparison's first engine, as a single-engine comparison always named
// it, and engine/model on the others.
func (c *Comparison) slotKey(engine, model string) string {
	if engine == c.Engine {
		return model
	}
	return engine + "/" + model
}

// EngineResult is one engine's column group of a comparison over several
// engines: the same models, measured on that engine, with its own
// baseline, winners, ties and rule.
type EngineResult struct {
	Engine   string              `json:"engine"`
	Baseline string              `json:"baseline,omitempty"`
	Models   []ModelResult       `json:"models"`
	Winners  map[string]string   `json:"winners"`
	Ties     map[string][]string `json:"ties"`
	Rule     CompareRule         `json:"rule"`
}

// groupResult measures the models of one engine from the runs so far.
func (c *Comparison) groupResult(engine, status string, byKey map[string]*runs.Run, spans map[string][2]time.Time, evicted map[string]string) EngineResult {
	g := EngineResult{Engine: engine, Winners: map[string]string{}, Ties: map[string][]string{}}
	for _, model := range c.Models {
		key := c.slotKey(engine, model)
		// A model without a run is waiting for its turn, or, once the
		// comparison is over, will never run.
		row := ModelResult{Model: model, Status: runs.StatusQueued}
		if comparisonOver(status) {
			row.Status = runs.StatusCancelled
		}
		if run, ok := byKey[key]; ok {
			row = measure(model, run)
		} else if id, ok := evicted[key]; ok {
			row = ModelResult{Model: model, Run: id, Status: statusEvicted}
		}
		if span, ok := spans[key]; ok {
			row.Started, row.Finished = &span[0], &span[1]
		}
		g.Models = append(g.Models, row)
	}
	// Speedups against the sequential run, or the first model.
	var base *ModelResult
	for i := range g.Models {
		if r := &g.Models[i]; r.Status == runs.StatusDone && r.WallNS > 0 && (base == nil || r.Model == scenarios.ModelSequential) {
			base = r
		}
	}
	if base != nil {
		g.Baseline = base.Model
		for i := range g.Models {
			if r := &g.Models[i]; r.Status == runs.StatusDone && r.WallNS > 0 {
				r.Speedup = round3(float64(base.WallNS) / float64(r.WallNS))
			}
		}
	}
	// No winner until every model has finished: a model still to run may
	// beat them all. A partial comparison ran every model to its end (one
	// failed, and a failed model never wins).
	if judged(status) {
		g.Winners, g.Ties = winners(g.Models, c.cores)
	}
	g.Rule = judgeRule(c.Workload, engine, g.Models, g.Winners, g.Ties, status)
	return g
}

// validateCompareEngines checks the comparison's settings raw on every
// engine of the engine field, naming the field that is wrong.
func validateCompareEngines(sc scenarios.Scenario, field string, raw map[string]any) error {
	engines, err := compareEngines(field)
	if err != nil {
		return err
	}
	for _, e := range engines {
		if _, err := sc.Validate(e, raw); err != nil {
			return err
		}
	}
	return nil
}

// compareEngineChoices are the engine field's options on the comparison
// page: each engine of the server that runs the comparison, then the CPython
// builds side by side, then every engine at once; and asked, the field's
// value as the link gave it, when it is none of those.
func (s *Server) compareEngineChoices(asked string) []string {
	sc, _ := scenarios.Lookup(scenarios.CompareID)
	var single []string
	for _, e := range s.engines {
		if sc.HasEngine(e.Name()) {
			single = append(single, e.Name())
		}
	}
	// The GIL build first: it is the one the guide is about.
	slices.SortStableFunc(single, func(a, b string) int { return enginePlace(a) - enginePlace(b) })
	choices := slices.Clone(single)
	if slices.Contains(single, scenarios.EnginePython) && slices.Contains(single, scenarios.EnginePythonFT) {
		choices = append(choices, scenarios.EnginePython+","+scenarios.EnginePythonFT)
	}
	if len(single) > 2 && len(single) <= maxCompareEngines {
		choices = append(choices, strings.Join(single, ","))
	}
	if asked != "" && !slices.Contains(choices, asked) {
		choices = append(choices, asked)
	}
	return choices
}

// enginePlace orders the engines in the comparison page's choices.
func enginePlace(e string) int {
	switch e {
	case scenarios.EnginePython:
		return 0
	case scenarios.EnginePythonFT:
		return 1
	case scenarios.EngineGo:
		return 2
	}
	return 3
}
