// Package search finds an interleaving of a step run's threads that reaches
// a goal: an update lost, or a deadlock. It executes the scenario's own
// code for real: one interpreter (the scenario's script with a search in
// its spec) runs the threads again and again under the same step
// controller a step run uses (scenarios/pyengine/stepsearch.py), so a
// schedule it finds replays as a run, step for step.
//
// While the space is small (2 threads × 2 increments has 3,432
// interleavings) the search is exhaustive: depth first, remembering the
// states it has executed, so that every interleaving is covered and each
// state is executed once. Past MaxStates distinct states, or 80 % of its
// time, it tries random interleavings up to the budget, and says that it
// was not exhaustive: finding none then proves nothing.
package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// Bounds of a search.
const (
	// DefaultBudget is how many random interleavings a search tries when
	// the space is too big to explore; MaxBudget is the most it may ask.
	DefaultBudget = 1000
	MaxBudget     = 100_000
	// MaxStates bounds the exhaustive part, in distinct states executed.
	MaxStates = 50_000
	// Time is how long a search may take; the exhaustive part gets 80 %.
	Time = 5 * time.Second
	// outputLimit caps what the search process may print (a traceback).
	outputLimit = 64 << 10
)

// Request is one search: a run's scenario, engine and params, and the goal.
type Request struct {
	Scenario string
	Engine   string
	Params   scenarios.Params
	Goal     string
	// Budget is the most random interleavings to try (0: DefaultBudget).
	Budget int
	// Seed repeats the random part of an earlier search (0: a new one).
	Seed int64
	// MemoryLimit caps the search process's memory (0: none).
	MemoryLimit int64
}

// Result is what a search found, as POST /api/search answers it.
type Result struct {
	Goal string `json:"goal"`
	// Found is set when an interleaving reaches the goal; Schedule is the
	// shortest one found, as the schedule param writes it.
	Found    bool   `json:"found"`
	Schedule string `json:"schedule"`
	// Explored counts the interleavings covered: every one when
	// Exhaustive, else the distinct random ones tried. An interleaving
	// ends where at most one thread is left (the rest has no choices) or
	// in a deadlock.
	Explored   int  `json:"explored"`
	Exhaustive bool `json:"exhaustive"`
	// States counts the distinct states the exhaustive part executed;
	// Runs the executions started; Steps the lines executed in all.
	States int `json:"states"`
	Runs   int `json:"runs"`
	Steps  int `json:"steps"`
	// Cut counts the random interleavings abandoned at the step limit
	// (scenarios.MaxScheduleSteps): a schedule that long could not replay.
	Cut int `json:"cut"`
	// Seed repeats the random part.
	Seed int64 `json:"seed"`
	// ElapsedMS is the search's own time, measured in the interpreter.
	ElapsedMS float64 `json:"elapsed_ms"`
	// Lost is how many updates the found schedule loses (lost-update).
	Lost *int `json:"lost,omitempty"`
	// Deadlock names the found schedule's cycle of waits (deadlock).
	Deadlock string `json:"deadlock,omitempty"`
	// Sentence says what the search showed, in words.
	Sentence string `json:"sentence"`
}

// Run searches, running the engine's program for the scenario with the
// search in its spec. Cancelling ctx kills the search process.
func Run(ctx context.Context, eng scenarios.Engine, req Request) (Result, error) {
	budget := req.Budget
	if budget == 0 {
		budget = DefaultBudget
	}
	spec := scenarios.Spec{
		RunID: "search", Scenario: req.Scenario, Engine: req.Engine, Params: req.Params,
		ClockBase: event.Monotonic(), Cores: 1,
		Search: &scenarios.SearchSpec{Goal: req.Goal, Budget: budget, MaxStates: MaxStates, Seed: req.Seed, DeadlineMS: Time.Milliseconds()},
	}
	prog, err := eng.Program(spec)
	if err != nil {
		return Result{}, fmt.Errorf("search program for %s: %w", req.Scenario, err)
	}
	ctx, cancel := context.WithTimeout(ctx, Time+5*time.Second)
	defer cancel()
	var answer []byte
	var stderr strings.Builder
	_, err = child.Run(ctx, prog, child.Options{
		OnEvents: func(lines [][]byte) {
			if answer == nil && len(lines) > 0 {
				answer = append([]byte(nil), lines[0]...)
			}
		},
		OnOutput: func(stream string, text []byte) {
			if stream == "stderr" {
				stderr.Write(text)
			}
		},
		OutputLimit: outputLimit,
		MemoryLimit: req.MemoryLimit,
	})
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{}, context.Cause(ctx)
		}
		return Result{}, fmt.Errorf("search of %s failed: %w %s", req.Scenario, err, lastLine(stderr.String()))
	}
	var res Result
	if err := json.Unmarshal(answer, &res); err != nil || answer == nil {
		return Result{}, fmt.Errorf("search of %s gave no answer (%s)", req.Scenario, lastLine(stderr.String()))
	}
	res.Goal = req.Goal
	res.Sentence = Sentence(res)
	return res, nil
}

// Sentence says what a search showed, claiming no more than it covered:
// "none" is a proof only when the search was exhaustive.
func Sentence(r Result) string {
	what := map[string]string{scenarios.GoalLostUpdate: "loses an update", scenarios.GoalDeadlock: "deadlocks"}[r.Goal]
	if what == "" {
		what = "reaches " + r.Goal
	}
	switch {
	case r.Found && r.Exhaustive:
		return fmt.Sprintf("Explored all %d interleavings; the shortest that %s takes %d steps: %s.", r.Explored, what, countSteps(r.Schedule), detail(r))
	case r.Found:
		return fmt.Sprintf("Tried %d random interleavings (too many to explore them all); the shortest that %s takes %d steps: %s.", r.Explored, what, countSteps(r.Schedule), detail(r))
	case r.Exhaustive:
		return fmt.Sprintf("Explored %d interleavings: none %s.", r.Explored, what)
	case r.Explored == 0 && r.Cut > 0:
		return fmt.Sprintf("No interleaving ended within %d steps, the longest schedule a run can follow: choose fewer threads or less work to search.", scenarios.MaxScheduleSteps)
	}
	return fmt.Sprintf("Tried %d random interleavings: none %s, but there were too many to explore them all, so that is no proof.", r.Explored, what)
}

// detail is what the found interleaving does.
func detail(r Result) string {
	switch {
	case r.Lost != nil && *r.Lost == 1:
		return "it loses 1 update"
	case r.Lost != nil:
		return fmt.Sprintf("it loses %d updates", *r.Lost)
	case r.Deadlock != "":
		return r.Deadlock
	}
	return "schedule " + r.Schedule
}

func countSteps(schedule string) int {
	if schedule == "" {
		return 0
	}
	return strings.Count(schedule, ",") + 1
}

// lastLine is the last non-empty line of a program's stderr (its error).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
