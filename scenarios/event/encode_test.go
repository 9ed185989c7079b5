package event

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestAppendRoundTrips(t *testing.T) {
	tests := []Event{
		{T: 0, K: KindLane, ID: "worker-1", Kind: LaneGoroutine, Name: "worker 1", Parent: "main", PID: 4242, Group: "sched"},
		{T: 12345, K: KindState, Lane: "worker-1", S: LockWait, Why: "sync.Mutex", Src: SrcApp},
		{T: 9, K: KindLock, Lane: "w", Lock: "mu", Op: LockWant},
		{T: 10, K: KindFlow, From: "a", To: "b", Label: "pickled 10 KiB"},
		{T: 11, K: KindCounter, Name: "counter", V: Float(0)},
		{T: 11, K: KindCounter, Name: "queue", V: Float(-2.5)},
		{T: 11, K: KindCounter, Name: "big", V: Float(1e17)},
		{T: 12, K: KindOutput, Lane: "p1", Stream: "stderr", Text: "line \"one\"\n\ttab \\ <b>&</b> \x01 é ✓ \u2028"},
		{T: 13, K: KindMark, Label: "exit code 3"},
		{T: 13, K: KindStep, Lane: "worker-1", Line: 12, Code: "value = counter  # read", Locals: map[string]string{"i": "0", "lock": "counter_lock"}, N: 3},
		{T: 13, K: KindStep, Lane: "worker-2", Line: 10, Code: "for i in range(n):", Locals: map[string]string{"n": "2"}, Fn: "add", First: 8, Source: []string{"def add(n):", "    \"\"\"Adds.\"\"\"", "    for i in range(n):"}},
		{T: 14, K: KindEnd, Summary: &Summary{WallNS: 5, CPUNS: 6, Metrics: map[string]Metric{"lost": {Value: 3, Unit: "", Label: "lost updates"}}, Verdict: "It lost 3."}},
	}
	for _, ev := range tests {
		t.Run(ev.K, func(t *testing.T) {
			line := Marshal(&ev)
			if !json.Valid(line) {
				t.Fatalf("invalid JSON: %s", line)
			}
			var back Event
			if err := json.Unmarshal(line, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Errorf("round trip changed the event:\n got %+v\nwant %+v\nline %s", back, ev, line)
			}
			std, _ := json.Marshal(ev)
			var a, b map[string]any
			json.Unmarshal(line, &a)
			json.Unmarshal(std, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("differs from encoding/json:\n ours %s\n std  %s", line, std)
			}
		})
	}
}

func TestAppendStringInvalidUTF8(t *testing.T) {
	line := Marshal(&Event{K: KindOutput, Text: "ok \xff\xfe end"})
	if !json.Valid(line) {
		t.Fatalf("invalid JSON for invalid UTF-8 text: %s", line)
	}
	var back Event
	json.Unmarshal(line, &back)
	if !strings.Contains(back.Text, "\ufffd") || !strings.HasSuffix(back.Text, " end") {
		t.Errorf("text %q, want the bad bytes replaced and the rest kept", back.Text)
	}
}

// TestProtocolFieldNames pins the JSON names of the protocol (DESIGN.md):
// clients outside the code rely on them.
func TestProtocolFieldNames(t *testing.T) {
	ev := Event{T: 1, K: "k", ID: "i", Kind: "ki", Name: "n", Parent: "p", PID: 2, Group: "g", Lane: "l", S: "s", Why: "w", Src: "sr",
		Lock: "lo", Op: "o", From: "f", To: "to", Label: "la", V: Float(3), Stream: "st", Text: "te", Summary: &Summary{Metrics: map[string]Metric{}}}
	var m map[string]any
	json.Unmarshal(Marshal(&ev), &m)
	want := []string{"t", "k", "id", "kind", "name", "parent", "pid", "group", "lane", "s", "why", "src", "lock", "op", "from", "to", "label", "v", "stream", "text", "summary"}
	if len(m) != len(want) {
		t.Errorf("got %d fields, want %d: %v", len(m), len(want), m)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing", k)
		}
	}
	summary := m["summary"].(map[string]any)
	for _, k := range []string{"wall_ns", "cpu_ns", "metrics", "verdict"} {
		if _, ok := summary[k]; !ok {
			t.Errorf("summary field %q missing", k)
		}
	}
}

// TestStepOfAReturnedThread pins what a step event says when the thread's
// function returned: line 0 and no locals, written out rather than left out.
func TestStepOfAReturnedThread(t *testing.T) {
	line := Marshal(&Event{T: 5, K: KindStep, Lane: "worker-1", N: 7})
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"line", "locals", "n", "lane"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, line)
		}
	}
	if m["line"] != float64(0) {
		t.Errorf("line = %v, want 0", m["line"])
	}
	if _, ok := m["source"]; ok {
		t.Errorf("source written without source: %s", line)
	}
}

func BenchmarkAppend(b *testing.B) {
	ev := Event{T: 123456789, K: KindState, Lane: "worker-12", S: Running, Why: "read-modify-write under the lock", Src: SrcApp}
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = Append(buf[:0], &ev)
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	ev := Event{T: 123456789, K: KindState, Lane: "worker-12", S: Running, Why: "read-modify-write under the lock", Src: SrcApp}
	for b.Loop() {
		json.Marshal(ev)
	}
}
