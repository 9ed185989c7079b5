package goengine

import (
	"runtime"
	"strings"

	"interleave/scenarios"
)

// Info implements scenarios.Describer: the Go toolchain that built this
// binary, which has no GIL (goroutines compute on every core GOMAXPROCS
// allows).
func (*Engine) Info() scenarios.EngineInfo {
	v := strings.TrimPrefix(runtime.Version(), "go")
	return scenarios.EngineInfo{ID: scenarios.EngineGo, Version: v, GIL: false, Available: true, Label: "Go " + v + " · no GIL"}
}
