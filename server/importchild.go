package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"interleave/scenarios/goengine"
	"interleave/scenarios/gotrace"
)

// Bounds of the child that converts an upload (see gotrace.ChildRole).
const (
	// importLineMax caps one event line from the child: converted events
	// are small, so a longer line is a broken child.
	importLineMax = 1 << 20
	// importReportMax caps what the child may say on stderr.
	importReportMax = 64 << 10
	// importWatchEvery is how often the child's memory is measured.
	importWatchEvery = 50 * time.Millisecond
)

// errImportDeadline stops a conversion that took longer than a run may.
var errImportDeadline = errors.New("deadline reached")

// importLimitError is a trace whose conversion needed more memory or time
// than a run may use here: 413, the file is too large to convert on this
// server.
type importLimitError struct{ msg string }

func (e *importLimitError) Error() string             { return e.msg }
func (e *importLimitError) httpStatus() int           { return http.StatusRequestEntityTooLarge }
func (e *importLimitError) retryAfter() time.Duration { return 0 }

// convertInChild converts the trace read from body in a child process and
// hands each event line to emit (the line is only valid during the call;
// an error from emit stops the conversion). The child gets at most
// Limits.MemoryBytes of memory and Limits.MaxDeadline of time.
func (s *Server) convertInChild(ctx context.Context, body io.Reader, emit func(line []byte) error) (*gotrace.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to convert the trace: %w", err)
	}
	lim := s.cfg.Limits
	ctx, cancel := context.WithTimeoutCause(ctx, lim.MaxDeadline, errImportDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = []string{
		goengine.RoleEnv + "=" + gotrace.ChildRole,
		gotrace.MaxEventsEnv + "=" + strconv.FormatInt(lim.MaxEvents, 10),
		// One core at most: a conversion never takes the whole machine
		// from the runs being measured.
		"GOMAXPROCS=1",
	}
	cmd.Stdin = body
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var report bytes.Buffer
	cmd.Stderr = &limitedBuffer{buf: &report, max: importReportMax}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the trace converter: %w", err)
	}

	memoryExceeded := make(chan struct{})
	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		t := time.NewTicker(importWatchEvery)
		defer t.Stop()
		for {
			if rss := processRSS(cmd.Process.Pid); lim.MemoryBytes > 0 && rss > lim.MemoryBytes {
				close(memoryExceeded)
				cancel()
				return
			}
			select {
			case <-watchDone:
				return
			case <-t.C:
			}
		}
	}()

	readErr := readLines(stdout, importLineMax, emit)
	if readErr != nil {
		cancel() // stop the child: its lines go nowhere
	}
	waitErr := cmd.Wait()
	close(watchDone)
	<-watchStopped

	select {
	case <-memoryExceeded:
		return nil, &importLimitError{msg: fmt.Sprintf("trace: converting this trace needs more than %d MiB of memory, the most a run may use on this server", lim.MemoryBytes>>20)}
	default:
	}
	if readErr != nil {
		return nil, readErr
	}
	if errors.Is(context.Cause(ctx), errImportDeadline) {
		return nil, &importLimitError{msg: fmt.Sprintf("trace: converting it took longer than %s, the longest a run may take on this server", lim.MaxDeadline)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the client went away
	}
	var rep gotrace.ChildReport
	line, _, _ := strings.Cut(report.String(), "\n")
	if jerr := json.Unmarshal([]byte(line), &rep); jerr != nil {
		return nil, fmt.Errorf("the trace converter failed (%v) and said %q", waitErr, report.String())
	}
	switch {
	case rep.Format:
		return nil, &badRequestError{msg: "trace: " + rep.Error}
	case rep.Error != "":
		return nil, fmt.Errorf("the trace converter failed: %s", rep.Error)
	case waitErr != nil || rep.Result == nil:
		return nil, fmt.Errorf("the trace converter failed: %v", waitErr)
	}
	return rep.Result, nil
}

// readLines hands each line of r (without its newline) to emit; a line
// longer than max is an error.
func readLines(r io.Reader, max int, emit func([]byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			if len(long) > max {
				return errors.New("the trace converter wrote an event line over 1 MiB")
			}
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if len(line) > 0 {
			if eerr := emit(line); eerr != nil {
				return eerr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// processRSS returns the resident memory of process pid, or 0.
func processRSS(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
