package server

import (
	"bytes"
	"log/slog"
	"strconv"
	"testing"

	"interleave/runs"
	"interleave/scenarios/event"
)

// The run manager's names the server's tests use, as they were before it
// moved to package runs.
const (
	StatusQueued      = runs.StatusQueued
	StatusRunning     = runs.StatusRunning
	StatusDone        = runs.StatusDone
	StatusFailed      = runs.StatusFailed
	StatusCancelled   = runs.StatusCancelled
	StatusTimeout     = runs.StatusTimeout
	StatusInterrupted = runs.StatusInterrupted
	StoreFile         = runs.StoreFile
)

type (
	Run        = runs.Run
	Info       = runs.Info
	RunRequest = runs.RunRequest
	Store      = runs.Store
)

var (
	OpenStore       = runs.OpenStore
	LoadCounter     = runs.LoadCounter
	LoadEvery       = runs.LoadEvery
	MaxWriteBackoff = runs.MaxWriteBackoff
)

// The store's test fixtures, as runs' own tests have them.

// openTestStore opens a store in dir and closes it when the test ends.
func openTestStore(t testing.TB, dir string, keepRuns int, keepBytes int64) *Store {
	t.Helper()
	st, err := OpenStore(dir, keepRuns, keepBytes, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// stateLines returns n varied event lines: lanes, states, flows, counters.
func stateLines(n int) [][]byte {
	states := []string{event.Running, event.Runnable, event.LockWait, event.Sleep}
	lines := make([][]byte, 0, n)
	for i := 0; len(lines) < n; i++ {
		lane := "worker-" + strconv.Itoa(i%8)
		t := int64(i) * 137
		var ev event.Event
		switch {
		case i < 8:
			ev = event.Event{T: t, K: event.KindLane, ID: lane, Kind: event.LaneGoroutine, Name: "worker " + strconv.Itoa(i)}
		case i%97 == 0:
			ev = event.Event{T: t, K: event.KindFlow, From: lane, To: "worker-" + strconv.Itoa((i+1)%8), Label: "wake-up"}
		case i%89 == 0:
			ev = event.Event{T: t, K: event.KindCounter, Name: "counter", V: event.Float(float64(i))}
		default:
			ev = event.Event{T: t, K: event.KindState, Lane: lane, S: states[(i/8)%len(states)], Why: "flood", Src: event.SrcApp}
		}
		lines = append(lines, event.Marshal(&ev))
	}
	return lines
}

// sameLines fails unless got holds exactly want's lines, in order.
func sameLines(t *testing.T, name string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", name, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: event %d is %s, want %s", name, i, got[i], want[i])
		}
	}
}
