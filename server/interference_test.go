package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

// startSpinner starts a process outside any run that keeps one core busy
// until the test ends: the other program a run must notice.
func startSpinner(t *testing.T) {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = []string{testRoleEnv + "=spin"}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
}

func TestABusyMachineIsMeasuredAndSaidInTheSummary(t *testing.T) {
	timingclaim.Heavy(t) // it keeps a core busy on purpose
	ts := newTestServer(t, nil, &floodEngine{events: 10, sleep: 1200 * time.Millisecond})
	startSpinner(t)
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	v := ts.watch(t, id)
	if v.final() != StatusDone {
		t.Fatalf("final status %q", v.final())
	}
	var samples []float64
	endAt := -1
	for i, ev := range v.events {
		switch {
		case ev.K == event.KindCounter && ev.Name == LoadCounter:
			if endAt >= 0 {
				t.Errorf("a load sample after the end event: %+v", ev)
			}
			samples = append(samples, *ev.V)
		case ev.K == event.KindEnd:
			endAt = i
		}
	}
	t.Logf("load samples over a 1.2 s run: %v", samples)
	if len(samples) < 3 {
		t.Errorf("%d samples of the other programs' load in a 1.2 s run, want one every %v", len(samples), LoadEvery)
	}
	var s event.Summary
	if err := json.Unmarshal(ts.info(t, id).Summary, &s); err != nil {
		t.Fatal(err)
	}
	other, observer := s.Metrics[event.MetricOtherLoad], s.Metrics[event.MetricObserverLoad]
	t.Logf("other_load %+v, observer_load %+v, caveat %q", other, observer, s.Caveat)
	if other.Unit != event.UnitCores || observer.Unit != event.UnitCores {
		t.Errorf("load metrics %+v and %+v, want them in cores", other, observer)
	}
	// The spinner alone keeps a core busy (other engineers' work can only add).
	if other.Value < 0.7 {
		t.Errorf("other_load = %v cores while another process spun on a core", other.Value)
	}
	if observer.Value > 0.2 {
		t.Errorf("observer_load = %v cores for a run that sent 10 events", observer.Value)
	}
	if !strings.HasPrefix(s.Caveat, "Disturbed: other programs on this machine used ") {
		t.Errorf("caveat %q, want it to say the run was disturbed and by how much", s.Caveat)
	}
}

// TestObserverLoadOfAQuietRun measures what the server itself costs while a
// run executes and sends almost nothing: its samples of the machine's
// load, the memory watch of the run's processes and the store's ticks must
// leave the cores to the run.
func TestObserverLoadOfAQuietRun(t *testing.T) {
	timingclaim.Claim(t) // a measure of the server's CPU: not under the race detector, not next to a browser
	ts := newTestServer(t, nil, &floodEngine{events: 10, sleep: 2 * time.Second})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	var s event.Summary
	if err := json.Unmarshal(waitStatus(t, ts, id, StatusDone).Summary, &s); err != nil {
		t.Fatal(err)
	}
	observer := s.Metrics[event.MetricObserverLoad]
	t.Logf("observer_load %.3f cores over a 2 s run of 10 events", observer.Value)
	// Measured 0.03-0.04 on a loaded 2-core machine (most of it the
	// sampling and the memory watch reading /proc).
	if observer.Value > 0.06 {
		t.Errorf("the server used %.3f cores while a quiet run executed, want at most 0.06", observer.Value)
	}
}
