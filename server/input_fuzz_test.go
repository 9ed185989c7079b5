package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"interleave/scenarios"
)

// FuzzRequestBody feeds any bytes to the readers of POST /api/runs and
// POST /api/compare: each either refuses them with a message in words that
// names a field (400) or returns a request whose numbers are within their
// bounds.
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"scenario":"locks","engine":"go","params":{"workers":4}}`,
		`{"scenario":"locks","deadline_ms":9223372036854775807}`,
		`{"scenario":"locks","deadline_ms":1e30}`,
		`{"scenario":"locks","scenario":"gil"}`,
		`{"scenario":"locks","params":{"a":{"a":1,"a":2}}}`,
		`{"Scenario":"locks"}`,
		`[]`, `"x"`, `null`, ``, `{"scenario":`, `{"scenario":"locks",}`, `{} {}`,
		`{"workload":"cpu","workers":"4"}`, `{"workload":"cpu","workers":1e400}`, `{"workload":7}`,
	} {
		f.Add([]byte(seed))
	}
	const maxDeadlineMS = 60_000
	f.Fuzz(func(t *testing.T, body []byte) {
		// What the user wrote, decoded: a message may repeat it.
		userText := string(body)
		var decoded any
		if json.Unmarshal(body, &decoded) == nil {
			var walk func(any)
			walk = func(v any) {
				switch x := v.(type) {
				case string:
					userText += "\n" + x
				case map[string]any:
					for k, e := range x {
						userText += "\n" + k
						walk(e)
					}
				case []any:
					for _, e := range x {
						walk(e)
					}
				}
			}
			walk(decoded)
		}
		check := func(what string, err error) bool {
			t.Helper()
			if err == nil {
				return true
			}
			var br *badRequestError
			var pe *scenarios.ParamError
			if !errors.As(err, &br) && !errors.As(err, &pe) {
				t.Fatalf("%s: %v is not the user's mistake", what, err)
			}
			if pe != nil && pe.Field == "" {
				t.Fatalf("%s: %q names no field", what, err)
			}
			if m := goInternals.FindString(err.Error()); m != "" && !strings.Contains(userText, m) {
				t.Fatalf("%s: %q shows Go internals (%q)", what, err, m)
			}
			return false
		}
		obj, err := parseJSONObject(body, runRequestFields)
		if check("run body", err) {
			req, err := runRequest(obj, maxDeadlineMS)
			if check("run request", err) {
				if req.Scenario == "" {
					t.Fatalf("accepted a run request without a scenario: %q", body)
				}
				if req.DeadlineMS != 0 && (req.DeadlineMS < 100 || req.DeadlineMS > maxDeadlineMS) {
					t.Fatalf("accepted deadline_ms %d from %q", req.DeadlineMS, body)
				}
				if sc, ok := scenarios.Lookup(req.Scenario); ok {
					for _, e := range sc.Engines {
						_, err := sc.Validate(e, req.Params)
						check("params", err)
					}
				}
			}
		}
		obj, err = parseJSONObject(body, compareFields)
		if check("compare body", err) {
			req, err := compareRequestFromJSON(obj)
			if check("compare request", err) && req.Workers != nil && (*req.Workers < 1 || *req.Workers > 64) {
				t.Fatalf("accepted workers %d from %q", *req.Workers, body)
			}
		}
	})
}
