package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"interleave/runs"
	"interleave/scenarios"
)

// This file reads what clients send (query strings and JSON bodies) under
// the one input rule of scenarios/input.go, and turns every refusal into
// words that name the field: never a Go type, never the JSON package's
// own message.

// unsupportedMediaTypeError is a body that is not declared JSON where JSON
// is wanted: 415. Requiring the declaration also means a page on another
// site cannot send the body from a plain form, which needs no permission.
type unsupportedMediaTypeError struct{ got string }

func (e *unsupportedMediaTypeError) Error() string {
	got := "no Content-Type"
	if e.got != "" {
		got = "Content-Type " + scenarios.FieldName(e.got)
	}
	return "body: want Content-Type application/json; got " + got
}

// readQuery reads the query string of r under the one input rule: a name
// at most once, and only the allowed names.
func readQuery(r *http.Request, allowed []string) (map[string]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &scenarios.ParamError{Field: "query", Message: "the link cannot be read (" + queryProblem(err) + "); want name=value pairs joined by &"}
	}
	return scenarios.SingleValues(q, allowed)
}

// queryProblem says in words what url.ParseQuery could not read.
func queryProblem(err error) string {
	var esc url.EscapeError
	switch {
	case errors.As(err, &esc):
		return fmt.Sprintf("%%%s is not a valid escape", scenarios.FieldName(strings.TrimPrefix(string(esc), "%")))
	case strings.Contains(err.Error(), "semicolon"):
		return "a ; separates values"
	}
	return "a malformed pair"
}

// jsonObject is a request body that is one JSON object, each of whose
// names is known and given once; values stay as written until a field is
// read.
type jsonObject struct {
	// shape is how the object is described in messages: {"a", "b"}.
	shape  string
	fields map[string]json.RawMessage
}

// readJSONObject reads r's body (at most limit bytes) as one JSON object
// with the given names.
func readJSONObject(w http.ResponseWriter, r *http.Request, limit int64, names []string) (jsonObject, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return jsonObject{}, &unsupportedMediaTypeError{got: r.Header.Get("Content-Type")}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return jsonObject{}, err
		}
		return jsonObject{}, &badRequestError{msg: "body: could not be read to its end"}
	}
	return parseJSONObject(body, names)
}

// parseJSONObject checks that data is one JSON object whose names are all
// among names, none twice (at any depth), and returns its fields.
func parseJSONObject(data []byte, names []string) (jsonObject, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	obj := jsonObject{shape: "{" + strings.Join(quoted, ", ") + "}"}
	if len(bytes.TrimSpace(data)) == 0 {
		return obj, &badRequestError{msg: "body: empty; want a JSON object " + obj.shape}
	}
	if err := checkJSON(data); err != nil {
		return obj, err
	}
	if kind := jsonKind(bytes.TrimSpace(data)); kind != "an object" {
		return obj, &badRequestError{msg: "body: want a JSON object " + obj.shape + ", got " + kind}
	}
	if err := json.Unmarshal(data, &obj.fields); err != nil {
		return obj, &badRequestError{msg: "body: want a JSON object " + obj.shape}
	}
	for _, name := range orderOfNames(data) {
		if name == "" {
			return obj, &scenarios.ParamError{Field: "body", Message: "a value without a name is not allowed; " + scenarios.WantNames(names)}
		}
		if !slices.Contains(names, name) {
			return obj, &scenarios.ParamError{Field: scenarios.FieldName(name), Message: "unknown field; " + scenarios.WantNames(names)}
		}
	}
	return obj, nil
}

// checkJSON refuses what is not exactly one JSON value, and any object that
// gives a name twice (which encoding/json would settle silently: the last
// one wins).
func checkJSON(data []byte) error {
	var whole json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		var se *json.SyntaxError
		switch {
		case !errors.As(err, &se):
			return &badRequestError{msg: "body: not valid JSON"}
		case strings.Contains(se.Error(), "after top-level value"):
			return &badRequestError{msg: "body: want one JSON object and nothing after it"}
		case strings.Contains(se.Error(), "unexpected end") || se.Offset < 1 || se.Offset > int64(len(data)):
			return &badRequestError{msg: "body: not valid JSON: it ends early"}
		}
		// Offset counts the bytes read, the one that broke the syntax included.
		return &badRequestError{msg: fmt.Sprintf("body: not valid JSON at byte %d (unexpected %s)", se.Offset, scenarios.Describe(string(data[se.Offset-1])))}
	}
	// The body is valid JSON: walk its tokens for names given twice. One
	// frame per open object or list; in an object, wantKey says the next
	// string is a name.
	dec := json.NewDecoder(bytes.NewReader(whole))
	dec.UseNumber()
	type frame struct {
		seen    map[string]bool // nil in a list
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end of the value
		}
		top := len(stack) - 1
		if name, ok := tok.(string); ok && top >= 0 && stack[top].wantKey {
			if stack[top].seen[name] {
				return &scenarios.ParamError{Field: scenarios.FieldName(name), Message: "given 2 times; give it once"}
			}
			stack[top].seen[name] = true
			stack[top].wantKey = false
			continue
		}
		if top >= 0 && stack[top].seen != nil {
			stack[top].wantKey = true // this value ends a name's pair (once it closes)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{seen: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		}
	}
}

// orderOfNames lists the names of the top-level object in data in the
// order they are written (data is known to be a valid object).
func orderOfNames(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token() // {
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return names
		}
		name, _ := tok.(string)
		names = append(names, name)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}

// jsonKind says what kind of JSON value raw is, as a message says it.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}

// has reports whether the object gives name (a null counts as absent).
func (o jsonObject) has(name string) bool {
	raw, ok := o.fields[name]
	return ok && string(bytes.TrimSpace(raw)) != "null"
}

// text returns the string field name ("" when absent); another kind of
// value is refused naming the field.
func (o jsonObject) text(name string) (string, error) {
	if !o.has(name) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(o.fields[name], &s); err != nil {
		return "", &scenarios.ParamError{Field: name, Message: "want a string, got " + jsonKind(bytes.TrimSpace(o.fields[name]))}
	}
	return s, nil
}

// value returns field name as a raw value for a param: numbers as written
// (json.Number), objects and lists as such; nil when absent.
func (o jsonObject) value(name string) any {
	if !o.has(name) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(o.fields[name]))
	dec.UseNumber()
	var v any
	dec.Decode(&v)
	return v
}

// params returns field name as the names and values of a scenario's
// params; another kind of value is refused naming the field.
func (o jsonObject) params(name string) (map[string]any, error) {
	v := o.value(name)
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &scenarios.ParamError{Field: name, Message: "want an object of names and values, got " + jsonKind(bytes.TrimSpace(o.fields[name]))}
	}
	return m, nil
}

// runRequestFields are the names of POST /api/runs's body; room is the
// code of the workshop room the run is started in.
var runRequestFields = []string{"scenario", "engine", "params", "deadline_ms", "room"}

// runRequest reads POST /api/runs's body; deadline_ms is checked against
// the server's bounds (100 ms to maxDeadlineMS) as every other number is.
func runRequest(obj jsonObject, maxDeadlineMS int64) (runs.RunRequest, error) {
	var req runs.RunRequest
	var err error
	if req.Scenario, err = obj.text("scenario"); err != nil {
		return req, err
	}
	switch {
	case !obj.has("scenario"):
		return req, &scenarios.ParamError{Field: "scenario", Message: "missing; want one of the ids of GET /api/scenarios"}
	case strings.TrimSpace(req.Scenario) == "":
		return req, &scenarios.ParamError{Field: "scenario", Message: "empty; want one of the ids of GET /api/scenarios"}
	}
	if req.Engine, err = obj.text("engine"); err != nil {
		return req, err
	}
	if req.Params, err = obj.params("params"); err != nil {
		return req, err
	}
	if obj.has("deadline_ms") {
		p := scenarios.IntParam("deadline_ms", "Deadline (ms)", 100, maxDeadlineMS, maxDeadlineMS, "")
		v, err := scenarios.Validate([]scenarios.Param{p}, map[string]any{p.Name: obj.value(p.Name)})
		if err != nil {
			return req, err
		}
		req.DeadlineMS = int64(v.Int(p.Name))
	}
	return req, nil
}

// compareFields are the names a comparison is asked with, in a JSON body
// or a query string.
var compareFields = []string{"workload", "engine", "size", "workers"}

// compareRequest builds a comparison's request from raw values (strings
// from a query, or JSON values); workers is read with the bounds of the
// comparison's workers param, so that any number is safe to convert.
func compareRequest(workload, engine, size string, workers any) (CompareRequest, error) {
	req := CompareRequest{Workload: workload, Engine: engine, Size: size}
	if _, ok := scenarios.LookupWorkload(workload); !ok {
		return req, workloadError(workload)
	}
	if workers == nil {
		return req, nil
	}
	sc, _ := scenarios.Lookup(scenarios.CompareID)
	for _, p := range sc.Params {
		if p.Name == "workers" {
			v, err := scenarios.Validate([]scenarios.Param{p}, map[string]any{p.Name: workers})
			if err != nil {
				return req, err
			}
			n := v.Int(p.Name)
			req.Workers = &n
		}
	}
	return req, nil
}

// workloadError refuses a workload that is not in the matrix.
func workloadError(id string) error {
	if strings.TrimSpace(id) == "" {
		return &scenarios.ParamError{Field: "workload", Message: "empty; want one of " + workloadIDs()}
	}
	return &scenarios.ParamError{Field: "workload", Message: scenarios.Describe(id) + " is not allowed; want one of " + workloadIDs()}
}

// workloadIDs lists the matrix's workloads, for messages.
func workloadIDs() string {
	ids := make([]string, len(scenarios.Workloads))
	for i, w := range scenarios.Workloads {
		ids[i] = w.ID
	}
	return strings.Join(ids, ", ")
}

// compareRequestFromJSON reads POST /api/compare's body.
func compareRequestFromJSON(obj jsonObject) (CompareRequest, error) {
	var vals [3]string
	for i, name := range compareFields[:3] {
		s, err := obj.text(name)
		if err != nil {
			return CompareRequest{}, err
		}
		vals[i] = s
	}
	if !obj.has("workload") {
		return CompareRequest{}, &scenarios.ParamError{Field: "workload", Message: "missing; want one of " + workloadIDs()}
	}
	return compareRequest(vals[0], vals[1], vals[2], obj.value("workers"))
}
