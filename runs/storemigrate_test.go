package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// schemaV1 is the store as version 1 wrote it: no checksums, no
// comparison column, no damage notes.
const schemaV1 = `
CREATE TABLE runs (
	n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, scenario TEXT NOT NULL, engine TEXT NOT NULL, params TEXT NOT NULL,
	status TEXT NOT NULL, summary TEXT, created INTEGER NOT NULL, finished INTEGER, source_version TEXT NOT NULL,
	pinned INTEGER NOT NULL DEFAULT 0, events INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
	stored_bytes INTEGER NOT NULL DEFAULT 0, peak_rss INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_scenario ON runs (scenario, engine, n);
CREATE TABLE events (run INTEGER NOT NULL, seq INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run, seq));
CREATE TABLE comparisons (id TEXT PRIMARY KEY, created INTEGER NOT NULL, data TEXT NOT NULL);
PRAGMA user_version = 1;
`

// TestVersion1StoreIsUpgraded opens a store written by version 1: its runs
// replay (their chunks have no checksum), and a comparison's runs now name
// it, so that retention keeps them with it.
func TestVersion1StoreIsUpgraded(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schemaV1); err != nil {
		t.Fatal(err)
	}
	lines := stateLines(3000)
	var codec chunkCodec
	now := time.Now().UnixNano()
	for i, id := range []string{"alone", "model1", "model2"} {
		data, _, _ := codec.encode(lines)
		if _, err := db.Exec(`INSERT INTO runs (n, id, scenario, engine, params, status, created, finished, source_version, events, stored_bytes)
			VALUES (?, ?, 'locks', 'go', '{}', 'done', ?, ?, 'src:x', ?, ?)`, i+1, id, now+int64(i), now+int64(i), len(lines), len(data)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO events (run, seq, n, data) VALUES (?, 0, ?, ?)`, i+1, len(lines), data); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := json.Marshal(ComparisonRecord{ID: "cmp", Workload: "cpu", Engine: "go", Status: StatusDone, Created: time.Unix(0, now),
		Runs: map[string]string{"threads": "model1", "processes": "model2"}})
	if _, err := db.Exec(`INSERT INTO comparisons (id, created, data) VALUES ('cmp', ?, ?)`, now, string(rec)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st := openTestStore(t, dir, 100, 1<<30)
	var version int
	st.db.QueryRow(`PRAGMA user_version`).Scan(&version)
	if version != storeVersion {
		t.Errorf("user_version %d after opening, want %d", version, storeVersion)
	}
	for _, id := range []string{"model1", "model2"} {
		var comparison sql.NullString
		st.db.QueryRow(`SELECT comparison FROM runs WHERE id = ?`, id).Scan(&comparison)
		if comparison.String != "cmp" {
			t.Errorf("run %s names comparison %q, want cmp", id, comparison.String)
		}
	}
	var status string
	st.db.QueryRow(`SELECT status FROM comparisons WHERE id = 'cmp'`).Scan(&status)
	if status != StatusDone {
		t.Errorf("comparison status column %q", status)
	}
	run, err := st.load(context.Background(), "alone")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := run.log.read(0, len(lines))
	if err != nil {
		t.Fatalf("replay of a version 1 run: %v", err)
	}
	sameLines(t, "version 1 replay", snap.Lines, lines)
}
