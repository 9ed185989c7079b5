package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"interleave/pool"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/server"
)

// runRunner is the `interleave runner` subcommand: this machine takes runs
// from the pool's NATS stream and executes them with the same child code
// and containment as a web node's local runs, until ctx is done.
func runRunner(ctx context.Context, args []string, stderr io.Writer) error {
	limits := server.DefaultConfig().Limits
	fs := flag.NewFlagSet("interleave runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", "", "NATS server to take runs from, e.g. nats://10.0.0.5:4222 (required)")
	name := fs.String("name", "", "this runner's name, shown on each run's page: letters, digits, - and _ (default: the host name)")
	slots := fs.Int("slots", 0, "runs executed at once (default: number of cores)")
	memory := fs.Int64("memory", limits.MemoryBytes, "memory cap of all of a run's processes together, bytes (a run's own cap from the web node applies too)")
	tasks := fs.Int64("max-tasks", limits.MaxTasks, "processes and threads one run may have at once (pids cgroup)")
	files := fs.Uint64("max-files", limits.MaxOpenFiles, "open files per process of a run (RLIMIT_NOFILE)")
	fileSize := fs.Uint64("max-file-size", limits.MaxFileBytes, "largest file a run may write, bytes (RLIMIT_FSIZE)")
	only := fs.String("engines", "", "engines to take runs of, comma-separated, e.g. go,python (default: every engine available here)")
	without := fs.String("without", "", "protections of a run to turn off, comma-separated: cgroup, network, landlock, userns, caps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("runner: -nats is required: the NATS server the web node uses (e.g. nats://web-node:4222)")
	}
	if *name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("runner: no -name given and no host name: %w", err)
		}
		*name = strings.ReplaceAll(h, ".", "-")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for the sandbox: %w", err)
	}
	cfg := child.ContainConfig{Executable: exe, MemoryBytes: *memory, Tasks: *tasks, OpenFiles: *files, FileBytes: *fileSize}
	if *without != "" {
		cfg.Without = strings.Split(*without, ",")
	}
	contain, err := child.NewContainment(cfg)
	if err != nil {
		return fmt.Errorf("runner: contain runs: %w", err)
	}
	defer contain.Close()
	for _, p := range contain.Report().Off() {
		logger.Warn("containment: "+p.Name+" is off", "why", p.How)
	}
	// The runner finds its interpreters as the web node does (python3, and
	// python-ft among python3.14t and python3.13t on PATH).
	engines, closeEngines, err := server.DefaultEngines(server.Config{}, logger)
	if err != nil {
		return err
	}
	defer closeEngines()
	if *only != "" {
		if engines, err = pickEngines(engines, strings.Split(*only, ",")); err != nil {
			return err
		}
	}
	r, err := pool.NewRunner(pool.RunnerConfig{URL: *url, Name: *name, Slots: *slots, Engines: engines, Contain: contain, Logger: logger})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// pickEngines keeps the engines named in ids, refusing a name this binary
// does not have.
func pickEngines(all []scenarios.Engine, ids []string) ([]scenarios.Engine, error) {
	var picked []scenarios.Engine
	var names []string
	for _, e := range all {
		names = append(names, e.Name())
	}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		i := slices.Index(names, id)
		if i < 0 {
			return nil, fmt.Errorf("runner: -engines: %q is not an engine here; want some of %s", id, strings.Join(names, ", "))
		}
		picked = append(picked, all[i])
	}
	return picked, nil
}
