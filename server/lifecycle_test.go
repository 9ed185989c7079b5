package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// runningPIDs waits until the run's child has started and returns its group.
func runningPIDs(t *testing.T, ts *testServer, id string, atLeast int) (int, []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := ts.dial(t, ctx, id)
	defer c.CloseNow()
	for {
		// Each message is a sign of progress; look at the group after it.
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatalf("run %s ended before its processes were seen: %v", id, err)
		}
		if pid := ts.info(t, id).PID; pid != 0 {
			if pids := child.GroupPIDs(pid); len(pids) >= atLeast {
				return pid, pids
			}
		}
	}
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":4,"work":"io","size":2000}}`)
	pid, pids := runningPIDs(t, ts, id, 1)
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/runs/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE = %d", resp.StatusCode)
	}
	waitStatus(t, ts, id, StatusCancelled)
	for _, p := range append(pids, pid) {
		if alive(p) {
			t.Errorf("pid %d of the cancelled run is still alive", p)
		}
	}
	if got := child.GroupPIDs(pid); len(got) != 0 {
		t.Errorf("process group %d still has %v", pid, got)
	}
	v := ts.watch(t, id)
	if v.final() != StatusCancelled {
		t.Errorf("viewer final status %q, want cancelled", v.final())
	}
}

func TestDeadlineEndsRunWithTimeout(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000},"deadline_ms":300}`)
	start := time.Now()
	info := waitStatus(t, ts, id, StatusTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %s to take effect", d)
	}
	if info.PID != 0 && alive(info.PID) {
		t.Errorf("timed-out child %d still alive", info.PID)
	}
	v := ts.watch(t, id)
	marked := false
	for _, ev := range v.events {
		if ev.K == event.KindMark && strings.HasPrefix(ev.Label, "timeout") {
			marked = true
		}
	}
	if !marked {
		t.Errorf("no timeout mark among %d events", len(v.events))
	}
}

func TestFailingChildMarksRunFailed(t *testing.T) {
	ts := newTestServer(t, nil, &floodEngine{events: 3, exitCode: 3})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	waitStatus(t, ts, id, StatusFailed)
	v := ts.watch(t, id)
	if v.final() != StatusFailed {
		t.Errorf("viewer final %q, want failed", v.final())
	}
}

func TestShutdownCancelsRunsAndClosesSockets(t *testing.T) {
	ts := newTestServer(t, nil)
	id := ts.start(t, `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000}}`)
	pid, _ := runningPIDs(t, ts, id, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := ts.dial(t, ctx, id)
	done := make(chan viewer, 1)
	go func() { done <- readAll(ctx, c) }()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	v := <-done
	if v.final() != StatusCancelled {
		t.Errorf("viewer final %q, want cancelled", v.final())
	}
	if alive(pid) {
		t.Errorf("child %d alive after shutdown", pid)
	}
	if code, _, _ := ts.post(t, `{"scenario":"locks"}`); code != http.StatusServiceUnavailable {
		t.Errorf("POST after shutdown = %d, want 503", code)
	}
	// The recorded events are still there.
	if info := ts.info(t, id); info.Events == 0 {
		t.Errorf("run lost its events on shutdown")
	}
}

func TestNoOrphansAfterManyRuns(t *testing.T) {
	timingclaim.Heavy(t) // a soak of runs back to back
	// INTERLEAVE_SOAK_RUNS=1000 runs the design's full soak.
	runs := 40
	if n, err := strconv.Atoi(os.Getenv("INTERLEAVE_SOAK_RUNS")); err == nil && n > 0 {
		runs = n
	} else if testing.Short() {
		runs = 10
	}
	ts := newTestServer(t, func(l *Limits) { l.QueueSize = runs; l.RunsPerMinute = runs + 1 })
	var pids []int
	for i := range runs {
		body := `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":50}}`
		if i%3 == 1 {
			body = `{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000},"deadline_ms":150}`
		}
		id := ts.start(t, body)
		if i%3 == 2 {
			ts.srv.runs.Cancel(id)
		}
		run, _ := ts.srv.runs.Get(id)
		<-run.Done()
		pids = append(pids, ts.info(t, id).PID)
	}
	for _, pid := range pids {
		if pid != 0 && alive(pid) {
			t.Errorf("pid %d still alive", pid)
		}
	}
	if zombies := countZombieChildren(); zombies != 0 {
		t.Errorf("%d zombie children of the server", zombies)
	}
	// Every run's processes were forgotten once gone: a restart would
	// find nothing to sweep.
	var records int
	if err := ts.srv.store.DB().QueryRow(`SELECT count(*) FROM run_processes`).Scan(&records); err != nil || records != 0 {
		t.Errorf("%d runs' processes still on record (%v)", records, err)
	}
}

// countZombieChildren counts zombies whose parent is this process.
func countZombieChildren() int {
	entries, _ := os.ReadDir("/proc")
	me := fmt.Sprint(os.Getpid())
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}
