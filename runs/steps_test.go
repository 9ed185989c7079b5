package runs

import (
	"errors"
	"testing"
	"time"
)

// TestStepClock: a step run's deadline counts while it executes on its
// own, not while it waits for its learner; then the idle limit counts,
// from the last step.
func TestStepClock(t *testing.T) {
	causes := make(chan error, 4)
	cancel := func(err error) { causes <- err }
	c := newStepClock(cancel, 100*time.Millisecond, 300*time.Millisecond)
	c.learnersTurn()
	select {
	case err := <-causes:
		t.Fatalf("cancelled (%v) within 200 ms while the learner's turn: the deadline must not count", err)
	case <-time.After(200 * time.Millisecond): // past the deadline, short of the idle limit
	}
	c.stepped() // the idle limit counts again from here
	select {
	case err := <-causes:
		t.Fatalf("cancelled (%v) 200 ms after a step, want the idle limit of 300 ms to count from the step", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := <-causes; !errors.Is(err, errStepIdle) {
		t.Errorf("cause %v, want the idle limit", err)
	}
	c.onItsOwn() // running freely: the deadline counts
	if err := <-causes; !errors.Is(err, errDeadline) {
		t.Errorf("cause %v, want the deadline", err)
	}
	c.stop()
}
