package gotrace

import (
	"bytes"
	"context"
	"errors"
	"runtime/trace"
	"sync"
	"testing"
	"time"

	"interleave/scenarios/event"
)

// SmallTrace records a real execution trace of a few goroutines contending
// for a mutex, sleeping and talking over a channel.
func SmallTrace(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("runtime/trace unavailable (another trace running?): %v", err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan int)
	for i := range 4 {
		wg.Go(func() {
			trace.Log(context.Background(), "worker", "start")
			for range 50 {
				mu.Lock()
				x := 0
				for j := range 20000 {
					x += j
				}
				_ = x
				mu.Unlock()
			}
			time.Sleep(time.Millisecond)
			if i == 0 {
				ch <- 1
			}
		})
	}
	<-ch
	wg.Wait()
	trace.Stop()
	return buf.Bytes()
}

func TestConvertRealTrace(t *testing.T) {
	data := SmallTrace(t)
	var evs []event.Event
	res, err := Convert(bytes.NewReader(data), 1_000_000, func(ev *event.Event) { evs = append(evs, *ev) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(evs) {
		t.Errorf("result counts %d events, %d were emitted", res.Events, len(evs))
	}
	lanes := map[string]string{}
	states := map[string]int{}
	flows, marks := 0, 0
	lastT := map[string]int64{}
	for _, ev := range evs {
		switch ev.K {
		case event.KindLane:
			if ev.Group != Group {
				t.Errorf("lane %s has group %q, want %q", ev.ID, ev.Group, Group)
			}
			lanes[ev.ID] = ev.Kind
		case event.KindState:
			if _, ok := lanes[ev.Lane]; !ok {
				t.Fatalf("state for lane %s before its lane event", ev.Lane)
			}
			if ev.T < lastT[ev.Lane] {
				t.Fatalf("lane %s goes back in time: %d after %d", ev.Lane, ev.T, lastT[ev.Lane])
			}
			lastT[ev.Lane] = ev.T
			states[ev.S]++
		case event.KindFlow:
			flows++
		case event.KindMark:
			marks++
		}
	}
	cpus, gs := 0, 0
	for _, k := range lanes {
		switch k {
		case event.LaneCPU:
			cpus++
		case event.LaneGoroutine:
			gs++
		}
	}
	if cpus == 0 || gs < 5 {
		t.Errorf("%d P lanes and %d goroutine lanes; want Ps and the 4 workers plus main", cpus, gs)
	}
	for _, s := range []string{event.Running, event.Runnable, event.Sleep, event.Done} {
		if states[s] == 0 {
			t.Errorf("no %s state; states %v", s, states)
		}
	}
	if flows < 4 {
		t.Errorf("%d flows, want a creation arrow per worker", flows)
	}
	if marks < 4 {
		t.Errorf("%d marks, want the workers' trace.Log messages", marks)
	}
	end := evs[len(evs)-1]
	if end.K != event.KindEnd || end.Summary == nil || end.Summary.WallNS <= 0 {
		t.Errorf("last event %+v, want the end with the trace's span", end)
	}
	t.Logf("%d bytes of trace -> %d trace events -> %d timeline events (%d goroutines, %d Ps); states %v",
		len(data), res.TraceEvents, len(evs), res.Goroutines, res.Procs, states)
}

func TestConvertCapsEvents(t *testing.T) {
	n := 0
	res, err := Convert(bytes.NewReader(SmallTrace(t)), 50, func(*event.Event) { n++ })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || n != 52 || res.Events != 51 { // 50, the mark, the end
		t.Errorf("truncated %v with %d events (%d counted), want 50 + mark + end", res.Truncated, n, res.Events)
	}
}

func TestConvertRejectsBadFiles(t *testing.T) {
	data := SmallTrace(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a trace at all, just some text\n")},
		{"header only", data[:16]},
		{"truncated in half", data[:len(data)/2]},
		{"truncated near the end", data[:len(data)-7]},
		{"corrupted", corrupt(data)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert(bytes.NewReader(tt.data), 1000, func(*event.Event) {})
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v, want a *FormatError", err)
			}
			t.Logf("%v", err)
		})
	}
}

// corrupt flips bytes in the middle of a trace.
func corrupt(data []byte) []byte {
	out := bytes.Clone(data)
	for i := len(out) / 3; i < len(out)/3+64 && i < len(out); i++ {
		out[i] ^= 0xa5
	}
	return out
}

// TestConvertSurvivesDamage flips bytes all over a real trace: every result
// is a trace or a *FormatError, never a panic or a hang.
func TestConvertSurvivesDamage(t *testing.T) {
	data := SmallTrace(t)
	step := max(len(data)/300, 1)
	rejected := 0
	for i := 16; i < len(data); i += step {
		bad := bytes.Clone(data)
		bad[i] ^= 0xff
		_, err := Convert(bytes.NewReader(bad), 1000, func(*event.Event) {})
		var fe *FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("flip at %d: err %v, want nil or a *FormatError", i, err)
		}
		if err != nil {
			rejected++
		}
	}
	t.Logf("%d of %d damaged traces rejected", rejected, (len(data)-16+step-1)/step)
}
