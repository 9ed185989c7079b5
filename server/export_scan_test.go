package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"interleave/scenarios/event"
)

// TestExportScannerAgreesWithEncodingJSON: the exporter's fast path reads
// every line it accepts exactly as encoding/json does, and declines the rest.
func TestExportScannerAgreesWithEncodingJSON(t *testing.T) {
	lines := [][]byte{
		[]byte(`{"t": 12, "k": "state", "lane": "T-1", "s": "gil-wait", "why": "GIL", "src": "app"}`), // python's json.dumps
		[]byte(` {"k":"lane","t":-5,"id":"p1","kind":"process","name":"worker","pid":4242,"parent":"main","group":"x"} `),
		[]byte(`{"t":9,"k":"counter","name":"queue","v":-2.5e3}`),
		[]byte(`{"t":9,"k":"flow","from":"a","to":"b","label":"pickled 10 KiB"}`),
		[]byte(`{"t":9,"k":"lock","lane":"a","lock":"mu","op":"want"}`),
		[]byte(`{}`),
	}
	for _, ev := range []event.Event{
		{T: 1, K: event.KindOutput, Lane: "w", Stream: "stdout", Text: "line\n\"quoted\" é"},
		{T: 2, K: event.KindEnd, Summary: &event.Summary{Metrics: map[string]event.Metric{"x": {Value: 1}}, Verdict: "v"}},
		{T: 3, K: event.KindMark, Label: "exit <3> & more"},
		{T: 4, K: event.KindState, Lane: "w", S: event.Running},
	} {
		lines = append(lines, event.Marshal(&ev))
	}
	lines = append(lines, []byte(`{"t":1,"k":"state","extra":[1,2]}`), []byte(`{"t":"1"}`), []byte(`{"t":1,"k":true}`))
	x := &chromeExporter{strs: map[string]string{}}
	fast := 0
	for _, line := range lines {
		var got, want exportEvent
		if err := json.Unmarshal(line, &want); err != nil && !bytes.Contains(line, []byte(`"t":"1"`)) && !bytes.Contains(line, []byte(`"k":true`)) {
			t.Fatalf("%s: %v", line, err)
		}
		if !x.scan(line, &got) {
			continue
		}
		fast++
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s:\nfast path %s\nencoding/json %s", line, gb, wb)
		}
	}
	if fast != 7 {
		t.Errorf("the fast path took %d lines, want the 7 without escapes, objects or odd types", fast)
	}
}
