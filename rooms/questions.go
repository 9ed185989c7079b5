package rooms

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"interleave/scenarios/event"
)

// Question kinds: a number (how many updates will be lost?) or one of a
// few choices (which finishes first?).
const (
	KindNumber = "number"
	KindChoice = "choice"
)

// Question limits, for the messages that refuse a question or an answer.
const (
	MaxQuestionText = 300
	MaxChoiceText   = 100
	MinChoices      = 2
	MaxChoices      = 6
	// MaxAnswer bounds a number answer: no prediction here needs more.
	MaxAnswer = 1e12
)

// Measure says how a run answers a question: the run's summary metric
// Metric, from the presenter's next run of Scenario. For a choice question,
// Bins are the metric's values between the choices: choice i covers
// [Bins[i-1], Bins[i]), the first from -∞ and the last to +∞.
type Measure struct {
	Scenario string    `json:"scenario"`
	Metric   string    `json:"metric"`
	Bins     []float64 `json:"bins,omitempty"`
}

// Measured is a question's answer as a run measured it.
type Measured struct {
	Run   string  `json:"run"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
	// Label is the metric's own words (what exactly was measured).
	Label string `json:"label"`
	// Choice is the choice the value falls in (choice questions).
	Choice *int `json:"choice,omitempty"`
}

// QuestionSpec is a question as the presenter asks it.
type QuestionSpec struct {
	Text    string   `json:"text"`
	Kind    string   `json:"kind"`
	Choices []string `json:"choices,omitempty"`
	// Min and Max bound a number answer (both or neither).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Unit names what a number counts ("updates").
	Unit    string   `json:"unit,omitempty"`
	Measure *Measure `json:"measure,omitempty"`
}

// Check refuses a question whose fields are out of range, naming the field.
func (q QuestionSpec) Check() error {
	text := strings.TrimSpace(q.Text)
	switch {
	case text == "":
		return &InputError{Field: "text", Message: "empty; want the question, at most 300 characters"}
	case len([]rune(text)) > MaxQuestionText:
		return &InputError{Field: "text", Message: fmt.Sprintf("%d characters is too long; want at most %d", len([]rune(text)), MaxQuestionText)}
	case hasControl(text):
		return &InputError{Field: "text", Message: "control characters are not allowed"}
	}
	switch q.Kind {
	case KindNumber:
		if len(q.Choices) > 0 {
			return &InputError{Field: "choices", Message: "a number question has no choices; give kind choice, or no choices"}
		}
		if (q.Min == nil) != (q.Max == nil) || q.Min != nil && !(*q.Min < *q.Max) {
			return &InputError{Field: "max", Message: "min and max go together, with min < max"}
		}
	case KindChoice:
		if len(q.Choices) < MinChoices || len(q.Choices) > MaxChoices {
			return &InputError{Field: "choices", Message: fmt.Sprintf("%d choices; want %d to %d", len(q.Choices), MinChoices, MaxChoices)}
		}
		for i, c := range q.Choices {
			c = strings.TrimSpace(c)
			if c == "" || len([]rune(c)) > MaxChoiceText || hasControl(c) {
				return &InputError{Field: "choices", Message: fmt.Sprintf("choice %d: want 1 to %d characters of text", i+1, MaxChoiceText)}
			}
		}
		if q.Measure != nil && len(q.Measure.Bins) != len(q.Choices)-1 {
			return &InputError{Field: "measure", Message: "a choice question's measure needs one bin edge between each two choices"}
		}
	case "":
		return &InputError{Field: "kind", Message: "missing; want number or choice"}
	default:
		return &InputError{Field: "kind", Message: fmt.Sprintf("%q is not allowed; want number or choice", shorten(q.Kind, 20))}
	}
	return nil
}

// question is a question asked in a room, with its answers.
type question struct {
	id    string
	spec  QuestionSpec
	asked time.Time
	open  bool
	// answers maps an attendee's hash to their answer (a number, or a
	// choice's index); order keeps the hashes in arrival order.
	answers map[string]float64
	order   []string
	// run is the presenter's run bound to measure the question.
	run      string
	measured *Measured
	// note says why a bound run measured nothing.
	note string

	seq uint64
	msg []byte
}

// QuestionState is a question as everyone sees it: the answers counted
// (choices) or listed (numbers, in arrival order), never who gave them.
type QuestionState struct {
	ID string `json:"id"`
	QuestionSpec
	Asked   time.Time `json:"asked"`
	Open    bool      `json:"open"`
	Answers int       `json:"answers"`
	// Values are the number answers; Counts the answers per choice.
	Values []float64 `json:"values,omitempty"`
	Counts []int     `json:"counts,omitempty"`
	// Run is the run that measures (or measured) the question.
	Run      string    `json:"run,omitempty"`
	Measured *Measured `json:"measured,omitempty"`
	Note     string    `json:"note,omitempty"`
}

func (q *question) state() QuestionState {
	s := QuestionState{ID: q.id, QuestionSpec: q.spec, Asked: q.asked, Open: q.open, Answers: len(q.order),
		Run: q.run, Measured: q.measured, Note: q.note}
	if q.spec.Kind == KindChoice {
		s.Counts = make([]int, len(q.spec.Choices))
		for _, h := range q.order {
			s.Counts[int(q.answers[h])]++
		}
	} else {
		s.Values = make([]float64, 0, len(q.order))
		for _, h := range q.order {
			s.Values = append(s.Values, q.answers[h])
		}
	}
	return s
}

// Ask adds a question, open for answers, and returns its id. A room keeps
// at most Config.MaxQuestions.
func (r *Room) Ask(spec QuestionSpec) (string, error) {
	if err := spec.Check(); err != nil {
		return "", err
	}
	spec.Text = strings.TrimSpace(spec.Text)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.questions) >= r.hub.cfg.MaxQuestions {
		return "", &LimitError{What: fmt.Sprintf("questions: room %s already has %d questions, its limit", r.code, r.hub.cfg.MaxQuestions), Limit: r.hub.cfg.MaxQuestions}
	}
	r.nextQ++
	q := &question{id: fmt.Sprintf("q%d", r.nextQ), spec: spec, asked: r.hub.cfg.Now().UTC(), open: true, answers: map[string]float64{}}
	r.questions = append(r.questions, q)
	r.publishQuestionLocked(q)
	r.changedLocked()
	r.broadcastLocked()
	return q.id, nil
}

// findLocked returns question id.
func (r *Room) findLocked(id string) (*question, error) {
	for _, q := range r.questions {
		if q.id == id {
			return q, nil
		}
	}
	return nil, &NotFoundError{Code: r.code + " question " + shorten(id, 12)}
}

// CloseQuestion stops the answers to question id.
func (r *Room) CloseQuestion(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, err := r.findLocked(id)
	if err != nil {
		return err
	}
	if q.open {
		q.open = false
		r.publishQuestionLocked(q)
		r.changedLocked()
		r.broadcastLocked()
	}
	return nil
}

// Answer records attendee's answer to question id: one answer each, while
// the question is open. A number must be finite and within the question's
// bounds; a choice is the index of one of its choices.
func (r *Room) Answer(id, attendee string, value float64) error {
	h := hashToken(attendee)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.attendees[h]; !ok {
		return &ForbiddenError{Action: "be answered by joined attendees; open the room's page first to join"}
	}
	q, err := r.findLocked(id)
	if err != nil {
		return err
	}
	if !q.open {
		return &ConflictError{Message: fmt.Sprintf("question %s is closed: answers are no longer taken", q.id)}
	}
	if _, done := q.answers[h]; done {
		return &ConflictError{Message: fmt.Sprintf("question %s: you have already answered; one answer per attendee", q.id)}
	}
	if err := q.spec.checkAnswer(value); err != nil {
		return err
	}
	q.answers[h] = value
	q.order = append(q.order, h)
	r.changedLocked()
	r.staleQuestions[q] = true
	r.scheduleLocked()
	return nil
}

// checkAnswer refuses a value the question does not take, naming "value".
func (q QuestionSpec) checkAnswer(v float64) error {
	if q.Kind == KindChoice {
		if v != math.Trunc(v) || v < 0 || int(v) >= len(q.Choices) {
			return &InputError{Field: "value", Message: fmt.Sprintf("%s is not allowed; want the number of a choice, from 0 to %d", formatFloat(v), len(q.Choices)-1)}
		}
		return nil
	}
	lo, hi := -MaxAnswer, MaxAnswer
	if q.Min != nil {
		lo, hi = *q.Min, *q.Max
	}
	if math.IsNaN(v) || v < lo || v > hi {
		return &InputError{Field: "value", Message: fmt.Sprintf("%s is not allowed; want a number from %s to %s", formatFloat(v), formatFloat(lo), formatFloat(hi))}
	}
	return nil
}

// Answered returns attendee's answers, by question id.
func (r *Room) Answered(attendee string) map[string]float64 {
	h := hashToken(attendee)
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]float64{}
	for _, q := range r.questions {
		if v, ok := q.answers[h]; ok {
			out[q.id] = v
		}
	}
	return out
}

// Questions returns every question as everyone sees it, oldest first.
func (r *Room) Questions() []QuestionState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]QuestionState, len(r.questions))
	for i, q := range r.questions {
		out[i] = q.state()
	}
	return out
}

// bindLocked gives the presenter's run e the questions it measures: those
// of its scenario with a measure, not yet measured nor waiting for a run.
func (r *Room) bindLocked(e *RunEntry) []string {
	var ids []string
	for _, q := range r.questions {
		if q.spec.Measure == nil || q.spec.Measure.Scenario != e.Scenario || q.measured != nil || q.run != "" {
			continue
		}
		q.run, q.open, q.note = e.ID, false, ""
		ids = append(ids, q.id)
		r.publishQuestionLocked(q)
	}
	if len(ids) > 0 {
		r.broadcastLocked()
	}
	return ids
}

// RunEnded gives the questions bound to run id their measured answer from
// the run's summary; a run that ended otherwise than done, or without the
// metric, leaves them to the presenter's next run, and says why.
func (r *Room) RunEnded(id, status string, summary *event.Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, q := range r.questions {
		if q.run != id || q.measured != nil {
			continue
		}
		changed = true
		m, ok := event.Metric{}, false
		if summary != nil {
			m, ok = summary.Metrics[q.spec.Measure.Metric]
		}
		switch {
		case status != "done":
			q.run, q.note = "", fmt.Sprintf("run %s ended %s before it measured this; the next run of %s will", id, status, q.spec.Measure.Scenario)
		case !ok:
			q.run, q.note = "", fmt.Sprintf("run %s did not measure %s; the next run of %s will", id, q.spec.Measure.Metric, q.spec.Measure.Scenario)
		default:
			q.measured = &Measured{Run: id, Value: m.Value, Unit: m.Unit, Label: m.Label}
			if q.spec.Kind == KindChoice {
				c := choiceOf(q.spec.Measure.Bins, m.Value)
				q.measured.Choice = &c
			}
			q.note = ""
		}
		r.publishQuestionLocked(q)
	}
	if changed {
		r.changedLocked()
		r.broadcastLocked()
	}
}

// choiceOf returns the choice whose bin holds v.
func choiceOf(bins []float64, v float64) int {
	i, _ := slices.BinarySearch(bins, v)
	if i < len(bins) && bins[i] == v {
		i++ // a value on an edge belongs to the bin above it
	}
	return i
}

// BoundRuns returns the runs that questions are waiting for.
func (r *Room) BoundRuns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.questions {
		if q.run != "" && q.measured == nil && !slices.Contains(out, q.run) {
			out = append(out, q.run)
		}
	}
	return out
}

// formatFloat writes a number without an exponent or a trailing .0.
func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%g", f)
}
