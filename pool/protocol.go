// Package pool spreads runs over runners on other machines through NATS
// JetStream. The web node's Dispatcher implements runner.Runner: it
// publishes each run as one message on a work-queue stream and feeds the
// events that come back into the run's Sink. A Runner (the `interleave
// runner` subcommand) takes runs from the stream, executes each with the
// same child code and containment as a local run, and publishes what the
// run writes in batches on the run's own subject. docs/scale.md describes
// the subjects and messages; this file is their one definition.
package pool

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"interleave/scenarios/child"
)

// The stream and the subjects of the protocol.
const (
	// StreamName is the work-queue stream that holds runs waiting for a
	// runner: one message per run, removed once a runner acknowledges it
	// (when the run has ended, or when the web node refused its claim).
	StreamName = "INTERLEAVE_RUNS"
	// jobSubjectPrefix + engine is the subject a run is published on; only
	// runners that have the engine consume it.
	jobSubjectPrefix = "interleave.runs."
	// runSubjectPrefix + id + one of the suffixes below are a run's own
	// subjects.
	runSubjectPrefix = "interleave.run."
	// runnerSubjectPrefix + name + heartbeatSuffix is a runner's heartbeat.
	runnerSubjectPrefix = "interleave.runner."
	heartbeatSuffix     = ".hb"
	claimSuffix         = ".claim"
	eventsSuffix        = ".events"
	cancelSuffix        = ".cancel"
)

// Headers of the messages on a run's events subject.
const (
	// HeaderKind says what a message on a run's events subject carries
	// (one of the Kind constants).
	HeaderKind = "Interleave-Kind"
	// HeaderSeq numbers the messages of one run from 1, so that the web
	// node notices a lost one instead of drawing a run with a hole.
	HeaderSeq = "Interleave-Seq"
	// HeaderStream names the output stream (stdout, stderr) of an output
	// message.
	HeaderStream = "Interleave-Stream"
	// HeaderExclusive marks a run that takes a whole runner.
	HeaderExclusive = "Interleave-Exclusive"
)

// What a message on a run's events subject carries.
const (
	// KindStarted: JSON runner.Started, once, before any events.
	KindStarted = "started"
	// KindEvents: raw event lines as the program wrote them, joined by
	// newlines (a batch).
	KindEvents = "events"
	// KindOutput: raw stdout or stderr text (HeaderStream says which).
	KindOutput = "output"
	// KindLoad: JSON runner.Load, the runner's machine load while the run
	// executes: every machineload.SampleEvery, and once just before the
	// batch that holds the run's end event (so the web node has the whole
	// run's load when it completes the summary).
	KindLoad = "load"
	// KindResult: JSON Result, the last message of a run.
	KindResult = "result"
)

// Timing of the protocol.
const (
	// HeartbeatEvery is how often a runner says it is alive.
	HeartbeatEvery = time.Second
	// DefaultLostAfter is how long the web node waits without a heartbeat
	// before it calls a runner lost: three missed heartbeats.
	DefaultLostAfter = 3 * time.Second
	// DefaultStallAfter is how long a run may wait unclaimed while a runner
	// with its engine has a free slot before the web node offers it again:
	// two AckWaits, so that a message JetStream handed to a pull that
	// expired (it comes back after AckWait) is not counted as stalled.
	DefaultStallAfter = 2 * AckWait
	// AckWait is how long JetStream waits for a runner's acknowledgement
	// before it offers a run to another runner; a runner reports progress
	// every AckWait/4 while a run executes, so only a dead runner's run
	// comes back (and its claim is then refused).
	AckWait = 8 * time.Second
	// claimTimeout bounds the web node's answer to a claim.
	claimTimeout = 2 * time.Second
	// deadlineGrace is how long after a run's deadline a runner kills it by
	// itself, should the web node's cancel not reach it.
	deadlineGrace = 5 * time.Second
	// abandonFor bounds how long a restarted web node keeps cancelling the
	// runs its previous life left on runners: until no heartbeat lists
	// them, at most this long (a runner's slot must be free within 10 s).
	abandonFor = 10 * time.Second
	// maxBatchBytes caps one events message, well under NATS's default
	// 1 MiB payload.
	maxBatchBytes = 256 << 10
)

// EngineInfo is an engine a runner advertises.
type EngineInfo struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	GIL     bool   `json:"gil"`
}

// Heartbeat is what a runner publishes every HeartbeatEvery.
type Heartbeat struct {
	Name string `json:"name"`
	// Slots is how many runs the runner takes at once (default its cores).
	Slots int `json:"slots"`
	// Free is how many of them are free now for a new run (0 while an
	// exclusive run waits for the runner's other runs to end).
	Free int `json:"free"`
	// Cores is the runner's number of CPUs.
	Cores int `json:"cores"`
	// Engines are the engines the runner's binary found available.
	Engines []EngineInfo `json:"engines"`
	// Runs are the ids of the runs it executes now: a run the web node
	// thinks this runner holds that is not listed is lost (the runner was
	// restarted under the same name).
	Runs []string `json:"runs"`
}

// claimRequest is a runner's request to execute a run it took from the
// stream; the web node grants each run once, and only while it still waits
// for it.
type claimRequest struct {
	Runner string `json:"runner"`
}

// claimReply answers a claim.
type claimReply struct {
	OK  bool   `json:"ok"`
	Why string `json:"why,omitempty"`
}

// Result is the last message of a run: how its program ended.
type Result struct {
	Result child.Result `json:"result"`
	// ErrKind is empty when the program exited 0; otherwise one of the
	// ErrKind constants.
	ErrKind string `json:"err_kind,omitempty"`
	// Err is the error's text.
	Err string `json:"err,omitempty"`
}

// Why a run's program did not end well, in a Result.
const (
	ErrKindExit      = "exit"      // a non-zero exit code
	ErrKindMemory    = "memory"    // over its memory cap (child.ErrMemory)
	ErrKindStart     = "start"     // could not start (no engine, bad spec)
	ErrKindCancelled = "cancelled" // the web node cancelled it
	ErrKindDeadline  = "deadline"  // passed its deadline plus grace on the runner
	ErrKindLostNATS  = "lost-nats" // the runner lost NATS and killed it
)

func jobSubject(engine string) string   { return jobSubjectPrefix + engine }
func consumerName(engine string) string { return "runs-" + engine }
func claimSubject(id string) string     { return runSubjectPrefix + id + claimSuffix }
func eventsSubject(id string) string    { return runSubjectPrefix + id + eventsSuffix }
func cancelSubject(id string) string    { return runSubjectPrefix + id + cancelSuffix }
func heartbeatSubject(name string) string {
	return runnerSubjectPrefix + name + heartbeatSuffix
}

// checkToken says whether s may be one token of a subject: a run id, an
// engine id or a runner's name. The names go into subjects and consumer
// names, so dots, wildcards and spaces are refused.
func checkToken(field, s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%s %q: want 1 to 64 characters", field, s)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("%s %q: want only letters, digits, - and _", field, s)
		}
	}
	return nil
}

// runIDFromSubject returns the run id of a run's subject.
func runIDFromSubject(subject, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, runSubjectPrefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, suffix)
	return id, ok && checkToken("run", id) == nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // every message type here marshals
	}
	return b
}
