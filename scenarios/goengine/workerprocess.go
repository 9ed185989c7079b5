package goengine

// Worker processes: this binary re-executed in a worker role, as Python's
// multiprocessing starts a fresh interpreter. The parent sends jobs on the
// worker's stdin and reads results on its stdout, both as length-prefixed gob
// frames (gob plays the part of pickle: a real encode and decode whose cost
// grows with the data). The worker writes its own events as JSON lines on fd 3,
// a pipe of its own that the parent reads and re-emits whole: lines of several
// workers never interleave, and everything is stamped with the run's clock.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"interleave/scenarios/event"
)

// Environment of a re-executed child of this binary.
const (
	// roleProcessWorker is the role of multiprocessing and pool workers.
	roleProcessWorker = "process-worker"
	// clockBaseEnv carries the run's ClockBase so a worker stamps its events
	// with the same clock as the runner.
	clockBaseEnv = "INTERLEAVE_CLOCK_BASE"
	// laneEnv names the worker's lane.
	laneEnv = "INTERLEAVE_LANE"
	// serializationEnv set to 1 makes a worker draw its decode and encode
	// spans (multiprocessing); pools leave it out to keep the timeline light.
	serializationEnv = "INTERLEAVE_SHOW_SERIALIZATION"
)

// maxFrame bounds one job or result frame (payload_kb is at most 10 MiB of
// values; their gob encoding is smaller than twice that).
const maxFrame = 64 << 20

func init() {
	childRoles[roleProcessWorker] = processWorkerMain
}

// selfExecutable is the binary to re-execute for child roles.
var selfExecutable = sync.OnceValues(os.Executable)

// selfCommand returns a command that runs this binary in role. The child
// stays in the runner's process group (no Setpgid), so the server's kill of
// the group reaches it; Pdeathsig also kills it should the runner die alone.
// Cancelling ctx kills it. GORACE only matters to race-enabled builds, whose
// runtime otherwise sleeps a second before every exit.
func selfCommand(ctx context.Context, role string, env ...string) (*exec.Cmd, error) {
	exe, err := selfExecutable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "interleave-"+role)
	cmd.Env = append([]string{RoleEnv + "=" + role, "PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// workerJob is what the parent sends a worker: tasks to compute and a payload
// to carry there and back.
type workerJob struct {
	Tasks []workerTask
	// RoundsPerMS is the parent's calibration, so that a task of N ms is the
	// same amount of work in every process.
	RoundsPerMS int64
	// Payload is data sent to the worker and returned (each value plus one).
	Payload []int64
}

// workerTask is one unit of CPU work.
type workerTask struct {
	ID int
	MS int
}

// workerResult is a worker's answer to one job, with its own measurements.
// It travels as two frames: this record, then the payload encoded on its own
// so that EncodeNS is the measured time of exactly the bytes sent.
type workerResult struct {
	PID  int
	Done []int
	// DecodeNS, ComputeNS and EncodeNS are measured in the worker.
	DecodeNS, ComputeNS, EncodeNS int64
	// PeakRSS is the worker's own peak resident memory so far, in bytes
	// (VmHWM, see selfRSS), read once the job is done and its payload
	// encoded: what it reports with its last result is its peak, since
	// after that it only waits for stdin to close and exits.
	PeakRSS int64
}

// workerHello is the first frame of a worker: it is ready for jobs.
type workerHello struct {
	PID    int
	ReadyT int64 // run clock
}

func writeFrame(w io.Writer, b []byte) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is over the %d byte limit", n, maxFrame)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func gobEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

func gobDecode(b []byte, v any) error { return gob.NewDecoder(bytes.NewReader(b)).Decode(v) }

// workerSide is a worker process's end of its link to the parent: its
// emitter (fd 3, stamped with the run's clock), its lane, and gob frames on
// stdin and stdout.
type workerSide struct {
	em   *Emitter
	lane string
	in   *bufio.Reader
	out  *bufio.Writer
}

// openWorkerSide reads the worker's environment and opens its emitter.
func openWorkerSide() (*workerSide, error) {
	base, err := strconv.ParseInt(os.Getenv(clockBaseEnv), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", clockBaseEnv, err)
	}
	return &workerSide{
		em:   NewEmitter(os.NewFile(3, "events"), base),
		lane: os.Getenv(laneEnv),
		in:   bufio.NewReaderSize(os.Stdin, 64<<10),
		out:  bufio.NewWriterSize(os.Stdout, 64<<10),
	}, nil
}

func (w *workerSide) close() { w.em.Close() }

func (w *workerSide) send(frames ...[]byte) error {
	for _, f := range frames {
		if err := writeFrame(w.out, f); err != nil {
			return err
		}
	}
	return w.out.Flush()
}

// serve announces the worker, then answers each job frame from stdin with
// the frames job returns, until stdin closes.
func (w *workerSide) serve(job func(frame []byte) ([][]byte, error)) error {
	hello, err := gobEncode(workerHello{PID: os.Getpid(), ReadyT: w.em.Now()})
	if err != nil {
		return err
	}
	if err := w.send(hello); err != nil {
		return fmt.Errorf("write hello: %w", err)
	}
	w.em.State(w.lane, event.Idle, "ready: idle until a task arrives on stdin")
	for {
		frame, err := readFrame(w.in)
		if errors.Is(err, io.EOF) {
			w.em.State(w.lane, event.Done, "stdin closed: the worker exits")
			return nil
		}
		if err != nil {
			return fmt.Errorf("read job: %w", err)
		}
		answer, err := job(frame)
		if err != nil {
			return err
		}
		// Writing the result wakes the parent, which may take this core
		// at once: the write is a system call, not measured work.
		w.em.State(w.lane, event.Syscall, "sending the result to the parent (a write to the pipe)")
		if err := w.send(answer...); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		w.em.State(w.lane, event.Idle, "idle: waiting for the next task on stdin")
	}
}

// processWorkerMain is a worker process: it announces itself, then runs jobs
// from stdin until stdin closes.
func processWorkerMain() error {
	w, err := openWorkerSide()
	if err != nil {
		return err
	}
	defer w.close()
	showSerialization := os.Getenv(serializationEnv) == "1"
	return w.serve(func(frame []byte) ([][]byte, error) {
		res, payload, err := runWorkerJob(w.em, w.lane, frame, showSerialization)
		if err != nil {
			return nil, err
		}
		res.PeakRSS = selfRSS()
		meta, err := gobEncode(res)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		return [][]byte{meta, payload}, nil
	})
}

// runWorkerJob decodes one job, computes it and encodes the payload to send
// back, measuring each step.
func runWorkerJob(em *Emitter, lane string, frame []byte, show bool) (workerResult, []byte, error) {
	var job workerJob
	if show {
		em.State(lane, event.Active, fmt.Sprintf("decode the task: %s (gob, like unpickling)", formatBytes(len(frame))))
	}
	t0 := time.Now()
	if err := gobDecode(frame, &job); err != nil {
		return workerResult{}, nil, fmt.Errorf("decode job: %w", err)
	}
	res := workerResult{PID: os.Getpid(), DecodeNS: int64(time.Since(t0))}

	t1 := time.Now()
	for _, task := range job.Tasks {
		_, _ = measuredCPUWork(context.Background(), em, lane, fmt.Sprintf("compute task %d (%d ms of CPU)", task.ID+1, task.MS), job.RoundsPerMS, task.MS)
		res.Done = append(res.Done, task.ID)
	}
	for i := range job.Payload {
		job.Payload[i]++
	}
	res.ComputeNS = int64(time.Since(t1))

	if show {
		em.State(lane, event.Active, fmt.Sprintf("encode the result: %d values (gob, like pickling)", len(job.Payload)))
	}
	t2 := time.Now()
	payload, err := gobEncode(job.Payload)
	if err != nil {
		return res, nil, fmt.Errorf("encode result: %w", err)
	}
	res.EncodeNS = int64(time.Since(t2))
	return res, payload, nil
}

// workerProcess is the parent's handle on one worker process.
type workerProcess struct {
	cmd    *exec.Cmd
	lane   string
	pid    int
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *cappedBuffer
	relay  chan struct{} // closed when the worker's event pipe is drained
	// spawnT and readyT are run-clock times of the start and of the hello.
	spawnT, readyT int64
	// peakRSS is the largest peak memory the worker reported of itself
	// (see reportPeak), bytes.
	peakRSS atomic.Int64
	// ownMemoryOnly makes finish read the worker's private memory rather
	// than its peak (see ownMemoryOf): the decision matrix sums children.
	ownMemoryOnly bool
}

// reportPeak records a peak resident memory the worker reported of itself
// (VmHWM, bytes): its parent cannot learn it from rusage (see selfRSS).
func (w *workerProcess) reportPeak(bytes int64) {
	for {
		old := w.peakRSS.Load()
		if bytes <= old || w.peakRSS.CompareAndSwap(old, bytes) {
			return
		}
	}
}

// startWorkerProcess starts a worker on its own lane (kind process, with its
// pid) and waits until it is ready for jobs. With showSerialization the
// worker draws its decode and encode spans. The worker runs with GOMAXPROCS=1:
// one thread of execution, like one Python interpreter.
func startWorkerProcess(ctx context.Context, r *Run, lane, name, parent string, showSerialization bool) (*workerProcess, error) {
	var env []string
	if showSerialization {
		env = append(env, serializationEnv+"=1")
	}
	return startRoleProcess(ctx, r, roleProcessWorker, lane, name, parent, env...)
}

// startRoleProcess starts this binary in role as a worker process that
// speaks the worker protocol (a hello frame, then frames on stdin and
// stdout, its events on fd 3), with env added to its environment.
func startRoleProcess(ctx context.Context, r *Run, role, lane, name, parent string, env ...string) (*workerProcess, error) {
	return startRoleProcessWith(ctx, r, role, lane, name, parent, roleProcessOptions{}, env...)
}

// roleProcessOptions are the less common settings of a worker process.
type roleProcessOptions struct {
	// group is the lane's group on the timeline.
	group string
	// files are open in the worker from fd 4 on (fd 3 carries its events).
	files []*os.File
}

// startRoleProcessWith is startRoleProcess with options.
func startRoleProcessWith(ctx context.Context, r *Run, role, lane, name, parent string, opt roleProcessOptions, env ...string) (*workerProcess, error) {
	env = append([]string{
		clockBaseEnv + "=" + strconv.FormatInt(r.Spec.ClockBase, 10),
		laneEnv + "=" + lane,
		"GOMAXPROCS=1",
	}, env...)
	cmd, err := selfCommand(ctx, role, env...)
	if err != nil {
		return nil, err
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("event pipe: %w", err)
	}
	cmd.ExtraFiles = append([]*os.File{evW}, opt.files...)
	in, err := cmd.StdinPipe()
	if err != nil {
		evR.Close()
		evW.Close()
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		evR.Close()
		evW.Close()
		return nil, err
	}
	w := &workerProcess{cmd: cmd, lane: lane, in: in, out: bufio.NewReaderSize(out, 64<<10), stderr: &cappedBuffer{max: 4096}, relay: make(chan struct{})}
	cmd.Stderr = w.stderr
	w.spawnT = r.Now()
	err = cmd.Start()
	evW.Close() // the worker holds its own copy
	if err != nil {
		evR.Close()
		return nil, fmt.Errorf("start worker %s: %w", name, err)
	}
	w.pid = cmd.Process.Pid
	r.Emit(event.Event{T: w.spawnT, K: event.KindLane, ID: lane, Kind: event.LaneProcess, Name: name, Parent: parent, PID: w.pid, Group: opt.group})
	r.Emit(event.Event{T: w.spawnT, K: event.KindState, Lane: lane, S: event.Active, Why: "starting: fork, exec and runtime start-up of a new process", Src: event.SrcApp})
	go func() {
		defer close(w.relay)
		defer evR.Close()
		relayEvents(r, evR)
	}()

	frame, err := readFrame(w.out)
	if err != nil {
		w.kill()
		return nil, fmt.Errorf("worker %s did not start: %v %s", name, err, w.stderr.String())
	}
	var hello workerHello
	if err := gobDecode(frame, &hello); err != nil {
		w.kill()
		return nil, fmt.Errorf("worker %s hello: %w", name, err)
	}
	w.readyT = hello.ReadyT
	return w, nil
}

// relayEvents re-emits the JSON event lines a worker writes, whole.
func relayEvents(r *Run, rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.K == event.KindEnd {
			continue
		}
		r.Emit(ev)
	}
	// Drain what is left if a line was too long, so the worker never blocks.
	_, _ = io.Copy(io.Discard, rd)
}

// send writes an encoded job to the worker.
func (w *workerProcess) send(frame []byte) error {
	if err := writeFrame(w.in, frame); err != nil {
		return fmt.Errorf("send to worker pid %d: %w", w.pid, err)
	}
	return nil
}

// receive reads the next result: its record and its encoded payload.
func (w *workerProcess) receive() (meta, payload []byte, err error) {
	if meta, err = readFrame(w.out); err == nil {
		payload, err = readFrame(w.out)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("result from worker pid %d: %w %s", w.pid, err, w.stderr.String())
	}
	return meta, payload, nil
}

// finish closes the worker's stdin, waits for it to exit and for its events,
// and returns its own peak resident memory in bytes: the larger of what it
// reported with its results (see reportPeak) and its VmHWM read from
// /proc/<pid>/status just before its stdin closes, while it is alive and
// idle (a pool worker that got no job reports nothing else); 0 when neither
// is known. The rusage of the
// waited child is not used: its ru_maxrss starts at this process's peak.
func (w *workerProcess) finish() (peakRSS int64, err error) {
	if w.ownMemoryOnly {
		w.reportPeak(ownMemoryOf(strconv.Itoa(w.pid)))
	} else {
		w.reportPeak(peakRSSOf(strconv.Itoa(w.pid)))
	}
	w.in.Close()
	err = w.cmd.Wait()
	<-w.relay
	if err != nil {
		return w.peakRSS.Load(), fmt.Errorf("worker pid %d: %w %s", w.pid, err, w.stderr.String())
	}
	return w.peakRSS.Load(), nil
}

// kill stops the worker at once and reaps it.
func (w *workerProcess) kill() {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	w.in.Close()
	_ = w.cmd.Wait()
	<-w.relay
}

// cappedBuffer keeps the first max bytes written to it (a child's stderr).
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}

// selfRSS returns this process's peak resident memory in bytes: VmHWM, the
// high-water mark of its own address space. getrusage's ru_maxrss is only the
// fallback: Linux carries the old address space's peak across execve, and Go
// starts children with a vfork-style clone, so a re-executed child's
// ru_maxrss (and the rusage its parent gets from wait4) starts at its
// parent's peak, the server's or the test binary's.
func selfRSS() int64 {
	if peak := peakRSSOf("self"); peak > 0 {
		return peak
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss << 10
}

// ownMemoryOf returns the memory process pid ("self" or a number) holds of
// its own, in bytes: its private pages (Private_Clean + Private_Dirty of
// /proc/<pid>/smaps_rollup), read now. A child process shares its binary's
// pages and libraries with its parent (and all of its parent's pages until
// it writes them, when forked); its peak (VmHWM) counts those again, so a sum
// of children's peaks would count the same memory many times. Falls back to
// VmHWM when smaps_rollup cannot be read.
func ownMemoryOf(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/smaps_rollup")
	if err != nil {
		return peakRSSOf(pid)
	}
	var total int64
	for _, key := range []string{"\nPrivate_Clean:", "\nPrivate_Dirty:"} {
		_, rest, ok := bytes.Cut(b, []byte(key))
		if !ok {
			return peakRSSOf(pid)
		}
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
		if err != nil {
			return peakRSSOf(pid)
		}
		total += kb << 10
	}
	return total
}

// peakRSSOf returns the VmHWM of process pid ("self" or a number) from
// /proc/<pid>/status, in bytes; 0 when it cannot be read (the process is
// gone, or a zombie: VmHWM goes with the address space).
func peakRSSOf(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmHWM:"))
	if !ok {
		return 0
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	if err != nil {
		return 0
	}
	return kb << 10
}
