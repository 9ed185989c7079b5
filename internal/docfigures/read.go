package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Table is one generated table of a doc.
type Table struct {
	// Doc is the file, from the module's root; Name is the table's marker.
	Doc, Name string
	// Intro follows the date and machine line; Note follows the table.
	Intro, Note string
	Header      []string
	Rows        [][]Cell
}

// Cell is fixed text, or a figure read from a command's output.
type Cell struct {
	Text string
	Cmd  string
	Read func(output string) (string, error)
}

// text is a fixed cell.
func text(s string) Cell { return Cell{Text: s} }

// code is a fixed cell showing a command.
func code(cmd string) Cell { return Cell{Text: "`" + cmd + "`"} }

// measured is a figure read by read from what cmd printed.
func measured(cmd string, read func(string) (string, error)) Cell {
	return Cell{Cmd: cmd, Read: read}
}

// metric reads what benchmark bench reported in unit (go test -bench's
// "value unit" pairs), times scale, written with format; several runs
// (-count) make a range.
func metric(bench, unit string, scale float64, format string) func(string) (string, error) {
	return func(out string) (string, error) {
		var vals []float64
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || !benchName(f[0], bench) {
				continue
			}
			for i := 2; i < len(f); i++ {
				if f[i] == unit {
					if v, err := strconv.ParseFloat(f[i-1], 64); err == nil {
						vals = append(vals, v*scale)
					}
				}
			}
		}
		if len(vals) == 0 {
			return "", fmt.Errorf("benchmark %s reported no %q", bench, unit)
		}
		return spread(vals, format), nil
	}
}

// benchName reports whether field is benchmark bench's result line name:
// "BenchmarkPipeline-2" (the -N is GOMAXPROCS, absent when it is 1), and
// for a sub-benchmark "BenchmarkExport/gzip-2" with bench "Export/gzip".
func benchName(field, bench string) bool {
	if i := strings.LastIndexByte(field, '-'); i > 0 {
		if _, err := strconv.Atoi(field[i+1:]); err == nil {
			field = field[:i]
		}
	}
	return field == "Benchmark"+bench
}

// spread writes one value, or the lowest and highest of several.
func spread(vals []float64, format string) string {
	lo, hi := slices.Min(vals), slices.Max(vals)
	a, b := fmt.Sprintf(format, lo), fmt.Sprintf(format, hi)
	if a == b {
		return a
	}
	return a + "–" + b
}

// logged reads the number a test logged, group 1 of pattern, written
// with format; several matches (attempts, -count) make a range.
func logged(pattern, format string) func(string) (string, error) {
	re := regexp.MustCompile(pattern)
	return func(out string) (string, error) {
		var vals []float64
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return "", fmt.Errorf("no log line matches %q", pattern)
		}
		return spread(vals, format), nil
	}
}

// each writes every distinct match of pattern with its groups in format
// (the groups as logged), joined by ", ": for a test that logs one line
// per setting ("hand-off 5.1 ms at 5, 20.2 ms at 20").
func each(pattern, format string) func(string) (string, error) {
	re := regexp.MustCompile(pattern)
	return func(out string) (string, error) {
		var parts []string
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			args := make([]any, len(m)-1)
			for i, g := range m[1:] {
				args[i] = g
			}
			if s := fmt.Sprintf(format, args...); !slices.Contains(parts, s) {
				parts = append(parts, s)
			}
		}
		if len(parts) == 0 {
			return "", fmt.Errorf("no log line matches %q", pattern)
		}
		return strings.Join(parts, ", "), nil
	}
}

// passed writes text when test passed (its assertions are the figure).
func passed(test, text string) func(string) (string, error) {
	return func(out string) (string, error) {
		switch {
		case strings.Contains(out, "--- PASS: "+test+" "):
			return text, nil
		case strings.Contains(out, "--- FAIL: "+test+" "):
			return "**failed**", nil
		case strings.Contains(out, "--- SKIP: "+test+" "):
			return "", fmt.Errorf("%s was skipped", test)
		}
		return "", fmt.Errorf("%s did not run", test)
	}
}

// both joins two readings of one output: "a; b".
func both(a, b func(string) (string, error), sep string) func(string) (string, error) {
	return func(out string) (string, error) {
		x, err := a(out)
		if err != nil {
			return "", err
		}
		y, err := b(out)
		if err != nil {
			return "", err
		}
		return x + sep + y, nil
	}
}
