package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
)

// soakEnv sets the soak's length (a duration, e.g. 10m); longEnv alone
// makes it ten minutes. The default is short enough for every test run.
const soakEnv = "INTERLEAVE_SOAK"

// soakServerChild is the test binary as a whole server for the soak
// (INTERLEAVE_TEST_ROLE=soakserver): the real go engine, retention small
// enough to churn, and no per-address rate limit (the soak is one client).
func soakServerChild() int {
	cfg := DefaultConfig()
	cfg.DataDir = os.Getenv("INTERLEAVE_TEST_DATA")
	cfg.Limits.KeepRuns = 40
	cfg.Limits.RunsPerMinute = 1 << 20
	s, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), []scenarios.Engine{goEngine()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("http://%s\n", ln.Addr())
	fmt.Fprintln(os.Stderr, http.Serve(ln, s))
	return 1
}

// rssSampler samples a process's resident memory until stopped.
type rssSampler struct {
	mu      sync.Mutex
	samples []rssSample
}

type rssSample struct {
	at  time.Duration
	rss int64
}

func (s *rssSampler) run(ctx context.Context, pid int, every time.Duration) {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					var kb int64
					fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
					s.mu.Lock()
					s.samples = append(s.samples, rssSample{time.Since(start), kb << 10})
					s.mu.Unlock()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// window returns the largest and the median RSS sampled in [from, to).
func (s *rssSampler) window(from, to time.Duration) (peak, median int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []int64
	for _, x := range s.samples {
		if x.at >= from && x.at < to {
			in = append(in, x.rss)
		}
	}
	if len(in) == 0 {
		return 0, 0
	}
	slices.Sort(in)
	return in[len(in)-1], in[len(in)/2]
}

// TestSoakMemoryStaysFlat drives a server in its own process with a mix of
// runs with live viewers, comparisons, imports, replays, exports and list
// pages, and samples its resident memory. After a warm-up (the first
// third), the peak of the last third may exceed the peak of the middle
// third by at most 10 %. Before, every comparison stayed in memory with
// its runs' events, and a run that left the queue could stay referenced by
// the queue's array.
//
//	INTERLEAVE_SOAK=10m go test ./server -run TestSoakMemoryStaysFlat -v -timeout 15m
func TestSoakMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak: run without -short")
	}
	timingclaim.Heavy(t)
	length := 60 * time.Second
	if os.Getenv(longEnv) != "" {
		length = 10 * time.Minute
	}
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 30*time.Second {
			t.Fatalf("%s=%q: want a duration of at least 30s", soakEnv, v)
		}
		length = d
	}
	trace := goTrace(t)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testRoleEnv+"=soakserver", "INTERLEAVE_TEST_DATA="+t.TempDir())
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", stderr.String())
		}
	}()
	line := make([]byte, 64)
	n, _ := stdout.Read(line)
	ts := &testServer{Server: &httptest.Server{URL: strings.TrimSpace(string(line[:n]))}}
	if !strings.HasPrefix(ts.URL, "http://") {
		t.Fatalf("the server said %q", ts.URL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// watch reads a run's socket to its end (from any goroutine) and
	// reports whether it saw a final status.
	watch := func(id string) bool {
		vctx, vcancel := context.WithTimeout(ctx, time.Minute)
		defer vcancel()
		c, _, err := websocket.Dial(vctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/runs/"+id+"/events", nil)
		if err != nil {
			return false
		}
		c.SetReadLimit(64 << 20)
		return readRaw(vctx, c).final() != ""
	}

	var sampler rssSampler
	sampling := make(chan struct{})
	go func() { sampler.run(ctx, cmd.Process.Pid, 250*time.Millisecond); close(sampling) }()

	var (
		mu                                      sync.Mutex
		done                                    []string
		runs, compares, imports, viewers, other int
	)
	record := func(id string) {
		mu.Lock()
		done = append(done, id)
		mu.Unlock()
	}
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(done) == 0 {
			return ""
		}
		return done[rand.IntN(len(done))]
	}
	get := func(path string) {
		resp, err := http.Get(ts.URL + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	bodies := []string{
		`{"scenario":"locks","engine":"go","params":{"workers":3,"increments":3000,"lock":false}}`,
		`{"scenario":"threads","engine":"go"}`,
		`{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000}}`,
	}
	start := time.Now()
	for round := 0; time.Since(start) < length; round++ {
		var wg sync.WaitGroup
		// Two runs, each with two live viewers.
		for i := range 2 {
			code, out, _ := ts.post(t, bodies[(round+i)%len(bodies)])
			if code != http.StatusCreated {
				continue // the queue is full: the next round tries again
			}
			id := out["id"].(string)
			runs++
			for range 2 {
				viewers++
				wg.Go(func() {
					if watch(id) {
						record(id)
					}
				})
			}
		}
		// A comparison every third round, an import every other one.
		if round%3 == 0 {
			wg.Go(func() {
				resp, err := (&http.Client{Timeout: 2 * time.Minute}).Get(ts.URL + "/api/compare?workload=shared-state&engine=go&size=small")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					compares++
					mu.Unlock()
				}
			})
		}
		if round%2 == 0 {
			resp, err := http.Post(ts.URL+"/api/imports", "application/octet-stream", bytes.NewReader(trace))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				imports++
			}
		}
		// Replays, exports and lists of what is recorded.
		if id := pick(); id != "" {
			viewers++
			watch(id)
			get("/api/runs/" + id + "/trace.json")
			get("/r/" + id)
			other += 2
		}
		get("/runs")
		get("/api/runs?limit=50")
		other += 2
		wg.Wait()
	}
	cancel()
	<-sampling

	warm := length / 3
	midPeak, midMedian := sampler.window(warm, 2*warm)
	lastPeak, lastMedian := sampler.window(2*warm, length+time.Minute)
	growth := float64(lastPeak)/float64(midPeak) - 1
	t.Logf("soak of %v: %d runs (%d live viewers and replays), %d comparisons, %d imports, %d other requests", length.Round(time.Second), runs, viewers, compares, imports, other)
	t.Logf("server RSS after warm-up: middle third peak %.1f MiB (median %.1f), last third peak %.1f MiB (median %.1f): growth %+.1f %% (bar +10 %%)",
		mib(midPeak), mib(midMedian), mib(lastPeak), mib(lastMedian), 100*growth)
	if midPeak == 0 || lastPeak == 0 {
		t.Fatal("no memory samples")
	}
	if growth > 0.10 {
		t.Errorf("the server's peak RSS grew %.1f %% from the middle to the last third of the soak, over the 10 %% bar", 100*growth)
	}
	if compares == 0 || imports == 0 || runs < 10 {
		t.Errorf("the soak did too little to mean anything: %d runs, %d comparisons, %d imports", runs, compares, imports)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
