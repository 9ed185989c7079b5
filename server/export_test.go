package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"interleave/scenarios/event"
)

// chromeSlice is one complete event (ph X) of an exported trace, in ns.
type chromeSlice struct {
	name      string
	start, ns int64
	why       string
}

// chromeCheck is what checkChromeTrace learned from a valid trace.
type chromeCheck struct {
	// slices per track name ("worker 1 (goroutine)"), in time order
	tracks   map[string][]chromeSlice
	instants int
	flows    int // s/f pairs
	bound    int // flows whose both ends fall inside a slice of their track
	counters int
	maxEnd   int64 // the latest end of a slice or instant, ns
	procs    map[string]bool
}

// exactNS reads a JSON number of microseconds as integer nanoseconds,
// exactly (no float rounding), and checks that a float reader that rounds
// ts*1000 to the nearest ns (as Perfetto's JSON importer does) gets the same.
func exactNS(v any) (int64, error) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v (%T) is not a JSON number", v, v)
	}
	s := string(num)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if strings.ContainsAny(s, "eE") || len(frac) > 3 {
		return 0, fmt.Errorf("%s µs: want at most 3 decimals (ns), no exponent", num)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", num, err)
	}
	frac += strings.Repeat("0", 3-len(frac))
	f, _ := strconv.ParseInt(frac, 10, 64)
	ns := w*1000 + f
	if neg {
		ns = -ns
	}
	fl, _ := num.Float64()
	if r := int64(math.Round(fl * 1000)); r != ns {
		return 0, fmt.Errorf("%s µs: a float reader gets %d ns, not %d", num, r, ns)
	}
	return ns, nil
}

// checkChromeTrace validates data against the Chrome Trace Event format as
// ui.perfetto.dev reads it: the object form with traceEvents; per ph its
// required fields with their types; ts and dur as numbers of microseconds;
// every track named by metadata; flows paired by id; and no two slices of
// one track overlapping (slices here never nest: a lane is in one state at
// a time).
func checkChromeTrace(t *testing.T, data []byte) chromeCheck {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var file struct {
		TraceEvents []map[string]any `json:"traceEvents"`
		OtherData   map[string]any   `json:"otherData"`
	}
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	if file.TraceEvents == nil {
		t.Fatal("no traceEvents array")
	}
	out := chromeCheck{tracks: map[string][]chromeSlice{}, procs: map[string]bool{}}
	type key struct{ pid, tid int64 }
	threadNames := map[key]string{}
	procNames := map[int64]bool{}
	used := map[key]bool{}
	usedPids := map[int64]bool{}
	slicesOn := map[key][]chromeSlice{}
	type flowEnd struct {
		k  key
		ts int64
	}
	flowStarts, flowEnds := map[string]flowEnd{}, map[string]flowEnd{}
	fail := func(i int, ev map[string]any, format string, args ...any) {
		t.Helper()
		b, _ := json.Marshal(ev)
		t.Fatalf("traceEvents[%d] %s: %s", i, b, fmt.Sprintf(format, args...))
	}
	integer := func(i int, ev map[string]any, field string) int64 {
		num, ok := ev[field].(json.Number)
		if !ok {
			fail(i, ev, "%s missing or not a number", field)
		}
		n, err := num.Int64()
		if err != nil {
			fail(i, ev, "%s is not an integer", field)
		}
		return n
	}
	str := func(i int, ev map[string]any, field string) string {
		s, ok := ev[field].(string)
		if !ok || s == "" {
			fail(i, ev, "%s missing or not a non-empty string", field)
		}
		return s
	}
	for i, ev := range file.TraceEvents {
		ph := str(i, ev, "ph")
		name := str(i, ev, "name")
		pid := integer(i, ev, "pid")
		var ts int64
		if ph != "M" {
			var err error
			if ts, err = exactNS(ev["ts"]); err != nil {
				fail(i, ev, "ts: %v", err)
			}
			if ts < 0 {
				fail(i, ev, "negative ts")
			}
			usedPids[pid] = true
		}
		switch ph {
		case "M":
			args, _ := ev["args"].(map[string]any)
			switch name {
			case "process_name":
				if s, _ := args["name"].(string); s == "" {
					fail(i, ev, "process_name without args.name")
				}
				procNames[pid] = true
				out.procs[args["name"].(string)] = true
			case "thread_name":
				if s, _ := args["name"].(string); s == "" {
					fail(i, ev, "thread_name without args.name")
				}
				threadNames[key{pid, integer(i, ev, "tid")}] = args["name"].(string)
			case "process_sort_index", "thread_sort_index":
				if _, err := args["sort_index"].(json.Number).Int64(); err != nil {
					fail(i, ev, "sort_index is not an integer")
				}
			default:
				fail(i, ev, "unknown metadata %q", name)
			}
		case "X":
			k := key{pid, integer(i, ev, "tid")}
			dur, err := exactNS(ev["dur"])
			if err != nil || dur <= 0 {
				fail(i, ev, "dur: want a positive number of µs (%v)", err)
			}
			args, _ := ev["args"].(map[string]any)
			why, _ := args["why"].(string)
			slicesOn[k] = append(slicesOn[k], chromeSlice{name: name, start: ts, ns: dur, why: why})
			used[k] = true
			out.maxEnd = max(out.maxEnd, ts+dur)
		case "i":
			switch s, _ := ev["s"].(string); s {
			case "t":
				used[key{pid, integer(i, ev, "tid")}] = true
			case "g", "p":
			default:
				fail(i, ev, "instant scope %q, want t, p or g", s)
			}
			out.instants++
			out.maxEnd = max(out.maxEnd, ts)
		case "s", "f":
			k := key{pid, integer(i, ev, "tid")}
			used[k] = true
			str(i, ev, "cat")
			id := fmt.Sprint(ev["id"])
			if ev["id"] == nil {
				fail(i, ev, "flow without id")
			}
			ends := flowStarts
			if ph == "f" {
				ends = flowEnds
				if ev["bp"] != "e" {
					fail(i, ev, `flow end without "bp":"e" (bind to the enclosing slice)`)
				}
			}
			if _, dup := ends[id]; dup {
				fail(i, ev, "flow id %s used twice", id)
			}
			ends[id] = flowEnd{k, ts}
		case "C":
			args, ok := ev["args"].(map[string]any)
			if !ok || len(args) == 0 {
				fail(i, ev, "counter without args")
			}
			for k, v := range args {
				if _, ok := v.(json.Number); !ok {
					fail(i, ev, "counter value %s is not a number", k)
				}
			}
			out.counters++
		default:
			fail(i, ev, "unknown ph %q", ph)
		}
	}
	for k := range used {
		if threadNames[k] == "" {
			t.Fatalf("track pid %d tid %d has events but no thread_name", k.pid, k.tid)
		}
	}
	for pid := range usedPids {
		if !procNames[pid] {
			t.Fatalf("pid %d has events but no process_name", pid)
		}
	}
	for k, ss := range slicesOn {
		slices.SortFunc(ss, func(a, b chromeSlice) int { return int(a.start - b.start) })
		for j := 1; j < len(ss); j++ {
			if prev := ss[j-1]; ss[j].start < prev.start+prev.ns {
				t.Fatalf("track %q: slice %s at %d ns overlaps %s from %d to %d", threadNames[k], ss[j].name, ss[j].start, prev.name, prev.start, prev.start+prev.ns)
			}
		}
		out.tracks[threadNames[k]] = ss
	}
	inside := func(e flowEnd) bool {
		for _, s := range slicesOn[e.k] {
			if s.start <= e.ts && e.ts <= s.start+s.ns {
				return true
			}
		}
		return false
	}
	for id, s := range flowStarts {
		f, ok := flowEnds[id]
		if !ok {
			t.Fatalf("flow %s starts but never ends", id)
		}
		if f.ts < s.ts {
			t.Fatalf("flow %s ends before it starts", id)
		}
		out.flows++
		if inside(s) && inside(f) {
			out.bound++
		}
	}
	if len(flowEnds) != len(flowStarts) {
		t.Fatalf("%d flow ends for %d starts", len(flowEnds), len(flowStarts))
	}
	return out
}

// getTrace fetches a run's trace.json (identity encoding) and checks its headers.
func getTrace(t *testing.T, ts *testServer, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/runs/"+id+"/trace.json", nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET trace.json = %d %s", resp.StatusCode, data)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, id) {
		t.Errorf("Content-Disposition %q, want an attachment named after the run", cd)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return data
}

// laneSpans computes, from a run's events, the state slices the export
// must hold per lane: each state lasts until the lane's next one, done
// ends the lane, the last state ends with the run; zero-length ones vanish.
func laneSpans(events []event.Event) (map[string][]chromeSlice, int64) {
	names := map[string]string{}
	schedOnly := map[string]bool{}
	var last int64
	type open struct {
		s, why string
		t      int64
		on     bool
	}
	opens := map[string]*open{}
	var order []string
	out := map[string][]chromeSlice{}
	closeAt := func(lane string, o *open, t int64) {
		if o.on && t > o.t {
			out[lane] = append(out[lane], chromeSlice{name: o.s, start: o.t, ns: t - o.t, why: o.why})
		}
		o.on = false
	}
	for _, ev := range events {
		last = max(last, ev.T)
		switch ev.K {
		case event.KindLane:
			names[ev.ID] = ev.Name
			if ev.Kind != event.LaneCPU {
				names[ev.ID] += " (" + ev.Kind + ")"
			}
			if ev.Group == "sched" || ev.Kind == event.LaneCPU {
				schedOnly[ev.ID] = true
			}
		case event.KindState:
			lane := ev.Lane
			if ev.Src == event.SrcSched && !schedOnly[lane] {
				// The scheduler's view of a scenario lane has a track of its own.
				lane += "\x00sched"
				names[lane] = names[ev.Lane] + schedSuffix
			}
			o := opens[lane]
			if o == nil {
				o = &open{}
				opens[lane] = o
				order = append(order, lane)
			}
			t := ev.T
			if o.on {
				t = max(t, o.t)
				closeAt(lane, o, t)
			}
			if ev.S != event.Done {
				*o = open{s: ev.S, why: ev.Why, t: t, on: true}
			}
		}
	}
	for _, lane := range order {
		closeAt(lane, opens[lane], last)
	}
	named := map[string][]chromeSlice{}
	for lane, ss := range out {
		name := names[lane]
		if name == "" {
			name = lane
		}
		named[name] = ss
	}
	return named, last
}

func TestTraceJSONOfRealRunsValidates(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, body := range []string{
		`{"scenario":"locks","engine":"go","params":{"workers":3,"increments":3000,"lock":true}}`,
		`{"scenario":"mental-model","engine":"go","params":{"tasks":4,"work":"io","size":50}}`,
	} {
		id := ts.start(t, body)
		v := ts.watch(t, id)
		if v.final() != StatusDone {
			t.Fatalf("run %s: %q", body, v.final())
		}
		check := checkChromeTrace(t, getTrace(t, ts, id))
		want, last := laneSpans(v.events)
		if check.maxEnd != last {
			t.Errorf("the trace ends at %d ns, the run at %d ns: ts/dur are not microseconds of the run", check.maxEnd, last)
		}
		for lane, ss := range want {
			got := check.tracks[lane]
			if len(got) != len(ss) {
				t.Fatalf("track %q has %d slices, the run's events make %d", lane, len(got), len(ss))
			}
			for i := range ss {
				if got[i] != ss[i] {
					t.Fatalf("track %q slice %d = %+v, want %+v", lane, i, got[i], ss[i])
				}
			}
		}
		if len(check.tracks) != len(want) {
			t.Errorf("%d tracks with slices, want %d", len(check.tracks), len(want))
		}
		if check.instants == 0 {
			t.Errorf("no instants (the end, marks)")
		}
		t.Logf("%s: %d tracks, %d instants, %d flows (%d bound to slices), %d counters", body, len(check.tracks), check.instants, check.flows, check.bound, check.counters)
	}
}

func TestTraceJSONKeepsTracksSequentialAndGrouped(t *testing.T) {
	ts := newTestServer(t, nil)
	evs := []event.Event{
		{T: 0, K: event.KindLane, ID: "main", Kind: event.LaneProcess, Name: "main", PID: 100},
		{T: 10, K: event.KindLane, ID: "w1", Kind: event.LaneProcess, Name: "worker \"1\" <b>", PID: 101, Parent: "main"},
		{T: 10, K: event.KindLane, ID: "P0", Kind: event.LaneCPU, Name: "P0 (core)", Group: "sched"},
		{T: 20, K: event.KindState, Lane: "main", S: event.Running},
		{T: 1500, K: event.KindState, Lane: "w1", S: event.Running, Why: "pickled"},
		{T: 1400, K: event.KindState, Lane: "w1", S: event.IO},       // another process's clock: back in time
		{T: 2000, K: event.KindState, Lane: "ghost", S: event.Sleep}, // never declared
		{T: 2100, K: event.KindFlow, From: "main", To: "w1", Label: "pickled 10 KiB"},
		{T: 2200, K: event.KindCounter, Name: "queue", V: event.Float(3)},
		{T: 2300, K: event.KindOutput, Lane: "w1", Stream: "stdout", Text: "hello\n\"world\""},
		{T: 2400, K: event.KindMark, Label: "the program exited with code 0"},
		{T: 2500, K: event.KindState, Lane: "P0", S: event.Idle, Src: event.SrcSched},
		{T: 2600, K: event.KindState, Lane: "w1", S: event.Done},
		{T: 3001, K: event.KindEnd, Summary: &event.Summary{Metrics: map[string]event.Metric{}, Verdict: "ok"}},
	}
	var lines [][]byte
	for i := range evs {
		lines = append(lines, event.Marshal(&evs[i]))
	}
	id, err := ts.srv.store.RecordLines(context.Background(), "multiprocessing", "go", lines, StatusDone)
	if err != nil {
		t.Fatal(err)
	}
	check := checkChromeTrace(t, getTrace(t, ts, id))
	want, _ := laneSpans(evs)
	for lane, ss := range want {
		if !slices.Equal(check.tracks[lane], ss) {
			t.Errorf("track %q = %+v, want %+v", lane, check.tracks[lane], ss)
		}
	}
	// w1 ran from 1500; its io state stamped 1400 starts at 1500 instead
	// (the running slice, now empty, is dropped) and lasts until done.
	if w1 := check.tracks["worker \"1\" <b> (process)"]; len(w1) != 1 || w1[0] != (chromeSlice{name: event.IO, start: 1500, ns: 1100}) {
		t.Errorf("w1 slices %+v: the state stamped back in time should start when the open one ends", w1)
	}
	for _, p := range []string{"process 100", "process 101", "Go scheduler (runtime/trace)", "multiprocessing (go) run " + id} {
		if !check.procs[p] {
			t.Errorf("no process %q; processes %v", p, check.procs)
		}
	}
	if check.flows != 1 || check.bound != 1 || check.counters != 1 || check.maxEnd != 3001 {
		t.Errorf("flows %d (bound %d), counters %d, end %d", check.flows, check.bound, check.counters, check.maxEnd)
	}
}

func TestTraceJSONGzipAndNotFound(t *testing.T) {
	ts := newTestServer(t, nil, &floodEngine{events: 5000})
	id := ts.start(t, `{"scenario":"locks","engine":"go"}`)
	waitStatus(t, ts, id, StatusDone)
	plain := getTrace(t, ts, id)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/runs/"+id+"/trace.json", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Errorf("gzipped export differs from the plain one")
	}
	check := checkChromeTrace(t, plain)
	if n := len(check.tracks["worker 1 (goroutine)"]); n < 4990 {
		t.Errorf("%d slices for 4999 state events", n)
	}
	resp2, err := http.Get(ts.URL + "/api/runs/nosuchrun/trace.json")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run: %d, want 404", resp2.StatusCode)
	}
}

// BenchmarkExport measures GET trace.json of a recorded 1,000,000-event run.
// go test ./server -run '^$' -bench Export -benchtime 3x
func BenchmarkExport(b *testing.B) {
	const n = 1_000_000
	ts := newBenchServer(b, &floodEngine{events: 1})
	id := storedBenchRun(b, ts.srv, n)
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			var size int64
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/runs/"+id+"/trace.json", nil)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				size, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				cancel()
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}
