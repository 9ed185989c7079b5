package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"interleave/scenarios/event"
)

func TestQueueAnswers429WhenFull(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 1; l.QueueSize = 1 })
	long := `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":2000}}`
	first := ts.start(t, long)
	code, out, _ := ts.post(t, long)
	if code != http.StatusCreated || out["status"] != StatusQueued || out["position"].(float64) != 1 {
		t.Fatalf("second run = %d %v, want 201 queued at position 1", code, out)
	}
	second := out["id"].(string)
	code, out, hdr := ts.post(t, long)
	if code != http.StatusTooManyRequests {
		t.Fatalf("third run = %d %v, want 429", code, out)
	}
	if hdr.Get("Retry-After") == "" || !strings.Contains(out["error"].(string), "queue") {
		t.Errorf("429 without Retry-After or message: %v %v", hdr, out)
	}
	for _, id := range []string{second, first} {
		req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/runs/"+id, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitStatus(t, ts, second, StatusCancelled)
	waitStatus(t, ts, first, StatusCancelled)
}

func TestEventCapTruncatesWithMark(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxEvents = 1000 }, &floodEngine{events: 5000})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	v := ts.watch(t, id)
	if v.final() != StatusDone {
		t.Fatalf("final %q, want done", v.final())
	}
	// The cap counts the child's events and the server's load samples (a
	// slow machine may take one before the child has sent 1000): 1000 of
	// them come before the truncation mark, and none of the child's after.
	before, childAfter, truncated := 0, 0, false
	for _, ev := range v.events {
		switch {
		case ev.K == event.KindMark && strings.HasPrefix(ev.Label, "truncated"):
			truncated = true
		case ev.K == event.KindState || ev.K == event.KindLane || ev.K == event.KindCounter:
			if !truncated {
				before++
			} else if ev.K != event.KindCounter {
				childAfter++
			}
		}
	}
	if !truncated {
		t.Errorf("no truncation mark")
	}
	if before != 1000 || childAfter != 0 {
		t.Errorf("kept %d events before the truncation mark and %d of the child's after it, want the cap of 1000 and none", before, childAfter)
	}
	if v.count(event.KindEnd) != 1 {
		t.Errorf("the end event must pass the cap")
	}
}

func TestOutputCapAndOutputEvents(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxOutput = 64 << 10 }, &floodEngine{events: 10, printKiB: 256})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	v := ts.watch(t, id)
	total := 0
	for _, ev := range v.events {
		if ev.K == event.KindOutput && ev.Stream == "stdout" {
			total += len(ev.Text)
		}
	}
	if total != 64<<10 {
		t.Errorf("kept %d bytes of output, want the 64 KiB cap", total)
	}
	dropped := false
	for _, ev := range v.events {
		dropped = dropped || (ev.K == event.KindMark && strings.Contains(ev.Label, "output truncated"))
	}
	if !dropped || v.final() != StatusDone {
		t.Errorf("want a truncation mark and status done; final %q", v.final())
	}
}

// TestMemoryCapKillsTheRun: a run that allocates 256 MiB under a 64 MiB
// cap fails with a memory cap mark. Where the kernel enforces the cap (a
// memory cgroup) the allocation never completes; where the cap is
// measured, the run is killed once its resident memory was seen over it.
func TestMemoryCapKillsTheRun(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MemoryBytes = 64 << 20 }, &floodEngine{events: 10, allocMiB: 256, sleep: 5 * time.Second})
	kernel := false
	for _, p := range ts.srv.contain.Report() {
		kernel = kernel || p.Name == "memory cap" && p.On
	}
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	info := waitStatus(t, ts, id, StatusFailed)
	if !kernel && info.PeakRSS <= 64<<20 {
		t.Errorf("peak RSS %d, want over the 64 MiB cap", info.PeakRSS)
	}
	v := ts.watch(t, id)
	found, allocated := false, false
	for _, ev := range v.events {
		found = found || (ev.K == event.KindMark && strings.HasPrefix(ev.Label, "memory cap"))
		allocated = allocated || (ev.K == event.KindMark && strings.HasPrefix(ev.Label, "allocated"))
	}
	if !found {
		t.Errorf("no memory cap mark")
	}
	if kernel && allocated {
		t.Errorf("the run allocated all of its 256 MiB under a kernel-enforced 64 MiB cap")
	}
}

func TestExclusiveRunWaitsForOthersAndBlocksThem(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 2 })
	long := RunRequest{Scenario: "mental-model", Engine: "go", Params: map[string]any{"tasks": 1.0, "work": "io", "size": 300.0}}
	first, err := ts.srv.runs.Submit(long)
	if err != nil {
		t.Fatal(err)
	}
	excl := long
	excl.Exclusive = true
	exclusive, err := ts.srv.runs.Submit(excl)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ts.srv.runs.Submit(long)
	if err != nil {
		t.Fatal(err)
	}
	if s, pos := exclusive.Status(); s != StatusQueued || pos != 1 {
		t.Fatalf("exclusive run is %s at %d while another runs; want queued at 1", s, pos)
	}
	if s, _ := after.Status(); s != StatusQueued {
		t.Fatalf("a run behind the exclusive one is %s; want queued", s)
	}
	<-first.Done()
	<-exclusive.Done()
	<-after.Done()
	// The exclusive run started after the first ended, the last after it.
	_, firstEnded := first.Span()
	exclStarted, exclEnded := exclusive.Span()
	afterStarted, _ := after.Span()
	if !exclStarted.After(firstEnded) || !afterStarted.After(exclEnded) {
		t.Errorf("runs overlapped: first ended %v, exclusive %v–%v, after started %v",
			firstEnded, exclStarted, exclEnded, afterStarted)
	}
}

func TestRunsThatShareTheMachineSaySo(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 2 })
	body := `{"scenario":"mental-model","engine":"go","params":{"tasks":1,"work":"io","size":200}}`
	a, b := ts.start(t, body), ts.start(t, body)
	waitStatus(t, ts, a, StatusDone)
	waitStatus(t, ts, b, StatusDone)
	alone := ts.start(t, body)
	waitStatus(t, ts, alone, StatusDone)
	shared := func(id string) bool {
		for _, ev := range ts.watch(t, id).events {
			if ev.K == event.KindMark && strings.HasPrefix(ev.Label, "shared the machine: 1 other run") {
				return true
			}
		}
		return false
	}
	if !shared(a) || !shared(b) {
		t.Errorf("two runs executing together must each say they shared the machine")
	}
	if shared(alone) {
		t.Errorf("a run alone on the machine says it shared it")
	}
}

func TestRateLimitAnswersJSON429(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.RunsPerMinute = 2 })
	for i := range 3 {
		code, out, hdr := ts.post(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
		if i < 2 {
			if code != http.StatusCreated {
				t.Fatalf("run %d = %d %v", i, code, out)
			}
			waitStatus(t, ts, out["id"].(string), StatusDone)
			continue
		}
		if code != http.StatusTooManyRequests || !strings.Contains(out["error"].(string), "2 a minute") || hdr.Get("Retry-After") == "" {
			t.Errorf("third run in a minute = %d %v %v, want a JSON 429 with Retry-After", code, out, hdr)
		}
	}
}
