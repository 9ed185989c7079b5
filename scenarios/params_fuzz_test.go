package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goWords matches what a message must never show: Go values and type
// names, or the JSON package's own words.
var goWords = regexp.MustCompile(`<nil>|Go (value|struct)|map\[|interface ?\{|\[\]|float64|int64|json:|%!`)

// checkOutcome holds Validate's answer to the one input rule: a refusal is
// a ParamError in words that names a field, and an acceptance is every
// param of the schema, of its type, within its bounds, that survives a
// trip through a share link unchanged.
// userText is what the user wrote (raw text and every decoded name and
// string), so that a message that repeats it is not taken for Go's words.
func checkOutcome(t *testing.T, s Scenario, engine string, ps Params, err error, userText string) {
	t.Helper()
	if err != nil {
		var pe *ParamError
		if !errors.As(err, &pe) {
			t.Fatalf("%s/%s: %v is not a ParamError", s.ID, engine, err)
		}
		if pe.Field == "" || pe.Message == "" {
			t.Fatalf("%s/%s: %q names no field", s.ID, engine, err)
		}
		if m := goWords.FindString(err.Error()); m != "" && !strings.Contains(userText, m) {
			t.Fatalf("%s/%s: %q shows Go internals (%q)", s.ID, engine, err, m)
		}
		return
	}
	schema := s.ParamsFor(engine)
	if len(ps) != len(schema) {
		t.Fatalf("%s/%s: %d values for %d params: %v", s.ID, engine, len(ps), len(schema), ps)
	}
	for _, p := range schema {
		v, ok := ps[p.Name]
		if !ok {
			t.Fatalf("%s/%s: %s missing", s.ID, engine, p.Name)
		}
		switch p.Type {
		case TypeInt:
			n, ok := v.(int64)
			if !ok || float64(n) < *p.Min || float64(n) > *p.Max {
				t.Fatalf("%s/%s: %s = %#v, want a whole number from %v to %v", s.ID, engine, p.Name, v, *p.Min, *p.Max)
			}
		case TypeFloat:
			f, ok := v.(float64)
			if !ok || math.IsNaN(f) || f < *p.Min || f > *p.Max {
				t.Fatalf("%s/%s: %s = %#v, want a number from %v to %v", s.ID, engine, p.Name, v, *p.Min, *p.Max)
			}
		case TypeBool:
			if _, ok := v.(bool); !ok {
				t.Fatalf("%s/%s: %s = %#v, want a bool", s.ID, engine, p.Name, v)
			}
		case TypeEnum:
			if str, ok := v.(string); !ok || !slices.Contains(p.Options, str) {
				t.Fatalf("%s/%s: %s = %#v, want one of %v", s.ID, engine, p.Name, v, p.Options)
			}
		}
	}
	q := url.Values{}
	for _, kv := range ps.Query(schema) {
		q.Set(kv.Key, kv.Value)
	}
	raw := map[string]any{}
	for k := range q {
		raw[k] = q.Get(k)
	}
	back, err := s.Validate(engine, raw)
	if err != nil {
		t.Fatalf("%s/%s: %v does not survive a share link: %v", s.ID, engine, ps, err)
	}
	for k, v := range ps {
		if back[k] != v {
			t.Fatalf("%s/%s: %s = %#v became %#v through a share link", s.ID, engine, k, v, back[k])
		}
	}
}

// FuzzParamsJSON feeds a JSON object to every scenario's params, as the
// "params" of POST /api/runs are read (numbers kept as written).
func FuzzParamsJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"workers":4,"lock":true}`, `{"workers":9223372036854775807}`, `{"workers":1e400}`,
		`{"workers":null}`, `{"workers":""}`, `{"mode":"fast"}`, `{"switch_ms":"2.5"}`, `{"workers":{"a":[1]}}`,
		`{"tasks":-0,"size":2e3,"work":"io"}`, `{"model":"threads","workload":"cpu","size":"small","workers":"4"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var raw map[string]any
		if dec.Decode(&raw) != nil {
			return // not an object: the server's body reader refuses it before params are read
		}
		for _, s := range All() {
			for _, engine := range s.Engines {
				ps, err := s.Validate(engine, raw)
				checkOutcome(t, s, engine, ps, err, written(body, raw))
			}
		}
	})
}

// written is everything a user wrote in a request: its raw text and every
// name and string in what it decoded to.
func written(raw []byte, decoded any) string {
	var b strings.Builder
	b.Write(raw)
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString("\n" + x)
		case map[string]any:
			for k, e := range x {
				b.WriteString("\n" + k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string][]string:
			for k, vs := range x {
				b.WriteString("\n" + k)
				for _, e := range vs {
					walk(e)
				}
			}
		}
	}
	walk(decoded)
	return b.String()
}

// FuzzParamsQuery feeds a query string to every scenario as its share link
// /s/{scenario}?… is read: one value per name, only the engine and the
// scenario's params.
func FuzzParamsQuery(f *testing.F) {
	for _, seed := range []string{
		"", "engine=go&workers=4", "workers=2&workers=3", "colour=red", "workers=", "workers=0x10",
		"workers=99999999999999999999999", "switch_ms=NaN", "lock=on", "=x", "mode=%00", "size=1e1&tasks=+3",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return // the server refuses a query it cannot read before params are read
		}
		for _, s := range All() {
			for _, engine := range s.Engines {
				allowed := append([]string{"engine"}, paramNames(s.ParamsFor(engine))...)
				vals, err := SingleValues(q, allowed)
				if err != nil {
					checkOutcome(t, s, engine, nil, err, written([]byte(query), map[string][]string(q)))
					continue
				}
				raw := map[string]any{}
				for k, v := range vals {
					if k != "engine" {
						raw[k] = v
					}
				}
				ps, err := s.Validate(engine, raw)
				checkOutcome(t, s, engine, ps, err, written([]byte(query), map[string][]string(q)))
			}
		}
	})
}
