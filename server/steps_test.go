package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// postTo sends body as JSON to path and decodes the answer.
func (ts *testServer) postTo(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	return ts.postWith(t, path, body, nil)
}

func (ts *testServer) postWith(t *testing.T, path, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s = %d %q: not JSON", path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// step posts one step command to run id and answers the status and body.
func (ts *testServer) step(t *testing.T, id, body string) (int, map[string]any) {
	t.Helper()
	return ts.postTo(t, "/api/runs/"+id+"/step", body)
}

// stepOK steps lane of run id, which must succeed.
func (ts *testServer) stepOK(t *testing.T, id, lane string) map[string]any {
	t.Helper()
	code, out := ts.step(t, id, `{"lane":"`+lane+`"}`)
	if code != http.StatusOK {
		t.Fatalf("step %s of %s = %d %v, want 200", lane, id, code, out)
	}
	return out
}

// waitPaused waits until step run id waits for its learner.
func waitPaused(t *testing.T, ts *testServer, id string) *Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		run, ok := ts.srv.runs.Live(id)
		if !ok {
			t.Fatalf("run %s is gone before it waited for a step", id)
		}
		if paused := run.StepPaused(); paused != nil {
			select {
			case <-paused:
				return run
			case <-run.Done():
				t.Fatalf("run %s ended before it waited for a step: %+v", id, ts.info(t, id))
			case <-time.After(time.Until(deadline)):
			}
		}
		time.Sleep(5 * time.Millisecond) // the control appears when the run starts
	}
	t.Fatalf("run %s never waited for a step", id)
	return nil
}

const stepLocks = `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2,"step":true}}`

// TestStepALostUpdateOverHTTP steps two threads by hand into a lost update:
// both read 0, both write back 1. The steps are events of the run (live and
// recorded, and in trace.json), and the verdict counts the lost update.
func TestStepALostUpdateOverHTTP(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	id := ts.start(t, stepLocks)
	waitPaused(t, ts, id)
	for _, lane := range []string{"worker-1", "worker-1", "worker-2", "worker-2", "worker-1"} {
		ts.stepOK(t, id, lane)
	}
	last := ts.stepOK(t, id, "worker-2")
	if last["n"] != float64(6) || last["line"] == float64(0) {
		t.Errorf("sixth step answered %v, want step 6 and the line worker 2 stopped before", last)
	}
	if code, out := ts.step(t, id, `{"free":true}`); code != http.StatusOK || out["ended"] != true {
		t.Fatalf("free = %d %v, want 200 and the stepping ended", code, out)
	}
	info := waitStatus(t, ts, id, StatusDone)
	var summary event.Summary
	if err := json.Unmarshal(info.Summary, &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Metrics["lost"].Value != 1 || summary.Metrics["steps"].Value != 6 {
		t.Errorf("summary %+v, want 1 update lost in 6 steps", summary.Metrics)
	}
	if !strings.Contains(summary.Verdict, "lost") {
		t.Errorf("verdict %q does not say an update was lost", summary.Verdict)
	}
	v := ts.watch(t, id)
	if got := v.count(event.KindStep); got != 8 {
		t.Errorf("%d step events recorded, want 8 (2 arrivals, 6 steps)", got)
	}
	resp, err := http.Get(ts.URL + "/api/runs/" + id + "/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var trace struct {
		TraceEvents []struct {
			Name string         `json:"name"`
			Cat  string         `json:"cat"`
			Args map[string]any `json:"args"`
		} `json:"traceEvents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&trace); err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, e := range trace.TraceEvents {
		if e.Cat == "step" {
			steps++
			if e.Name == "step 6: before line 0" || e.Args["code"] == nil {
				t.Errorf("step instant %q %v", e.Name, e.Args)
			}
		}
	}
	if steps != 8 {
		t.Errorf("trace.json has %d step instants, want 8", steps)
	}
}

// TestStepRefusals: what cannot be stepped is refused, saying why.
func TestStepRefusals(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	id := ts.start(t, `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2,"lock":true,"step":true}}`)
	waitPaused(t, ts, id)
	ts.stepOK(t, id, "worker-1")
	ts.stepOK(t, id, "worker-1") // worker 1 takes the lock
	ts.stepOK(t, id, "worker-2")
	ts.stepOK(t, id, "worker-2") // worker 2 asks for it and waits
	goRun := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":10}}`)
	waitStatus(t, ts, goRun, StatusDone)
	for _, tc := range []struct {
		name, id, body string
		code           int
		says           string
	}{
		{"a thread waiting for the lock", id, `{"lane":"worker-2"}`, http.StatusConflict, "waits for counter_lock, held by worker 1"},
		{"an unknown thread", id, `{"lane":"worker-7"}`, http.StatusBadRequest, "lane: worker-7 is not a thread of this run; want one of worker-1, worker-2"},
		{"two commands at once", id, `{"lane":"worker-1","free":true}`, http.StatusBadRequest, "want exactly one of"},
		{"random false", id, `{"random":false}`, http.StatusBadRequest, "random: false is not allowed; want true"},
		{"an unknown field", id, `{"thread":1}`, http.StatusBadRequest, "thread: unknown field"},
		{"a run that is not a step run", goRun, `{"lane":"worker-1"}`, http.StatusConflict, "not a step run"},
		{"an unknown run", "nosuchrun", `{"lane":"worker-1"}`, http.StatusNotFound, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := ts.step(t, tc.id, tc.body)
			if code != tc.code || !strings.Contains(out["error"].(string), tc.says) {
				t.Errorf("= %d %v, want %d saying %q", code, out, tc.code, tc.says)
			}
		})
	}
	// The one thread that can step is the random pick.
	if code, out := ts.step(t, id, `{"random":true}`); code != http.StatusOK || out["lane"] != "worker-1" {
		t.Errorf("random step = %d %v, want worker 1", code, out)
	}
	ts.step(t, id, `{"free":true}`)
	waitStatus(t, ts, id, StatusDone)
	if code, out := ts.step(t, id, `{"lane":"worker-1"}`); code != http.StatusConflict || !strings.Contains(out["error"].(string), "finished") {
		t.Errorf("stepping a finished run = %d %v, want 409 saying it finished", code, out)
	}
}

// TestPausedStepRunHoldsNoSlot: with one run slot, a step run waiting for
// its learner lets another run execute meanwhile.
func TestPausedStepRunHoldsNoSlot(t *testing.T) {
	ts := newTestServer(t, func(l *Limits) { l.MaxConcurrent = 1 }, goEngine(), pythonEngine(t))
	id := ts.start(t, stepLocks)
	waitPaused(t, ts, id)
	other := ts.start(t, `{"scenario":"locks","engine":"go","params":{"increments":100}}`)
	waitStatus(t, ts, other, StatusDone)
	if st := ts.info(t, id).Status; st != StatusRunning {
		t.Errorf("the step run is %s, want still running (waiting for its learner)", st)
	}
	ts.stepOK(t, id, "worker-1")
}

// TestStepLimits: at most MaxStepRuns step runs live; at most MaxSteps
// steps (a longer schedule refused up front); an idle step run cancelled;
// the deadline does not count while the run waits for its learner.
func TestStepLimits(t *testing.T) {
	skipUnderRace(t)
	py := pythonEngine(t)
	t.Run("step runs", func(t *testing.T) {
		ts := newTestServer(t, func(l *Limits) { l.MaxStepRuns = 2 }, goEngine(), py)
		a, b := ts.start(t, stepLocks), ts.start(t, stepLocks)
		code, out, _ := ts.post(t, stepLocks)
		if code != http.StatusTooManyRequests || !strings.Contains(out["error"].(string), "2 already wait for their learners") {
			t.Fatalf("third step run = %d %v, want 429 naming the limit", code, out)
		}
		// A run that is not a step run is not counted.
		ts.start(t, `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2,"schedule":"1,2"}}`)
		waitPaused(t, ts, a)
		ts.srv.runs.Cancel(a)
		waitStatus(t, ts, a, StatusCancelled)
		ts.start(t, stepLocks) // a's place is free again
		ts.srv.runs.Cancel(b)
	})
	t.Run("steps", func(t *testing.T) {
		ts := newTestServer(t, func(l *Limits) { l.MaxSteps = 3 }, goEngine(), py)
		code, out, _ := ts.post(t, `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2,"step":true,"schedule":"1,1,2,2"}}`)
		if code != http.StatusBadRequest || !strings.Contains(out["error"].(string), "schedule: names 4 steps; want at most 3") {
			t.Errorf("a schedule over the limit = %d %v, want 400 naming it", code, out)
		}
		id := ts.start(t, `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2,"step":true,"schedule":"1,2"}}`)
		waitPaused(t, ts, id)
		ts.stepOK(t, id, "worker-1")
		code, out = ts.step(t, id, `{"lane":"worker-1"}`)
		if code != http.StatusConflict || !strings.Contains(out["error"].(string), "taken 3 steps, the most one run may take") {
			t.Errorf("fourth step = %d %v, want 409 naming the limit", code, out)
		}
		if code, out := ts.step(t, id, `{"free":true}`); code != http.StatusOK {
			t.Errorf("free after the limit = %d %v, want 200: the run can still end", code, out)
		}
		waitStatus(t, ts, id, StatusDone)
	})
	t.Run("idle", func(t *testing.T) {
		ts := newTestServer(t, func(l *Limits) { l.StepIdle = 1500 * time.Millisecond }, goEngine(), py)
		id := ts.start(t, stepLocks)
		waitPaused(t, ts, id)
		ts.stepOK(t, id, "worker-1")
		start := time.Now()
		info := waitStatus(t, ts, id, StatusCancelled)
		if idle := time.Since(start); idle < time.Second {
			t.Errorf("cancelled %v after the last step, want the idle limit (1.5 s) to count from it", idle)
		}
		v := ts.watch(t, info.ID)
		found := false
		for _, ev := range v.events {
			found = found || ev.K == event.KindMark && strings.Contains(ev.Label, "nobody took a step for 1.5s")
		}
		if !found {
			t.Errorf("no mark says why the run was cancelled")
		}
	})
}

// TestStepAuthorizer: a server with a step authorizer (rooms) refuses the
// steps it does not allow, with 403 and its reason.
func TestStepAuthorizer(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	ts.srv.AuthorizeSteps(func(r *http.Request, runID string) error {
		if r.Header.Get("X-Presenter") != "yes" {
			return errors.New("only the presenter steps the run the room shows")
		}
		return nil
	})
	id := ts.start(t, stepLocks)
	waitPaused(t, ts, id)
	code, out := ts.step(t, id, `{"lane":"worker-1"}`)
	if code != http.StatusForbidden || out["error"] != "only the presenter steps the run the room shows" {
		t.Errorf("a step the authorizer refuses = %d %v, want 403 with its reason", code, out)
	}
	if code, out := ts.postWith(t, "/api/runs/"+id+"/step", `{"lane":"worker-1"}`, http.Header{"X-Presenter": {"yes"}}); code != http.StatusOK {
		t.Errorf("an allowed step = %d %v, want 200", code, out)
	}
	ts.srv.runs.Cancel(id)
}

// TestSearchAPI: POST /api/search finds a lost update among every
// interleaving of 2 × 2, none with the lock, and refuses what it cannot
// search naming the field.
func TestSearchAPI(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	code, out := ts.postTo(t, "/api/search", `{"scenario":"locks","engine":"python","params":{"workers":2,"increments":2},"goal":"lost-update"}`)
	if code != http.StatusOK || out["found"] != true || out["exhaustive"] != true || out["explored"] != float64(3432) || out["schedule"] == "" {
		t.Fatalf("search = %d %v, want a schedule found among all 3432 interleavings", code, out)
	}
	code, out = ts.postTo(t, "/api/search", `{"scenario":"locks","params":{"workers":2,"increments":2,"lock":true},"goal":"lost-update"}`)
	if code != http.StatusOK || out["found"] != false || out["exhaustive"] != true || !strings.Contains(out["sentence"].(string), "none loses an update") {
		t.Fatalf("search with the lock = %d %v, want none found, exhaustively", code, out)
	}
	for _, tc := range []struct{ body, says string }{
		{`{"scenario":"locks","engine":"python","params":{},"goal":"deadlock"}`, "goal: deadlock is not allowed; want one of lost-update"},
		{`{"scenario":"locks","engine":"python","params":{}}`, "goal: missing; want one of lost-update"},
		{`{"scenario":"locks","engine":"go","params":{},"goal":"lost-update"}`, "engine: go cannot step locks"},
		{`{"scenario":"threads","engine":"python","params":{},"goal":"lost-update"}`, "scenario: threads cannot be stepped"},
		{`{"scenario":"locks","params":{"workers":0},"goal":"lost-update"}`, "workers: 0 is not allowed"},
		{`{"scenario":"locks","params":{},"goal":"lost-update","budget":0}`, "budget: 0 is not allowed; want a whole number from 1 to 100000"},
	} {
		code, out := ts.postTo(t, "/api/search", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(out["error"].(string), tc.says) {
			t.Errorf("%s = %d %v, want 400 saying %q", tc.body, code, out, tc.says)
		}
	}
}

// TestScheduleParamIsStrict: a bad schedule is refused naming the step.
func TestScheduleParamIsStrict(t *testing.T) {
	sc, _ := scenarios.Lookup("locks")
	for _, tc := range []struct {
		schedule any
		says     string
	}{
		{"1,,2", "schedule: step 2 is empty"},
		{"1,x", "schedule: step 2 is x; want a thread number from 1 to 64"},
		{"1,3", "schedule: step 2 picks thread 3, but the run has 2"},
		{12, "schedule: 12 is not allowed"},
	} {
		_, err := sc.Validate(scenarios.EnginePython, map[string]any{"workers": 2, "schedule": tc.schedule})
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("schedule %v: %v, want %q", tc.schedule, err, tc.says)
		}
	}
	_, err := sc.Validate(scenarios.EnginePython, map[string]any{"workers": 10, "step": true})
	if err == nil || !strings.Contains(err.Error(), "workers: 10 is not allowed when you step the threads yourself; want a whole number from 1 to 9") {
		t.Errorf("10 workers stepped: %v", err)
	}
	_, err = sc.Validate(scenarios.EnginePython, map[string]any{"variant": "naive", "schedule": "1"})
	if err == nil || !strings.HasPrefix(err.Error(), "variant: naive is not allowed in a stepped run") {
		t.Errorf("naive stepped: %v", err)
	}
	p, err := sc.Validate(scenarios.EnginePython, map[string]any{"workers": 2, "schedule": " 1, 2 ,1"})
	if err != nil || p.String("schedule") != "1,2,1" {
		t.Errorf("spaces in a schedule: %v %v, want it read as 1,2,1", p, err)
	}
}

// TestOnlyTheRoomsPresenterStepsItsRun: a step run that a workshop room
// shows is stepped by the room's presenter only; the room's attendees (and
// anyone else) get 403 saying so.
func TestOnlyTheRoomsPresenterStepsItsRun(t *testing.T) {
	ts := newTestServer(t, nil, goEngine(), pythonEngine(t))
	presenter := newRoomClient(t, ts)
	code := presenter.openRoom()
	status, out, _ := presenter.do("POST", "/api/runs", map[string]any{"scenario": "locks", "engine": "python", "room": code,
		"params": map[string]any{"workers": 2, "increments": 2, "step": true}})
	if status != http.StatusCreated {
		t.Fatalf("presenter's step run = %d %v", status, out)
	}
	id := out["id"].(string)
	if status, out, _ := presenter.do("PUT", "/api/rooms/"+code+"/view", map[string]any{"path": "/r/" + id, "run": id}); status != http.StatusOK {
		t.Fatalf("view = %d %v", status, out)
	}
	waitPaused(t, ts, id)
	attendee := newRoomClient(t, ts)
	attendee.do("POST", "/api/rooms/"+code+"/join", map[string]any{})
	for who, c := range map[string]*roomClient{"an attendee": attendee, "a stranger": newRoomClient(t, ts)} {
		status, out, _ := c.do("POST", "/api/runs/"+id+"/step", map[string]any{"lane": "worker-1"})
		if status != http.StatusForbidden || !strings.Contains(out["error"].(string), "only the presenter of room "+code) {
			t.Errorf("%s stepping the room's run = %d %v, want 403", who, status, out)
		}
	}
	if status, out, _ := presenter.do("POST", "/api/runs/"+id+"/step", map[string]any{"lane": "worker-1"}); status != http.StatusOK {
		t.Errorf("the presenter stepping = %d %v, want 200", status, out)
	}
	ts.srv.runs.Cancel(id)
}
