package child

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
)

// WatchdogEnv names the environment variable that makes this binary a
// server's watchdog (see watchdog); RoleMain dispatches it.
const WatchdogEnv = "INTERLEAVE_WATCHDOG"

// RoleMain runs this process in a role of this package when the
// environment asks for one (the sandbox of a run, a server's watchdog) and
// reports ok; main and the TestMain of packages whose tests start contained
// runs call it first thing and exit with code when ok.
func RoleMain() (code int, ok bool) {
	if spec := os.Getenv(SandboxEnv); spec != "" {
		return SandboxMain(spec), true
	}
	if os.Getenv(WatchdogEnv) == "1" {
		return watchdogMain(os.Stdin), true
	}
	return 0, false
}

// watchdog is a small process beside the server, outside its process
// group and session, that kills the runs still going when the server dies.
// The server tells it over a pipe which runs are going (their Leftover);
// when the pipe ends without a goodbye (the kernel closes it when the server
// dies, a kill -9 included) it sweeps them, within milliseconds. The
// parent-death signals of a run's processes do the same job process by
// process, and the restart sweep is the last resort; the watchdog does not
// depend on every process of a run having asked for its signal in time (a
// python worker that is still importing has not).
type watchdog struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	pipe io.WriteCloser
	enc  *json.Encoder
	err  error
}

// watchMessage is one line from the server to its watchdog.
type watchMessage struct {
	// Op is "add" (a run started), "remove" (it ended) or "bye" (the
	// server stops on purpose: nothing to sweep).
	Op       string    `json:"op"`
	Run      string    `json:"run,omitempty"`
	Leftover *Leftover `json:"leftover,omitempty"`
}

// startWatchdog starts the watchdog: executable (this binary) in the
// watchdog role. Its messages go to stderr.
func startWatchdog(executable string, stderr io.Writer) (*watchdog, error) {
	cmd := exec.Command(executable, sandboxGuard)
	cmd.Env = []string{WatchdogEnv + "=1"}
	cmd.Stderr = stderr
	// Its own session: a signal to the server's terminal or process
	// group does not reach it. No parent-death signal: it must outlive
	// the server, for as long as the sweep takes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	pipe, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, pipe: pipe, enc: json.NewEncoder(pipe)}, nil
}

func (w *watchdog) send(m watchMessage) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.enc.Encode(m); err != nil {
		w.err = fmt.Errorf("tell the watchdog: %w", err)
	}
	return w.err
}

// add tells the watchdog a run has started.
func (w *watchdog) add(run string, l Leftover) error {
	return w.send(watchMessage{Op: "add", Run: run, Leftover: &l})
}

// remove tells the watchdog a run has ended and its processes are gone.
func (w *watchdog) remove(run string) error {
	return w.send(watchMessage{Op: "remove", Run: run})
}

// close says goodbye (the runs it still knows are swept: a server closes it
// after its runs have ended) and waits for the watchdog to exit.
func (w *watchdog) close() error {
	err := w.send(watchMessage{Op: "bye"})
	w.pipe.Close()
	if werr := w.cmd.Wait(); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

// watchdogMain reads the server's messages until the pipe ends, then sweeps
// the runs it still knows.
func watchdogMain(in io.Reader) int {
	// The server's stderr may be a pipe that died with it: a failed write
	// must not kill the watchdog before it has swept.
	signal.Ignore(syscall.SIGPIPE, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	runs := map[string]Leftover{}
	goodbye := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m watchMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "interleave watchdog: bad message:", err)
			continue
		}
		switch m.Op {
		case "add":
			if m.Leftover != nil {
				runs[m.Run] = *m.Leftover
			}
		case "remove":
			delete(runs, m.Run)
		case "bye":
			goodbye = true
		}
	}
	for id, l := range runs {
		swept, err := Sweep(l)
		if !goodbye || swept.Killed > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "interleave watchdog: the server is gone; run %s: killed %d processes (%d not provably the run's) %v\n", id, swept.Killed, swept.Skipped, errOrEmpty(err))
		}
	}
	return 0
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
