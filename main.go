// Command interleave serves the Interleave playground: pick a concurrency
// scenario, press Run, and watch a real program's threads, goroutines,
// processes and tasks on a live timeline.
//
// The same binary is also the child that runs a scenario on the go engine:
// when INTERLEAVE_ROLE is set it runs in that role instead of serving. And
// `interleave runner -nats URL` makes it a runner of a pool over NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"interleave/scenarios/child"
	"interleave/scenarios/goengine"
	"interleave/scenarios/gotrace"
	"interleave/server"
)

func main() {
	// A run's sandbox sets the run up and becomes the engine's program.
	if code, ok := child.RoleMain(); ok {
		os.Exit(code)
	}
	if role := os.Getenv(goengine.RoleEnv); role != "" {
		os.Exit(childMain(role))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serve := run
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "runner" {
		// `interleave runner`: execute runs of a pool (see runnercmd.go).
		serve = func(ctx context.Context, args []string, _ func(string) string, stderr io.Writer) error {
			return runRunner(ctx, args[1:], stderr)
		}
	}
	if err := serve(ctx, args, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "interleave:", err)
		os.Exit(1)
	}
}

// childMain runs this binary as one of its own child processes: a go
// engine run (goengine.ChildMain) or the converter of an uploaded trace
// (gotrace.ChildMain, see server/importchild.go).
func childMain(role string) int {
	if role == gotrace.ChildRole {
		return gotrace.ChildMain()
	}
	return goengine.ChildMain(role)
}

// run reads flags and environment, then serves until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("interleave", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := getenv("PORT")
	defaultPort := port
	if defaultPort == "" {
		defaultPort = "8080"
	}
	var lan bool
	var allowedHosts string
	fs.StringVar(&cfg.Addr, "addr", net.JoinHostPort("127.0.0.1", defaultPort), "address to serve on; loopback only unless it names another address (PORT in the environment sets the port)")
	fs.BoolVar(&lan, "lan", false, "serve every network interface, for a room: prints the URL of each interface address")
	fs.StringVar(&allowedHosts, "allowed-hosts", "", "comma-separated host names, besides localhost and IP addresses, that browsers may use to reach this server (e.g. laptop.local)")
	fs.StringVar(&cfg.DataDir, "data", "./data", "directory for recorded runs (a SQLite database; created on start)")
	fs.IntVar(&cfg.Limits.KeepRuns, "keep-runs", cfg.Limits.KeepRuns, "recorded runs kept; past it the oldest unpinned runs are deleted")
	fs.Int64Var(&cfg.Limits.KeepBytes, "keep-bytes", cfg.Limits.KeepBytes, "bytes of recorded events kept on disk; past it the oldest unpinned runs are deleted")
	fs.Int64Var(&cfg.Limits.MaxImportBytes, "max-import", cfg.Limits.MaxImportBytes, "largest Go execution trace POST /api/imports accepts, bytes")
	fs.IntVar(&cfg.Limits.MaxImports, "max-imports", cfg.Limits.MaxImports, "uploaded traces converted at once; beyond, POST /api/imports answers 429")
	fs.Int64Var(&cfg.Limits.CacheBytes, "cache-bytes", cfg.Limits.CacheBytes, "bytes of recorded events kept decoded in memory for replays and exports")
	fs.BoolVar(&cfg.ResetStore, "reset-store", false, "if the store in -data cannot be opened (empty, damaged, another version), move it aside and start an empty one")
	fs.IntVar(&cfg.Limits.MaxConcurrent, "max-runs", cfg.Limits.MaxConcurrent, "runs executing at once on this machine (default: number of cores); with a runner pool (-nats), the pool's runs are bounded by the slots its runners advertise instead")
	fs.IntVar(&cfg.Limits.QueueSize, "queue", cfg.Limits.QueueSize, "runs waiting for a slot before new ones get 429")
	fs.DurationVar(&cfg.Limits.DefaultDeadline, "deadline", cfg.Limits.DefaultDeadline, "wall-clock deadline of a run")
	fs.DurationVar(&cfg.Limits.MaxDeadline, "max-deadline", cfg.Limits.MaxDeadline, "largest deadline a run may ask for")
	fs.Int64Var(&cfg.Limits.MaxEvents, "max-events", cfg.Limits.MaxEvents, "events kept per run before it is truncated")
	fs.Int64Var(&cfg.Limits.MaxOutput, "max-output", cfg.Limits.MaxOutput, "bytes of stdout+stderr kept per run")
	fs.Int64Var(&cfg.Limits.MemoryBytes, "memory", cfg.Limits.MemoryBytes, "memory cap of all of a run's processes together, bytes (kernel-enforced where there is a memory cgroup)")
	fs.Int64Var(&cfg.Limits.MaxTasks, "max-tasks", cfg.Limits.MaxTasks, "processes and threads one run may have at once (pids cgroup)")
	fs.Uint64Var(&cfg.Limits.MaxOpenFiles, "max-files", cfg.Limits.MaxOpenFiles, "open files per process of a run (RLIMIT_NOFILE)")
	fs.Uint64Var(&cfg.Limits.MaxFileBytes, "max-file-size", cfg.Limits.MaxFileBytes, "largest file a run may write, bytes (RLIMIT_FSIZE)")
	without := fs.String("without", "", "protections of a run to turn off, comma-separated: cgroup, network, landlock, userns, caps (the log says what is off and why)")
	fs.IntVar(&cfg.Limits.LocalSlots, "local-slots", -1, "runs this machine executes itself at once (default: -max-runs); 0 sends every run to the runner pool (-nats); step runs always execute here")
	natsURL := fs.String("nats", "", "the runner pool's NATS server (nats://host:4222), or \"embedded\" to start one here (with -nats-listen); runs the local slots cannot take go to the pool's runners")
	natsListen := fs.String("nats-listen", "", "with -nats embedded: the address the embedded NATS server listens on for runners (e.g. 0.0.0.0:4222)")
	fs.IntVar(&cfg.Limits.MaxStepRuns, "max-step-runs", cfg.Limits.MaxStepRuns, "step runs (step=true) live at once, most waiting for their learners without a run slot")
	fs.DurationVar(&cfg.Limits.StepIdle, "step-idle", cfg.Limits.StepIdle, "a step run nobody steps for this long is cancelled")
	fs.IntVar(&cfg.Limits.MaxSteps, "max-steps", cfg.Limits.MaxSteps, "most steps one run may take, its schedule's included")
	fs.IntVar(&cfg.Rooms.MaxRooms, "max-rooms", cfg.Rooms.MaxRooms, "workshop rooms open at once (a room expires after 12 h idle)")
	fs.IntVar(&cfg.Rooms.MaxAttendees, "room-attendees", cfg.Rooms.MaxAttendees, "attendees who may join one workshop room")
	fs.Var(&pythonFlag{cfg: &cfg}, "python", "ID=PATH: the CPython of an engine, repeatable: python=PATH for the python engine (default python3 on PATH), python-ft=PATH for a free-threaded one (tried in order, before python3.14t and python3.13t on PATH)")
	fs.BoolVar(&cfg.DevStatic, "dev", false, "serve static/ from disk (edit JS/CSS without rebuilding)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *without != "" {
		cfg.Without = strings.Split(*without, ",")
	}
	if cfg.Limits.MaxStepRuns < 0 || cfg.Limits.StepIdle <= 0 || cfg.Limits.MaxSteps < 1 {
		return fmt.Errorf("-max-step-runs %d, -step-idle %s, -max-steps %d: want a step-run count of 0 or more, a positive idle time and at least 1 step",
			cfg.Limits.MaxStepRuns, cfg.Limits.StepIdle, cfg.Limits.MaxSteps)
	}
	localGiven := false
	fs.Visit(func(f *flag.Flag) { localGiven = localGiven || f.Name == "local-slots" })
	if localGiven && (cfg.Limits.LocalSlots < 0 || cfg.Limits.LocalSlots > cfg.Limits.MaxConcurrent) {
		return fmt.Errorf("-local-slots %d: want 0 to %d (-max-runs)", cfg.Limits.LocalSlots, cfg.Limits.MaxConcurrent)
	}
	if localGiven && cfg.Limits.LocalSlots == 0 && *natsURL == "" {
		return fmt.Errorf("-local-slots 0: this server would execute no run; give it a runner pool with -nats, or want 1 to %d", cfg.Limits.MaxConcurrent)
	}
	if cfg.Rooms.MaxRooms < 1 || cfg.Rooms.MaxAttendees < 1 {
		return fmt.Errorf("-max-rooms %d, -room-attendees %d: want at least 1 of each", cfg.Rooms.MaxRooms, cfg.Rooms.MaxAttendees)
	}
	addrGiven := false
	fs.Visit(func(f *flag.Flag) { addrGiven = addrGiven || f.Name == "addr" })
	addr, err := listenAddress(cfg.Addr, addrGiven, lan, port)
	if err != nil {
		return err
	}
	cfg.Addr = addr
	if cfg.AllowedHosts, err = hostNames(allowedHosts); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if *natsURL != "" {
		d, stopPool, err := startPool(*natsURL, *natsListen, cfg.DataDir, logger)
		if err != nil {
			return err
		}
		defer stopPool()
		cfg.Runner = d
	}
	return server.ListenAndServe(ctx, cfg, logger)
}

// pythonFlag reads -python ID=PATH into cfg: python=PATH once, for the
// python engine; python-ft=PATH as often as wanted, in order.
type pythonFlag struct{ cfg *server.Config }

func (p *pythonFlag) String() string { return "" }

func (p *pythonFlag) Set(v string) error {
	id, path, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(path) == "" {
		return fmt.Errorf("%q: want ID=PATH, such as python-ft=/usr/bin/python3.14t", v)
	}
	switch id {
	case "python":
		if p.cfg.Python != "" {
			return fmt.Errorf("python=%s: the python engine's interpreter is already %s; give it once", path, p.cfg.Python)
		}
		p.cfg.Python = path
	case "python-ft":
		p.cfg.FreeThreaded = append(p.cfg.FreeThreaded, path)
	default:
		return fmt.Errorf("%q: unknown engine %q; want python or python-ft", v, id)
	}
	return nil
}

// listenAddress is the address to listen on. The default is loopback only
// (PORT sets its port); -lan widens it to every interface, and an explicit
// -addr is used as given. -lan with a loopback -addr asks for two opposite
// things and is refused.
func listenAddress(addr string, addrGiven, lan bool, port string) (string, error) {
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("PORT=%q: want a port number from 0 to 65535", port)
		}
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("-addr %q: want host:port, such as 127.0.0.1:8080 or :8080", addr)
	}
	if !lan {
		return addr, nil
	}
	if !addrGiven {
		return net.JoinHostPort("", p), nil
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "", fmt.Errorf("-lan serves every interface, but -addr %s serves this machine only: give one of them (or -addr :%s)", addr, p)
	}
	return addr, nil
}

// hostNamePattern is a DNS name: labels of letters, digits and hyphens.
var hostNamePattern = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$`)

// hostNames reads -allowed-hosts: host names separated by commas, without
// ports or schemes.
func hostNames(list string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !hostNamePattern.MatchString(n) || len(n) > 253 {
			return nil, fmt.Errorf("-allowed-hosts: %q is not a host name; want names such as laptop.local or class.example.org, separated by commas (no port, no http://)", n)
		}
		names = append(names, n)
	}
	return names, nil
}
