package goengine

import (
	"errors"
	"strings"
	"testing"

	"interleave/scenarios"
)

// The params of the guide's scenarios on the go engine: every one bounded,
// defaults valid, bad values refused with the field's name.
func TestGuideScenarioParams(t *testing.T) {
	ids := []string{"subprocess", "threads", "asyncio", "multiprocessing", "pools", "gil"}
	for _, id := range ids {
		sc, ok := scenarios.Lookup(id)
		if !ok {
			t.Fatalf("no scenario %s in the catalog", id)
		}
		if !sc.HasEngine(scenarios.EngineGo) || !Has(id) {
			t.Errorf("%s: not offered on the go engine", id)
		}
		if _, err := sc.Validate(scenarios.EngineGo, map[string]any{}); err != nil {
			t.Errorf("%s: defaults do not validate: %v", id, err)
		}
		for _, p := range sc.ParamsFor(scenarios.EngineGo) {
			if (p.Type == scenarios.TypeInt || p.Type == scenarios.TypeFloat) && (p.Min == nil || p.Max == nil) {
				t.Errorf("%s.%s is unbounded", id, p.Name)
			}
			if p.Name == "workers" && *p.Max > 64 {
				t.Errorf("%s.workers allows %v, the limit is 64", id, *p.Max)
			}
			if p.Help == "" || p.Label == "" {
				t.Errorf("%s.%s has no label or help", id, p.Name)
			}
		}
		if src, _, ok := (&Engine{}).Source(id); !ok || !strings.HasSuffix(src, ".go") {
			t.Errorf("%s: no source to show", id)
		}
	}
	for _, id := range []string{"gil", "asyncio"} {
		sc, _ := scenarios.Lookup(id)
		if note := sc.Models[scenarios.EngineGo]; !strings.Contains(note, "model") || !strings.Contains(note, "python engine") {
			t.Errorf("%s: the go engine's model note must say it is a model and point to the python engine: %q", id, note)
		}
	}

	bad := []struct {
		scenario, field string
		value           any
	}{
		{"subprocess", "command", "rm -rf /"},
		{"subprocess", "command", "sh"},
		{"subprocess", "mode", "parallel"},
		{"subprocess", "count", 17.0},
		{"subprocess", "count", 0.0},
		{"subprocess", "timeout_ms", -1.0},
		{"subprocess", "timeout_ms", 10_001.0},
		{"subprocess", "check", "maybe"},
		{"threads", "workers", 65.0},
		{"threads", "tasks", 257.0},
		{"threads", "work", "gpu"},
		{"threads", "size", 0.0},
		{"threads", "io", "disk"},
		{"asyncio", "tasks", 10_001.0},
		{"asyncio", "wait_ms", 0.0},
		{"asyncio", "blocking_ms", 5001.0},
		{"multiprocessing", "workers", 17.0},
		{"multiprocessing", "mode", "fork"},
		{"multiprocessing", "payload_kb", 10_241.0},
		{"multiprocessing", "size", 2.5},
		{"pools", "workers", 65.0},
		{"pools", "tasks", 501.0},
		{"pools", "chunksize", 0.0},
		{"pools", "kind", "fibers"},
		{"pools", "reuse", "sometimes"},
		{"gil", "threads", 9.0},
		{"gil", "threads", 0.0},
		{"gil", "switch_ms", 0.05},
		{"gil", "switch_ms", 101.0},
		{"gil", "size", 5000.0},
		{"gil", "nogil", true},
	}
	for _, tt := range bad {
		sc, _ := scenarios.Lookup(tt.scenario)
		_, err := sc.Validate(scenarios.EngineGo, map[string]any{tt.field: tt.value})
		var pe *scenarios.ParamError
		if !errors.As(err, &pe) || pe.Field != tt.field {
			t.Errorf("%s %s=%v: error %v, want a ParamError naming %s", tt.scenario, tt.field, tt.value, err, tt.field)
		}
	}
}
