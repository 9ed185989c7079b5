package server

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"interleave/scenarios"
)

// getComparison calls GET /api/compare/{id}.
func (ts *testServer) getComparison(t *testing.T, id string) (int, CompareResult) {
	t.Helper()
	return ts.compareCall(t, http.MethodGet, id)
}

func (ts *testServer) compareCall(t *testing.T, method, id string) (int, CompareResult) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+"/api/compare/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res CompareResult
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, res
}

// startComparison calls POST /api/compare and returns the comparison's id.
func (ts *testServer) startComparison(t *testing.T, body string) string {
	t.Helper()
	resp, err := http.Post(ts.URL+"/api/compare", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res CompareResult
	json.NewDecoder(resp.Body).Decode(&res)
	if resp.StatusCode != http.StatusCreated || res.ID == "" {
		t.Fatalf("POST /api/compare = %d %+v", resp.StatusCode, res)
	}
	return res.ID
}

// byIDs lists the comparisons held in memory (for tests).
func (cs *comparisons) byIDs() (int, []string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var out []string
	for id := range cs.byID {
		out = append(out, id)
	}
	return len(out), out
}

// waitModelRunning waits until model i of comparison id has a running run.
func (ts *testServer) waitModelRunning(t *testing.T, id string, i int) ModelResult {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, res := ts.getComparison(t, id)
		if len(res.Models) > i && res.Models[i].Run != "" && res.Models[i].Status == StatusRunning {
			return res.Models[i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("model %d of %s never ran: %+v", i, id, res.Models)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitComparison waits until comparison id has finished.
func (ts *testServer) waitComparison(t *testing.T, id string) CompareResult {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, res := ts.getComparison(t, id)
		if res.Status != StatusRunning && res.Status != "" {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("comparison %s did not finish: %+v", id, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFinishedComparisonIsNotKeptInMemory: a finished comparison and its
// runs' events live in the store only. Before, every comparison stayed in
// memory with all its runs (about 2 MB each) until the server stopped.
func TestFinishedComparisonIsNotKeptInMemory(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := ts.srv.compares.start(CompareRequest{Workload: "shared-state", Engine: scenarios.EngineGo, Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	before := c.Result()
	id := c.ID
	c.mu.Lock()
	var runs []weak.Pointer[Run]
	for _, r := range c.runs {
		runs = append(runs, weak.Make(r))
	}
	c.mu.Unlock()
	if len(runs) != len(c.Models) {
		t.Fatalf("%d runs for %d models", len(runs), len(c.Models))
	}
	held := weak.Make(c)
	c = nil

	if n, _ := ts.srv.compares.byIDs(); n != 0 {
		t.Errorf("%d comparisons held in memory after the only one finished", n)
	}
	for attempt := 0; ; attempt++ {
		runtime.GC()
		alive := 0
		for _, w := range runs {
			if w.Value() != nil {
				alive++
			}
		}
		if alive == 0 && held.Value() == nil {
			break
		}
		if attempt == 20 {
			nHeld, nExecuting, nQueued := ts.srv.runs.Counts()
			t.Logf("manager holds %d runs, %d executing, queue %d", nHeld, nExecuting, nQueued)
			for i, w := range runs {
				if r := w.Value(); r != nil {
					t.Logf("alive: run %d %s %v", i, r.ID, r.Info().Status)
				}
			}
			t.Fatalf("after %d collections, %d of the finished comparison's %d runs are still in memory (comparison freed: %v)", attempt, alive, len(runs), held.Value() == nil)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And its permalink answers the same from the store.
	code, after := ts.getComparison(t, id)
	if code != http.StatusOK || !sameComparison(before, after) {
		t.Errorf("GET /api/compare/%s from the store = %d %+v\nwhile in memory: %+v", id, code, after, before)
	}
}

// sameComparison compares what a permalink shows: status, rows, winners.
func sameComparison(a, b CompareResult) bool {
	strip := func(r CompareResult) CompareResult {
		r.Matrix = scenarios.Workload{}
		for i := range r.Models {
			r.Models[i].Started, r.Models[i].Finished = nil, nil
		}
		return r
	}
	a, b = strip(a), strip(b)
	return reflect.DeepEqual(a.Models, b.Models) && reflect.DeepEqual(a.Winners, b.Winners) && a.Status == b.Status && a.Baseline == b.Baseline
}

// TestComparisonKeepsItsRunsUntilItGoesAsAWhole: retention never takes a
// run out of a comparison; when the comparison is the oldest thing, it goes
// with all its runs, so its permalink shows what it measured or nothing.
// Before, an evicted model showed "queued" under a done comparison and the
// winners changed.
func TestComparisonKeepsItsRunsUntilItGoesAsAWhole(t *testing.T) {
	w, _ := scenarios.LookupWorkload("shared-state")
	models := len(w.Models())
	ts := newTestServer(t, func(l *Limits) { l.KeepRuns = 1 + models })
	const body = `{"scenario":"locks","engine":"go","params":{"workers":2,"increments":100}}`
	old := ts.runToEnd(t, body)
	res := ts.compareNow(t, "workload=shared-state&engine=go&size=small")
	if res.Status != StatusDone {
		t.Fatalf("comparison %s ended %s: %+v", res.ID, res.Status, res.Models)
	}
	drainStore(t, ts)

	// One more run: the store is over its count, and the oldest thing is
	// the run before the comparison.
	ts.runToEnd(t, body)
	if code, _ := ts.listRuns(t, ""); code != http.StatusOK {
		t.Fatal(code)
	}
	if ts.status(t, old) != http.StatusNotFound {
		t.Errorf("the oldest run %s was kept while the store is over its count", old)
	}
	code, again := ts.getComparison(t, res.ID)
	if code != http.StatusOK || !sameComparison(res, again) {
		t.Fatalf("the comparison changed when retention ran: %d %+v\nwas %+v", code, again, res)
	}

	// Another: now the comparison is the oldest thing, and goes whole.
	last := ts.runToEnd(t, body)
	if code, after := ts.getComparison(t, res.ID); code != http.StatusNotFound {
		t.Fatalf("GET /api/compare/%s = %d %+v; want it gone whole (404)", res.ID, code, after)
	}
	for _, m := range res.Models {
		if ts.status(t, m.Run) != http.StatusNotFound {
			t.Errorf("model %s's run %s outlived its comparison", m.Model, m.Run)
		}
	}
	if ts.status(t, last) != http.StatusOK {
		t.Errorf("the newest run %s was evicted", last)
	}
}

// status returns the status of GET /api/runs/{id}.
func (ts *testServer) status(t *testing.T, id string) int {
	t.Helper()
	resp, err := http.Get(ts.URL + "/api/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestComparisonWithACancelledModelIsPartial: a model cancelled on its own
// (DELETE /api/runs/{id}) leaves the comparison partial, not done.
func TestComparisonWithACancelledModelIsPartial(t *testing.T) {
	ts := newTestServer(t, nil, &floodEngine{events: 100, sleep: 1500 * time.Millisecond})
	id := ts.startComparison(t, `{"workload":"many-io","engine":"go","size":"small"}`)
	model := ts.waitModelRunning(t, id, 1)
	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/api/runs/"+model.Run, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	res := ts.waitComparison(t, id)
	if res.Status != StatusPartial {
		t.Fatalf("comparison with a cancelled model ended %q, want partial: %+v", res.Status, res.Models)
	}
	for i, m := range res.Models {
		want := StatusDone
		if i == 1 {
			want = StatusCancelled
		}
		if m.Status != want || m.Run == "" {
			t.Errorf("model %s: status %q run %q, want %s", m.Model, m.Status, m.Run, want)
		}
	}
	if res.Rule.Agrees {
		t.Error("a partial comparison judges the rule of thumb")
	}
}

// TestDeleteComparisonCancelsIt: DELETE /api/compare/{id} kills the
// running model's processes and the models after it never start. Before,
// it answered 405 and the comparison ran on.
func TestDeleteComparisonCancelsIt(t *testing.T) {
	ts := newTestServer(t, nil, &floodEngine{events: 100, sleep: 20 * time.Second})
	id := ts.startComparison(t, `{"workload":"many-io","engine":"go","size":"small"}`)
	model := ts.waitModelRunning(t, id, 0)
	pid := ts.info(t, model.Run).PID
	start := time.Now()
	code, res := ts.compareCall(t, http.MethodDelete, id)
	if code != http.StatusOK || res.Status != StatusCancelled || !strings.Contains(res.Error, "cancelled") {
		t.Fatalf("DELETE /api/compare/%s = %d status %q error %q; want 200 cancelled", id, code, res.Status, res.Error)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancelling took %v", took)
	}
	for i, m := range res.Models {
		if m.Status != StatusCancelled || (i == 0) != (m.Run != "") {
			t.Errorf("model %s: status %q run %q; want cancelled, and only the first one started", m.Model, m.Status, m.Run)
		}
	}
	if pid != 0 && alive(pid) {
		t.Errorf("the running model's process %d outlived the cancel", pid)
	}
	// It stays cancelled; a second DELETE answers it as it is.
	if code, again := ts.compareCall(t, http.MethodDelete, id); code != http.StatusOK || again.Status != StatusCancelled {
		t.Errorf("DELETE again = %d %q", code, again.Status)
	}
	if code, _ := ts.compareCall(t, http.MethodDelete, "nosuchcomp"); code != http.StatusNotFound {
		t.Errorf("DELETE of an unknown comparison = %d, want 404", code)
	}
	// Nothing keeps running: the queue is free for a run.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.store.Drain(ctx); err != nil {
		t.Errorf("runs still recording after the cancel: %v", err)
	}
}
