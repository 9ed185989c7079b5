package rooms

import (
	"fmt"
	"strconv"
	"strings"

	"interleave/scenarios"
)

// Builtin returns the question the room can predict before a run of
// scenario with params, taken from the scenario's claim, and how the run
// measures the answer: locks asks how many updates will be lost (the
// metric lost), threads which of N workers or 1 finishes first and by how
// much (speedup against one worker), gil whether N CPU threads beat 1
// (speedup against one thread). A scenario without one, or params that
// make the question empty (one worker), is an *InputError naming why.
func Builtin(scenario string, params scenarios.Params) (QuestionSpec, error) {
	switch scenario {
	case "locks":
		total := int64(params.Int("workers")) * int64(params.Int("increments"))
		if total <= 0 {
			return QuestionSpec{}, &InputError{Field: "params", Message: "locks: want workers and increments"}
		}
		lo, hi := 0.0, float64(total)
		return QuestionSpec{
			Text: fmt.Sprintf("How many of the %s updates will be lost?", groupThousands(total)),
			Kind: KindNumber, Min: &lo, Max: &hi, Unit: "updates",
			Measure: &Measure{Scenario: scenario, Metric: "lost"},
		}, nil
	case "threads":
		n := params.Int("workers")
		if n < 2 {
			return QuestionSpec{}, &InputError{Field: "params", Message: "threads: with 1 worker there is nothing to compare; set workers to 2 or more"}
		}
		return speedupQuestion(scenario, fmt.Sprintf("%d threads or 1: which finishes first, and by how much?", n), "threads", n), nil
	case "gil":
		n := params.Int("threads")
		if n < 2 {
			return QuestionSpec{}, &InputError{Field: "params", Message: "gil: with 1 CPU thread there is nothing to compare; set threads to 2 or more"}
		}
		return speedupQuestion(scenario, fmt.Sprintf("%d CPU threads vs 1: which finishes the same work first, and by how much?", n), "threads", n), nil
	}
	return QuestionSpec{}, &InputError{Field: "scenario", Message: fmt.Sprintf("%s has no built-in question; want locks, threads or gil, or write your own", shorten(scenario, 30))}
}

// BuiltinScenarios are the scenarios with a built-in question.
var BuiltinScenarios = []string{"locks", "threads", "gil"}

// speedupQuestion is "N or 1: which finishes first, and by how much?" as
// choices over the measured speedup (N's time against one's): one sooner,
// about the same, then N sooner by up to half of N, and by more.
func speedupQuestion(scenario, text, what string, n int) QuestionSpec {
	half := float64(n) / 2
	choices := []string{
		"1 finishes first (speedup under 0.8x)",
		"About the same (0.8x to 1.25x)",
	}
	bins := []float64{0.8, 1.25}
	if half > 1.5 {
		choices = append(choices,
			fmt.Sprintf("%d %s, 1.25x to %sx sooner", n, what, trimFloat(half)),
			fmt.Sprintf("%d %s, over %sx sooner", n, what, trimFloat(half)))
		bins = append(bins, half)
	} else {
		choices = append(choices, fmt.Sprintf("%d %s, over 1.25x sooner", n, what))
	}
	return QuestionSpec{Text: text, Kind: KindChoice, Choices: choices, Measure: &Measure{Scenario: scenario, Metric: "speedup", Bins: bins}}
}

// groupThousands writes 40000 as 40,000.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// trimFloat writes 4 as 4 and 2.5 as 2.5.
func trimFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
