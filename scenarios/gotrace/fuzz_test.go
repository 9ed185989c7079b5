package gotrace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"interleave/scenarios/event"
)

// FuzzConvert feeds the trace importer arbitrary bytes, starting from a
// real trace and pieces of it (the committed corpus in
// testdata/fuzz/FuzzConvert; the target itself records no trace, since
// runtime/trace in a fuzzing worker stalls it): it must never panic, hang
// or emit past its cap; a file it rejects is a *FormatError; a file it
// accepts becomes events that are each one valid JSON line, ending with
// exactly one end event. The converting child (what the server runs) says
// the same.
//
//	go test ./scenarios/gotrace -run '^$' -fuzz FuzzConvert -fuzztime 30s
func FuzzConvert(f *testing.F) {
	f.Add([]byte("go 1.26 trace\x00\x00\x00"))
	f.Add([]byte{})
	const max = 2000
	f.Fuzz(func(t *testing.T, in []byte) {
		var evs []event.Event
		res, err := Convert(bytes.NewReader(in), max, func(ev *event.Event) { evs = append(evs, *ev) })
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
		} else {
			if len(evs) == 0 || evs[len(evs)-1].K != event.KindEnd {
				t.Fatalf("%d events, the last not an end event", len(evs))
			}
			if len(evs) > max+2 { // the cap, the truncation mark, the end
				t.Fatalf("%d events past the cap of %d", len(evs), max)
			}
			if res.Events != len(evs)-boolInt(res.Truncated) {
				t.Fatalf("result counts %d events, %d were emitted (truncated %v)", res.Events, len(evs), res.Truncated)
			}
			for i := range evs {
				line := event.Marshal(&evs[i])
				if !json.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
					t.Fatalf("event %d is not one JSON line: %q", i, line)
				}
				if evs[i].K == event.KindEnd && i != len(evs)-1 {
					t.Fatalf("an end event at %d of %d", i, len(evs))
				}
			}
		}

		// The child's protocol: lines on stdout, one report on stderr.
		var out, report bytes.Buffer
		code := convertChild(bytes.NewReader(in), &out, &report, max)
		var rep ChildReport
		if err := json.Unmarshal(bytes.TrimSpace(report.Bytes()), &rep); err != nil {
			t.Fatalf("the child's report %q: %v", report.String(), err)
		}
		if (code == 0) != (err == nil) || (rep.Error == "") != (err == nil) || (err != nil && !rep.Format) {
			t.Fatalf("child exit %d report %+v; Convert said %v", code, rep, err)
		}
		if err == nil {
			n := 0
			sc := bufio.NewScanner(&out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if !json.Valid(sc.Bytes()) {
					t.Fatalf("child line %d is not JSON: %q", n, sc.Bytes())
				}
				n++
			}
			if n != len(evs) {
				t.Fatalf("the child wrote %d lines, Convert emitted %d", n, len(evs))
			}
		} else if !strings.Contains(rep.Error, "trace") {
			t.Fatalf("the child's error %q does not say what was wrong", rep.Error)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
