package scenarios

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	params := []Param{
		IntParam("workers", "Workers", 1, 64, 4, ""),
		FloatParam("switch_ms", "Switch", 0.1, 100, 5, ""),
		BoolParam("lock", "Lock", false, ""),
		EnumParam("mode", "Mode", []string{"sequential", "concurrent"}, ""),
	}
	tests := []struct {
		name    string
		raw     map[string]any
		want    Params
		errPart string
	}{
		{"defaults", nil, Params{"workers": int64(4), "switch_ms": 5.0, "lock": false, "mode": "sequential"}, ""},
		{"json numbers", map[string]any{"workers": 64.0, "switch_ms": 0.1, "lock": true, "mode": "concurrent"}, Params{"workers": int64(64), "switch_ms": 0.1, "lock": true, "mode": "concurrent"}, ""},
		{"query strings", map[string]any{"workers": "8", "switch_ms": "2.5", "lock": "true"}, Params{"workers": int64(8), "switch_ms": 2.5, "lock": true, "mode": "sequential"}, ""},
		{"below min", map[string]any{"workers": 0.0}, nil, "workers: 0 is not allowed; want a whole number from 1 to 64"},
		{"above max", map[string]any{"workers": "65"}, nil, "workers: 65 is not allowed; want a whole number from 1 to 64"},
		{"fraction for int", map[string]any{"workers": 2.5}, nil, "workers"},
		{"not a number", map[string]any{"workers": "many"}, nil, "workers"},
		{"NaN", map[string]any{"switch_ms": "NaN"}, nil, "switch_ms: NaN is not allowed; want a number from 0.1 to 100"},
		{"bool as number", map[string]any{"lock": 1.0}, nil, "lock: 1 is not allowed; want true or false"},
		{"bad bool string", map[string]any{"lock": "maybe"}, nil, "lock"},
		{"not an option", map[string]any{"mode": "fast"}, nil, "mode: fast is not allowed; want one of sequential, concurrent"},
		{"option of wrong type", map[string]any{"mode": 3.0}, nil, "mode"},
		{"unknown name", map[string]any{"wrokers": "3"}, nil, "wrokers: unknown param; want one of workers, switch_ms, lock, mode"},
		{"empty", map[string]any{"workers": ""}, nil, "workers: empty; want a whole number from 1 to 64"},
		{"spaces", map[string]any{"mode": "  "}, nil, "mode: empty; want one of sequential, concurrent"},
		{"null", map[string]any{"workers": nil}, nil, "workers: null is not allowed; want a whole number from 1 to 64"},
		{"object", map[string]any{"workers": map[string]any{"a": 1.0}}, nil, "workers: an object is not allowed"},
		{"list", map[string]any{"lock": []any{true}}, nil, "lock: a list is not allowed; want true or false"},
		{"past int64", map[string]any{"workers": "9223372036854775808"}, nil, "workers: 9223372036854775808 is not allowed"},
		{"JSON number past int64", map[string]any{"workers": json.Number("-18446744073709551617")}, nil, "workers: -18446744073709551617 is not allowed"},
		{"past float64", map[string]any{"switch_ms": json.Number("1e400")}, nil, "switch_ms: 1e400 is not allowed; want a number from 0.1 to 100"},
		{"hex", map[string]any{"workers": "0x10"}, nil, "workers: 0x10 is not allowed"},
		{"underscores", map[string]any{"workers": "1_0"}, nil, "workers: 1_0 is not allowed"},
		{"Inf", map[string]any{"switch_ms": "Inf"}, nil, "switch_ms: Inf is not allowed"},
		{"long text is cut", map[string]any{"mode": strings.Repeat("x", 500)}, nil, "mode: " + strings.Repeat("x", 40) + "… is not allowed"},
		{"control characters are quoted", map[string]any{"mode": "a\x00b"}, nil, `mode: "a\x00b" is not allowed`},
		{"JSON numbers", map[string]any{"workers": json.Number("8"), "switch_ms": json.Number("2.5e0")}, Params{"workers": int64(8), "switch_ms": 2.5}, ""},
		{"whole number written with a fraction", map[string]any{"workers": "8.0"}, Params{"workers": int64(8)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(params, tt.raw)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) || !IsParamError(err) {
					t.Fatalf("err = %v, want a ParamError containing %q", err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

// TestCatalogDefaultsAreValid checks every scenario's defaults pass its own
// bounds on every engine, and that the fixed ids are all there.
func TestCatalogDefaultsAreValid(t *testing.T) {
	ids := map[string]bool{}
	for _, s := range All() {
		ids[s.ID] = true
		for _, e := range s.Engines {
			if _, err := s.Validate(e, nil); err != nil {
				t.Errorf("%s on %s: defaults invalid: %v", s.ID, e, err)
			}
		}
		seen := map[string]bool{}
		for _, p := range s.Params {
			if p.Label == "" || p.Help == "" {
				t.Errorf("%s.%s needs a label and help text", s.ID, p.Name)
			}
			key := p.Name + strings.Join(p.Engines, ",")
			if seen[key] {
				t.Errorf("%s has param %s twice", s.ID, p.Name)
			}
			seen[key] = true
		}
	}
	for _, id := range []string{"mental-model", "subprocess", "threads", "locks", "asyncio", "multiprocessing", "pools", "gil"} {
		if !ids[id] {
			t.Errorf("scenario %s missing from the catalog", id)
		}
	}
}

func TestQueryRoundTrip(t *testing.T) {
	s, _ := Lookup("locks")
	p, err := s.Validate(EngineGo, map[string]any{"workers": 7.0, "lock": true})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{}
	for _, kv := range p.Query(s.ParamsFor(EngineGo)) {
		raw[kv.Key] = kv.Value
	}
	back, err := s.Validate(EngineGo, raw)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p {
		if back[k] != v {
			t.Errorf("%s: %v became %v through the query string", k, v, back[k])
		}
	}
}

func TestSingleValues(t *testing.T) {
	allowed := []string{"engine", "workers"}
	tests := []struct {
		query   map[string][]string
		want    map[string]string
		errPart string
	}{
		{map[string][]string{"engine": {"go"}, "workers": {""}}, map[string]string{"engine": "go", "workers": ""}, ""},
		{map[string][]string{"workers": {"2", "3"}}, nil, "workers: given 2 times; give it once"},
		{map[string][]string{"colour": {"red"}}, nil, "colour: unknown param; want one of engine, workers"},
		{map[string][]string{"": {"x"}}, nil, "query: a value without a name is not allowed"},
		{map[string][]string{strings.Repeat("k", 100): {"x"}}, nil, strings.Repeat("k", 40) + "…: unknown param"},
	}
	for _, tt := range tests {
		got, err := SingleValues(tt.query, allowed)
		if tt.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) || !IsParamError(err) {
				t.Errorf("%v: err = %v, want a ParamError containing %q", tt.query, err, tt.errPart)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%v = %v, %v; want %v", tt.query, got, err, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%v: %s = %q, want %q", tt.query, k, got[k], v)
			}
		}
	}
	if _, err := SingleValues(map[string][]string{"x": {"1"}}, nil); err == nil || !strings.Contains(err.Error(), "x: unknown param; none are allowed here") {
		t.Errorf("a name where none are taken: %v", err)
	}
}
