package runs

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

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

// testRun is a live run fed by the test, not by a child.
func testRun(scenario string) *Run {
	return &Run{ID: NewID(), Scenario: scenario, Engine: scenarios.EngineGo, Params: scenarios.Params{"workers": int64(3), "lock": true},
		Created: time.Now().UTC(), SourceVersion: sourceVersion("package main"), log: newRunLog(StatusQueued), done: make(chan struct{})}
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

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, 100, 1<<30)
	run := testRun("locks")
	saved := make(chan struct{})
	if err := st.record(run, func() { close(saved) }); err != nil {
		t.Fatal(err)
	}
	lines := stateLines(30_000)
	run.log.setStatus(StatusRunning, 0)
	for i := 0; i < len(lines); i += 1000 { // arrives in batches while the writer flushes
		run.log.append(lines[i : i+1000]...)
		run.mu.Lock()
		run.events += 1000
		run.mu.Unlock()
	}
	end := event.Marshal(&event.Event{T: 1e9, K: event.KindEnd, Summary: &event.Summary{WallNS: 1e9, Metrics: map[string]event.Metric{"lost": {Value: 0, Label: "lost updates"}}, Verdict: "none lost"}})
	run.log.append(end)
	lines = append(lines, end)
	run.mu.Lock()
	run.summary = json.RawMessage(`{"wall_ns":1000000000,"cpu_ns":0,"metrics":{"lost":{"value":0,"unit":"","label":"lost updates"}},"verdict":"none lost"}`)
	run.peakRSS = 12345
	run.mu.Unlock()
	run.finish(StatusDone)
	select {
	case <-saved:
	case <-time.After(10 * time.Second):
		t.Fatal("the run was not stored")
	}

	check := func(st *Store) {
		t.Helper()
		got, err := st.load(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		in := got.Info()
		if in.Status != StatusDone || in.Scenario != "locks" || in.Engine != "go" || in.Events != int64(len(lines)) ||
			in.PeakRSS != 12345 || in.SourceVersion != run.SourceVersion || !in.Created.Equal(run.Created) || in.Finished == nil {
			t.Errorf("stored info %+v", in)
		}
		if in.Params.Int("workers") != 3 || !in.Params.Bool("lock") {
			t.Errorf("params %v, want workers 3 and lock true", in.Params)
		}
		var sum event.Summary
		if err := json.Unmarshal(in.Summary, &sum); err != nil || sum.Verdict != "none lost" {
			t.Errorf("summary %s: %v", in.Summary, err)
		}
		var back [][]byte
		for cursor := 0; ; {
			snap, err := got.log.read(cursor, 4096)
			if err != nil {
				t.Fatal(err)
			}
			back = append(back, snap.Lines...)
			cursor += len(snap.Lines)
			if cursor >= snap.Total {
				if snap.Status != StatusDone {
					t.Errorf("stored log status %q", snap.Status)
				}
				break
			}
		}
		if len(back) != len(lines) {
			t.Fatalf("read back %d lines, want %d", len(back), len(lines))
		}
		for i := range lines {
			if !bytes.Equal(back[i], lines[i]) {
				t.Fatalf("line %d: got %s, want %s", i, back[i], lines[i])
			}
		}
	}
	check(st)
	// And after a restart on the same directory.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTestStore(t, dir, 100, 1<<30))
}

func TestStoreMarksUnfinishedRunsInterrupted(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, 100, 1<<30)
	run := testRun("locks")
	if err := st.record(run, nil); err != nil {
		t.Fatal(err)
	}
	run.log.setStatus(StatusRunning, 0)
	lines := stateLines(500)
	run.log.append(lines...)
	// Wait for the writer to have the lines in the database, then stop the
	// store with the run still running: as a crash would leave it.
	waitStored(t, st, run.ID, len(lines))
	st.Close()

	st2 := openTestStore(t, dir, 100, 1<<30)
	got, err := st2.load(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	in := got.Info()
	if in.Status != StatusInterrupted || in.Events != int64(len(lines)+1) {
		t.Fatalf("after restart: status %q with %d events, want interrupted with %d", in.Status, in.Events, len(lines)+1)
	}
	snap, err := got.log.read(len(lines), 10)
	if err != nil || len(snap.Lines) != 1 {
		t.Fatalf("last line: %v %q", err, snap.Lines)
	}
	var mark event.Event
	json.Unmarshal(snap.Lines[0], &mark)
	if mark.K != event.KindMark || !strings.HasPrefix(mark.Label, "interrupted") {
		t.Errorf("last event %s, want the interrupted mark", snap.Lines[0])
	}
}

// waitStored waits until the database holds n events of run id.
func waitStored(t testing.TB, st *Store, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int
		st.db.QueryRow(`SELECT coalesce(sum(events.n), 0) FROM events JOIN runs ON runs.n = events.run WHERE runs.id = ?`, id).Scan(&got)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store holds %d events of %s, want %d", got, id, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

// BenchmarkStoreWriter measures the writer alone: a finished 1,000,000-event
// run handed to the store, until its last chunk is committed.
// go test ./runs -run '^$' -bench StoreWriter -benchtime 3x
func BenchmarkStoreWriter(b *testing.B) {
	const n = 1_000_000
	st := openTestStore(b, b.TempDir(), 1<<20, 1<<40)
	lines := stateLines(n)
	for b.Loop() {
		run := testRun("locks")
		run.log.append(lines...)
		run.finish(StatusDone)
		saved := make(chan struct{})
		if err := st.record(run, func() { close(saved) }); err != nil {
			b.Fatal(err)
		}
		<-saved
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	reportDBSize(b, st, float64(n)*float64(b.N))
}

func TestOpenStoreRefusesUnknownFiles(t *testing.T) {
	t.Run("another schema", func(t *testing.T) {
		dir := t.TempDir()
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, StoreFile))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE runs (id TEXT)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if st, err := OpenStore(dir, 10, 1<<20, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "store version") {
			if st != nil {
				st.Close()
			}
			t.Errorf("OpenStore = %v, want a store version error", err)
		}
	})
	t.Run("not a database", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, StoreFile), bytes.Repeat([]byte("not sqlite "), 1000), 0o644)
		if st, err := OpenStore(dir, 10, 1<<20, slog.New(slog.DiscardHandler)); err == nil {
			st.Close()
			t.Error("OpenStore of a text file succeeded")
		}
	})
}

// TestOpenStoreRefusesEmptyOrForeignFilesUnlessReset: a 0-byte database
// used to start as an empty store without a word.
func TestOpenStoreRefusesEmptyOrForeignFilesUnlessReset(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name    string
		content []byte
		mention string
	}{
		{"empty", nil, "is empty (0 bytes)"},
		{"a text file", bytes.Repeat([]byte("not sqlite "), 1000), "is not an SQLite database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StoreFile)
			os.WriteFile(path, tt.content, 0o600)
			opts := StoreOptions{KeepRuns: 10, KeepBytes: 1 << 20, CacheBytes: 1 << 20}
			st, err := OpenStoreWith(dir, opts, logger)
			var bad *BadStoreError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), "-reset-store") {
				if st != nil {
					st.Close()
				}
				t.Fatalf("openStore = %v; want an error naming %s, saying it %s, and how to start afresh", err, path, tt.mention)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.content) {
				t.Fatal("the refused file was changed")
			}

			opts.ResetBad = true
			st, err = OpenStoreWith(dir, opts, logger)
			if err != nil {
				t.Fatalf("with ResetBad: %v", err)
			}
			defer st.Close()
			if _, _, err := st.List(context.Background(), RunFilter{Limit: 10}); err != nil {
				t.Errorf("the fresh store does not work: %v", err)
			}
			moved, _ := filepath.Glob(path + ".bad-*")
			if len(moved) != 1 {
				t.Fatalf("moved aside: %v", moved)
			}
			if got, _ := os.ReadFile(moved[0]); !bytes.Equal(got, tt.content) {
				t.Error("the file moved aside is not the original")
			}
		})
	}
}

// reportDBSize reports the database's size per 1,000,000 events.
func reportDBSize(b *testing.B, st *Store, events float64) {
	if _, err := st.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var pages, size int64
	st.db.QueryRow(`PRAGMA page_count`).Scan(&pages)
	st.db.QueryRow(`PRAGMA page_size`).Scan(&size)
	b.ReportMetric(float64(pages*size)/events*1e6/(1<<20), "MiB/1M-events")
}

// TestUnfinishedImportIsDeletedAtStart: an upload cut off by a stop of the
// server (its client never got an answer) leaves nothing after a restart.
func TestUnfinishedImportIsDeletedAtStart(t *testing.T) {
	dir := t.TempDir()
	st := openTestStore(t, dir, 100, 1<<30)
	imp, err := st.BeginImport(context.Background(), "import", "go-trace")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range stateLines(5000) {
		imp.Add(line)
	}
	if err := imp.writePending(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.load(context.Background(), imp.ID()); err == nil {
		t.Error("an import being written is served")
	}
	st.Close()

	st = openTestStore(t, dir, 100, 1<<30)
	var rows, chunks int
	st.db.QueryRow(`SELECT count(*) FROM runs`).Scan(&rows)
	st.db.QueryRow(`SELECT count(*) FROM events`).Scan(&chunks)
	if rows != 0 || chunks != 0 {
		t.Errorf("after a restart the store holds %d runs and %d chunks of an unfinished import", rows, chunks)
	}
}
