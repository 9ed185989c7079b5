package server

import (
	"encoding/json"
	"strings"
	"testing"

	"interleave/scenarios/event"
)

// TestServerDerivesTheVerdict runs real go-engine runs through the server:
// the engine only measures, the server's summary carries the verdict its
// numbers show, and the same sentence reaches every viewer in the end event.
func TestServerDerivesTheVerdict(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := []struct {
		name, body string
		want, not  []string
	}{
		{"sequential run: no speedup", `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"size":20,"mode":"sequential"}}`,
			[]string{"One after another, the 2 tasks took"}, []string{"faster", "x "}},
		{"waits overlap", `{"scenario":"mental-model","engine":"go","params":{"tasks":4,"size":40,"work":"io","mode":"concurrent"}}`,
			[]string{"4 tasks"}, nil},
		{"a lock loses nothing", `{"scenario":"locks","engine":"go","params":{"workers":2,"increments":2000,"lock":true}}`,
			[]string{"With the lock no update was lost (4000 of 4000)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ts.runToEnd(t, tt.body)
			info := ts.info(t, id)
			var sum event.Summary
			if err := json.Unmarshal(info.Summary, &sum); err != nil {
				t.Fatalf("summary %s: %v", info.Summary, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(sum.Verdict, w) {
					t.Errorf("verdict %q does not say %q", sum.Verdict, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(sum.Verdict, w) {
					t.Errorf("verdict %q says %q", sum.Verdict, w)
				}
			}
			v := ts.watch(t, id)
			var seen string
			for _, ev := range v.events {
				if ev.K == event.KindEnd {
					seen = ev.Summary.Verdict
				}
			}
			if seen != sum.Verdict {
				t.Errorf("the end event a viewer got says %q, the stored summary %q", seen, sum.Verdict)
			}
		})
	}
}
