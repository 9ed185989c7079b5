package server

import (
	"interleave/scenarios/event"
	"interleave/scenarios/verdict"
)

// deriveVerdict sets the summary's verdict from its numbers (package
// verdict), the same way for every engine, with the server's own
// measurements (other_load, observer_load) among the metrics when present.
// An engine sets a verdict itself only when the run has no numbers to judge
// (it was stopped, or failed before it measured anything): that one stays.
// It runs with r.mu held.
func deriveVerdict(r *Run, s *event.Summary) {
	if s.Verdict != "" {
		return
	}
	s.Verdict = verdict.Derive(verdict.Input{Scenario: r.Scenario, Engine: r.Engine, Params: r.Params, Summary: *s, Cores: r.cores}).Sentence
}
