package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// Step runs. On the python engine the locks and deadlock scenarios can run
// their threads one line at a time: with step=true each thread pauses
// before every line of the scenario's own functions until the learner lets
// it run that line (POST /api/runs/{id}/step); a schedule param names the
// choices in advance, so that a link re-executes an interleaving exactly.
// The threads of a step run are the lanes worker-1 … worker-N, and a
// schedule names them by number.
const (
	// StepParam is the switch that makes a run wait for the learner.
	StepParam = "step"
	// ScheduleParam is the thread choices to follow first ("1,1,2,2").
	ScheduleParam = "schedule"
	// MaxScheduleSteps is the most steps a schedule may name.
	MaxScheduleSteps = 10_000
	// MaxStepThreads is the most threads a step run may have: one key each,
	// 1 to 9, on the stepping page.
	MaxStepThreads = 9
	// maxScheduleThread is the largest thread number a schedule may name
	// (the most workers a scenario has); each scenario checks its own.
	maxScheduleThread = 64
)

// Goals of a search (POST /api/search): what the interleaving it looks for
// must end in.
const (
	// GoalLostUpdate: the shared counter ends below the number of increments.
	GoalLostUpdate = "lost-update"
	// GoalDeadlock: every live thread waits for a lock another one holds.
	GoalDeadlock = "deadlock"
)

// ThreadLane is the lane of thread n (1-based) of a step run.
func ThreadLane(n int) string { return "worker-" + strconv.Itoa(n) }

// IsStepRun reports whether a run with params p waits for the learner.
func IsStepRun(p Params) bool { return p.Bool(StepParam) }

// Scheduled reports whether a run with params p follows a schedule or
// waits for the learner: either way its threads are stepped.
func Scheduled(p Params) bool { return p.Bool(StepParam) || p.String(ScheduleParam) != "" }

// ScheduleOf returns the thread numbers of a validated schedule param.
func ScheduleOf(p Params) []int {
	steps, _ := ParseSchedule(p.String(ScheduleParam))
	return steps
}

// CanStep reports whether the scenario can run step by step on engine.
func (s Scenario) CanStep(engine string) bool {
	for _, p := range s.ParamsFor(engine) {
		if p.Name == StepParam {
			return true
		}
	}
	return false
}

// HasGoal reports whether a search for goal applies to the scenario.
func (s Scenario) HasGoal(goal string) bool {
	for _, g := range s.Goals {
		if g == goal {
			return true
		}
	}
	return false
}

// stepParams are the params of a scenario that can be stepped on engine.
func stepParams(engine string) []Param {
	return []Param{
		{Name: StepParam, Type: TypeBool, Default: false, Label: "Step it yourself",
			Help:    "You are the scheduler: each thread stops before every line of the code it runs, and runs that line when you press its button (or its number key). A thread waiting for a lock cannot take a step.",
			Engines: []string{engine}},
		{Name: ScheduleParam, Type: TypeSchedule, Default: "", Label: "Schedule",
			Help:    "The threads to step first, in order (1,1,2,2: thread 1 runs two lines, then thread 2 runs two). The same schedule gives the same interleaving, line for line, every time. After it the threads run freely, or wait for you when you step them yourself.",
			Engines: []string{engine}},
	}
}

// ParseSchedule reads a schedule: thread numbers (1 and up) separated by
// commas, spaces allowed around them; empty means none. The error says
// which step is wrong, in words.
func ParseSchedule(text string) ([]int, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	parts := strings.Split(text, ",")
	if len(parts) > MaxScheduleSteps {
		return nil, fmt.Errorf("names %d steps; want at most %d", len(parts), MaxScheduleSteps)
	}
	steps := make([]int, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("step %d is empty; want thread numbers separated by commas, such as 1,1,2,2", i+1)
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > maxScheduleThread || strings.ContainsAny(part, "+-") {
			return nil, fmt.Errorf("step %d is %s; want a thread number from 1 to %d", i+1, shown(part), maxScheduleThread)
		}
		steps[i] = n
	}
	return steps, nil
}

// FormatSchedule writes thread numbers as a schedule param: "1,1,2,2".
func FormatSchedule(steps []int) string {
	var b strings.Builder
	for i, n := range steps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// parseScheduleParam validates a schedule param's raw value and returns it
// written the one way FormatSchedule writes it.
func parseScheduleParam(name string, raw any) (any, error) {
	s, ok := raw.(string)
	if !ok {
		return nil, &ParamError{Field: name, Message: fmt.Sprintf("%s is not allowed; want thread numbers separated by commas, such as 1,1,2,2 (a string), or nothing", Describe(raw))}
	}
	steps, err := ParseSchedule(s)
	if err != nil {
		return nil, &ParamError{Field: name, Message: err.Error()}
	}
	return FormatSchedule(steps), nil
}

// checkStepRun checks what a stepped run of threads workers needs: at most
// MaxStepThreads threads when the learner steps them, and a schedule that
// names only those threads.
func checkStepRun(p Params, workers int, workersParam string) error {
	if IsStepRun(p) && workers > MaxStepThreads {
		return &ParamError{Field: workersParam, Message: fmt.Sprintf("%d is not allowed when you step the threads yourself; want a whole number from 1 to %d (one key per thread)", workers, MaxStepThreads)}
	}
	for i, n := range ScheduleOf(p) {
		if n > workers {
			return &ParamError{Field: ScheduleParam, Message: fmt.Sprintf("step %d picks thread %d, but the run has %d; want thread numbers from 1 to %d", i+1, n, workers, workers)}
		}
	}
	return nil
}
