package event

// Run statuses: the status of GET /api/runs/{id}, of a comparison, and of
// the WebSocket's {"type":"status"} messages.
const (
	StatusQueued  = "queued"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
	// StatusCancelled is a run stopped by DELETE /api/runs/{id} or by the
	// server shutting down.
	StatusCancelled = "cancelled"
	StatusTimeout   = "timeout"
	// StatusInterrupted is a run the server stopped before it finished (a
	// crash or a kill): found so on the next start, it keeps every event
	// recorded before the cut and is as final as any other end.
	StatusInterrupted = "interrupted"
	// StatusPartial is a comparison (never a run) that ran to its end with
	// a model that did not finish well: its table has holes.
	StatusPartial = "partial"
)

// The lists below are every value of each field, in the order the docs and
// the page present them. internal/protocoljs writes them into static/protocol.js,
// so the front end never keeps a hand-made copy that could miss one (an
// `interrupted` run once replayed as if still live because of that).

// Statuses lists every status of a run or a comparison.
var Statuses = []string{StatusQueued, StatusRunning, StatusDone, StatusFailed, StatusCancelled, StatusTimeout, StatusInterrupted, StatusPartial}

// FinalStatuses lists the statuses after which a run changes no more.
var FinalStatuses = []string{StatusDone, StatusFailed, StatusCancelled, StatusTimeout, StatusInterrupted}

// FinalComparisonStatuses lists the statuses after which a comparison
// changes no more: a run's final ones and partial.
var FinalComparisonStatuses = append(append([]string(nil), FinalStatuses...), StatusPartial)

// ComparisonOver reports whether a comparison's status is final.
func ComparisonOver(status string) bool { return Final(status) || status == StatusPartial }

// Final reports whether status is one of FinalStatuses.
func Final(status string) bool {
	switch status {
	case StatusDone, StatusFailed, StatusCancelled, StatusTimeout, StatusInterrupted:
		return true
	}
	return false
}

// Kinds lists every event kind (the k field).
var Kinds = []string{KindLane, KindState, KindLock, KindFlow, KindCounter, KindOutput, KindMark, KindEnd}

// LaneKinds lists every lane kind (the kind field of a lane event).
var LaneKinds = []string{LaneGoroutine, LaneThread, LaneProcess, LaneTask, LaneLoop, LaneCPU}

// States lists every lane state (the s field of a state event).
var States = []string{Running, Active, Runnable, GILWait, LockWait, IO, Sleep, Syscall, Blocked, Idle, Done}

// Sources lists the sources of a state (the src field).
var Sources = []string{SrcApp, SrcSched}

// LockOps lists the operations of a lock event (the op field).
var LockOps = []string{LockWant, LockGot, LockFree}
