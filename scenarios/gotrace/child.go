package gotrace

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"interleave/scenarios/event"
)

// Converting a trace runs in a child process (the server's own binary with
// its role variable set to ChildRole), not in the server: the parser holds
// a whole generation of the trace in memory (tens of MiB for a dense one),
// and a hostile file must be able to cost no more than a killed child. The
// child reads the trace on stdin, writes its events as JSON lines on
// stdout, and ends with one ChildReport as JSON on stderr.
const (
	// ChildRole is the role of the converting child.
	ChildRole = "gotrace-import"
	// MaxEventsEnv carries the event cap (Convert's maxEvents) to the child.
	MaxEventsEnv = "INTERLEAVE_IMPORT_MAX_EVENTS"
)

// ChildReport is the child's last word: what Convert returned.
type ChildReport struct {
	Result *Result `json:"result,omitempty"`
	// Error is Convert's error; Format says it was a *FormatError (a bad
	// file, the user's mistake) rather than a failure to read or write.
	Error  string `json:"error,omitempty"`
	Format bool   `json:"format,omitempty"`
}

// ChildMain is the converting child: it converts the trace on stdin, with
// the event cap in MaxEventsEnv, and returns the process's exit code (0
// when the trace converted, 2 when it did not).
func ChildMain() int {
	max, err := strconv.Atoi(os.Getenv(MaxEventsEnv))
	if err != nil || max < 1 {
		return reportChild(os.Stderr, ChildReport{Error: fmt.Sprintf("%s=%q: want a positive whole number", MaxEventsEnv, os.Getenv(MaxEventsEnv))})
	}
	return convertChild(os.Stdin, os.Stdout, os.Stderr, max)
}

// convertChild converts in to event lines on out and reports on report.
func convertChild(in io.Reader, out, report io.Writer, maxEvents int) int {
	w := bufio.NewWriterSize(out, 64<<10)
	var buf []byte
	var werr error
	res, err := Convert(bufio.NewReaderSize(in, 64<<10), maxEvents, func(ev *event.Event) {
		if werr != nil {
			return
		}
		buf = append(event.Append(buf[:0], ev), '\n')
		_, werr = w.Write(buf)
	})
	if err == nil {
		err = werr
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		var fe *FormatError
		return reportChild(report, ChildReport{Error: err.Error(), Format: errors.As(err, &fe)})
	}
	return reportChild(report, ChildReport{Result: res})
}

func reportChild(w io.Writer, r ChildReport) int {
	b, _ := json.Marshal(r)
	fmt.Fprintf(w, "%s\n", b)
	if r.Error != "" {
		return 2
	}
	return 0
}
