package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const benchOutput = `goos: linux
BenchmarkPipeline-2   	       3	3487040576 ns/op	      2264 cpu-ns/event	    586776 events/s
BenchmarkPipeline-2   	       3	3387040576 ns/op	      2063 cpu-ns/event	    612412 events/s
BenchmarkPipelineOther-2   	       3	1 ns/op	      1 events/s
BenchmarkExport/gzip-2   	       3	750000000 ns/op	      7.5 MiB
PASS
`

func TestMetricReadsBenchmarkUnitsAsARange(t *testing.T) {
	got, err := metric("Pipeline", "events/s", 1e-6, "**%.2fM events/s**")(benchOutput)
	if err != nil || got != "**0.59M events/s**–**0.61M events/s**" {
		t.Errorf("got %q, %v", got, err)
	}
	if got, _ := metric("Export/gzip", "MiB", 1, "%.1f MiB")(benchOutput); got != "7.5 MiB" {
		t.Errorf("sub-benchmark metric = %q", got)
	}
	if _, err := metric("Pipeline", "MiB", 1, "%.1f")(benchOutput); err == nil {
		t.Error("a unit the benchmark did not report was read")
	}
}

func TestLoggedAndEach(t *testing.T) {
	out := "    x_test.go:1: switch 5 ms: hand-off median 5.15 ms\n    x_test.go:1: switch 20 ms: hand-off median 20.2 ms\n    x_test.go:2: attempt 1: 1.62x\n    x_test.go:2: attempt 2: 1.78x\n--- PASS: TestThing (1.00s)\n"
	if got, _ := each(`switch ([\d.]+) ms: hand-off median ([\d.]+) ms`, "%[2]s ms at %[1]s")(out); got != "5.15 ms at 5, 20.2 ms at 20" {
		t.Errorf("each = %q", got)
	}
	if got, _ := logged(`: ([\d.]+)x`, "%.2fx")(out); got != "1.62x–1.78x" {
		t.Errorf("logged = %q", got)
	}
	if got, _ := passed("TestThing", "ok")(out); got != "ok" {
		t.Errorf("passed = %q", got)
	}
	if _, err := passed("TestOther", "ok")(out); err == nil {
		t.Error("a test that did not run passed")
	}
}

func TestSplitWordsKeepsQuotedWordsAndEnvironment(t *testing.T) {
	got, err := splitWords(`A=1 go test ./server -run '^$' -bench 'A|B C'`)
	want := []string{"A=1", "go", "test", "./server", "-run", "^$", "-bench", "A|B C"}
	if err != nil || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("splitWords = %q, %v", got, err)
	}
	if _, err := splitWords(`go 'x`); err == nil {
		t.Error("an unbalanced quote was accepted")
	}
}

func TestRenderAndReplaceKeepTheRestOfTheDoc(t *testing.T) {
	table := Table{Name: "t", Header: []string{"measure", "measured"}, Rows: [][]Cell{
		{text("speed"), measured("cmd", metric("Pipeline", "events/s", 1e-6, "%.2fM"))},
		{text("missing"), measured("cmd", metric("Pipeline", "MiB", 1, "%.0f"))},
	}}
	body, missing := render(table, map[string]string{"cmd": benchOutput}, "Measured today.")
	if !strings.Contains(body, "| speed | 0.59M–0.61M |") || !strings.Contains(body, "| missing | not measured |") || len(missing) != 1 {
		t.Errorf("body %q, missing %v", body, missing)
	}
	doc := "# Title\n\nProse.\n\n<!-- figures: t -->\nold table\n<!-- /figures -->\n\nMore prose.\n"
	out, err := replaceBlock([]byte(doc), "t", body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "# Title\n\nProse.\n\n<!-- figures: t -->\nMeasured today.") || !strings.HasSuffix(string(out), "<!-- /figures -->\n\nMore prose.\n") || strings.Contains(string(out), "old table") {
		t.Errorf("replaced doc:\n%s", out)
	}
	if _, err := replaceBlock([]byte(doc), "u", body); err == nil {
		t.Error("a table without markers was written")
	}
}

// TestEveryTableHasItsMarkers checks that each table of tables.go has its
// place in its doc, so that a run of the program never stops half way.
func TestEveryTableHasItsMarkers(t *testing.T) {
	for _, table := range tables {
		b, err := os.ReadFile(filepath.Join("..", "..", table.Doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := replaceBlock(b, table.Name, ""); err != nil {
			t.Errorf("%s: %v", table.Doc, err)
		}
		for _, row := range table.Rows {
			if len(row) != len(table.Header) {
				t.Errorf("%s: row %q has %d cells for %d columns", table.Name, row[0].Text, len(row), len(table.Header))
			}
		}
	}
}

func TestBothBuildsRowsReadTheirTwoCells(t *testing.T) {
	out := "    bothbuilds_test.go:119: both builds | locks, `counter += 1`, 4 × 100,000, no lock | 0 of 400000 lost | 50728 of 400000 lost |\n"
	rows := bothBuildsTable()
	var row []Cell
	for _, r := range rows {
		if r[0].Text == "locks, `counter += 1`, 4 × 100,000, no lock" {
			row = r
		}
	}
	if row == nil {
		t.Fatal("no locks row")
	}
	for i, want := range []string{"0 of 400000 lost", "50728 of 400000 lost"} {
		got, err := row[i+1].Read(out)
		if err != nil || got != want {
			t.Errorf("cell %d = %q, %v; want %q", i+1, got, err, want)
		}
	}
}
