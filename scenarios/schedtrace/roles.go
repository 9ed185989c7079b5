package schedtrace

// What a goroutine is and why it waits, as far as the trace tells: its role
// from its start function, and the timeline state and reason of a wait from
// the runtime's block reason and the goroutine's stack. Pure functions of
// the trace's strings; the converter (convert.go) uses them.

import (
	"runtime/debug"
	"strings"

	"golang.org/x/exp/trace"

	"interleave/scenarios/event"
)

// role says what started a goroutine, as far as the trace tells.
type role uint8

const (
	roleUnknown role = iota // its start function has not been seen yet
	roleUser                // started in user code: it may become a lane
	roleStd                 // started in the standard library (net/http, os/exec, time...)
	roleRuntime             // started in package runtime (sweeper, scavenger...)
	roleGC                  // a GC mark worker
	roleOwn                 // this tracer or runtime/trace's writer
)

// roleOf classifies a goroutine by its start function.
func roleOf(fn string) role {
	switch pkg := funcPackage(fn); {
	case fn == "":
		return roleUnknown
	case fn == "runtime.gcBgMarkWorker":
		return roleGC
	case pkg == "runtime/trace" || pkg == ownPackage:
		return roleOwn
	case pkg == "runtime":
		return roleRuntime
	case strings.HasPrefix(fn, "sync.(*WaitGroup).Go."):
		return roleUser // wg.Go's wrapper runs the caller's function
	case isStd(pkg):
		return roleStd
	}
	return roleUser
}

// funcPackage returns the import path of a function's package:
// "net/http" for "net/http.(*persistConn).readLoop".
func funcPackage(fn string) string {
	fn, _, _ = strings.Cut(fn, "[") // type arguments may hold paths too
	slash := strings.LastIndexByte(fn, '/') + 1
	if dot := strings.IndexByte(fn[slash:], '.'); dot >= 0 {
		return fn[:slash+dot]
	}
	return fn
}

// isStd reports whether pkg is in the standard library: its first path
// element has no dot, and it is neither package main nor in the main module.
func isStd(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	if strings.Contains(first, ".") || pkg == "main" {
		return false
	}
	return pkg != mainModule && !strings.HasPrefix(pkg, mainModule+"/")
}

// mainModule is the module path of the program (the scenarios' module).
var mainModule = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path != "" {
		return bi.Main.Path
	}
	first, _, _ := strings.Cut(ownPackage, "/")
	return first
}()

// ownPackage is this package's import path, to recognise its goroutines.
const ownPackage = "interleave/scenarios/schedtrace"

// runnableWhy says why a goroutine is waiting for a P.
func runnableWhy(from trace.GoState, reason string) string {
	switch {
	case reason == "preempted":
		return "preempted"
	case reason == "runtime.Gosched":
		return "yielded (runtime.Gosched)"
	case from == trace.GoNotExist:
		return "created"
	case from == trace.GoWaiting:
		return "woken"
	case from == trace.GoSyscall:
		return "back from a syscall"
	}
	return reason
}

// WaitState maps the trace's block reason to a timeline state. The runtime
// says only "sync" for every semaphore (Mutex, RWMutex, WaitGroup), so the
// blocked goroutine's stack tells which it was.
func WaitState(reason string, stack trace.Stack) (s, why string) {
	switch reason {
	case "sync":
		switch fn := syncFunc(stack); {
		case strings.Contains(fn, "(*RWMutex)"):
			return event.LockWait, "sync.RWMutex"
		case strings.Contains(fn, "(*Mutex)"):
			return event.LockWait, "sync.Mutex"
		case strings.Contains(fn, "(*WaitGroup)"):
			return event.Blocked, "sync.WaitGroup"
		}
		return event.Blocked, "sync"
	case "sync.(*Cond).Wait":
		return event.Blocked, "sync.Cond"
	case "sleep":
		return event.Sleep, "time.Sleep"
	case "network":
		return event.IO, "network"
	case "":
		return event.Blocked, "waiting"
	}
	return event.Blocked, reason // chan send, chan receive, select, forever, GC...
}

// syncFunc returns the innermost frame of package sync (or internal/sync).
func syncFunc(stack trace.Stack) string {
	n := 0
	for f := range stack.Frames() {
		if strings.HasPrefix(f.Func, "sync.") || strings.HasPrefix(f.Func, "internal/sync.") {
			return f.Func
		}
		if n++; n == 8 {
			break
		}
	}
	return ""
}

// FirstFunc returns the innermost frame: a new goroutine's start function.
func FirstFunc(stack trace.Stack) string {
	for f := range stack.Frames() {
		return f.Func
	}
	return ""
}

// LastFunc returns the outermost frame: the goroutine's start function.
func LastFunc(stack trace.Stack) string {
	fn := ""
	for f := range stack.Frames() {
		fn = f.Func
	}
	return fn
}
