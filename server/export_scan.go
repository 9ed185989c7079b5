package server

// Reading a run's event lines for the trace.json export: a fast scanner for
// the flat lines the engines write, encoding/json for the rest.

import (
	"strconv"
	"strings"

	"interleave/scenarios/event"
)

// exportEvent is the part of an event the exporter reads.
type exportEvent struct {
	T       int64          `json:"t"`
	K       string         `json:"k"`
	ID      string         `json:"id"`
	Kind    string         `json:"kind"`
	Name    string         `json:"name"`
	PID     int            `json:"pid"`
	Group   string         `json:"group"`
	Lane    string         `json:"lane"`
	S       string         `json:"s"`
	Why     string         `json:"why"`
	Src     string         `json:"src"`
	Lock    string         `json:"lock"`
	Op      string         `json:"op"`
	From    string         `json:"from"`
	To      string         `json:"to"`
	Label   string         `json:"label"`
	V       *float64       `json:"v"`
	Stream  string         `json:"stream"`
	Text    string         `json:"text"`
	Summary *event.Summary `json:"summary"`
	// A step's line, code, locals and number (its object of locals sends
	// the line to encoding/json rather than scan).
	Line   int               `json:"line"`
	Code   string            `json:"code"`
	Locals map[string]string `json:"locals"`
	N      int               `json:"n"`
}

// scan decodes one event line the fast way: a flat JSON object whose
// strings have no escapes, as the engines write them. It reports false for
// anything else, and the caller falls back to encoding/json.
func (x *chromeExporter) scan(line []byte, ev *exportEvent) bool {
	*ev = exportEvent{}
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return true
	}
	for i < len(line) {
		key, next, ok := rawString(line, i)
		if !ok {
			return false
		}
		i = skipSpace(line, next)
		if i >= len(line) || line[i] != ':' {
			return false
		}
		i = skipSpace(line, i+1)
		if i >= len(line) {
			return false
		}
		switch c := line[i]; {
		case c == '"':
			val, next, ok := rawString(line, i)
			if !ok {
				return false
			}
			if !x.setString(ev, key, val) {
				return false
			}
			i = next
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(line) && strings.IndexByte("+-.0123456789eE", line[j]) >= 0 {
				j++
			}
			if !setNumber(ev, key, line[i:j]) {
				return false
			}
			i = j
		default:
			return false // objects (the summary), arrays, literals
		}
		i = skipSpace(line, i)
		if i >= len(line) {
			return false
		}
		if line[i] == '}' {
			return skipSpace(line, i+1) == len(line)
		}
		if line[i] != ',' {
			return false
		}
		i = skipSpace(line, i+1)
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// rawString returns the contents of the JSON string at b[i] when it has no
// escapes, and the index after it.
func rawString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return b[i+1 : j], j + 1, true
		case '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func (x *chromeExporter) intern(b []byte) string {
	if s, ok := x.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= 64 && len(x.strs) < 100_000 {
		x.strs[s] = s
	}
	return s
}

func (x *chromeExporter) setString(ev *exportEvent, key, val []byte) bool {
	var dst *string
	switch string(key) {
	case "k":
		dst = &ev.K
	case "id":
		dst = &ev.ID
	case "kind":
		dst = &ev.Kind
	case "name":
		dst = &ev.Name
	case "group":
		dst = &ev.Group
	case "lane":
		dst = &ev.Lane
	case "s":
		dst = &ev.S
	case "why":
		dst = &ev.Why
	case "src":
		dst = &ev.Src
	case "lock":
		dst = &ev.Lock
	case "op":
		dst = &ev.Op
	case "from":
		dst = &ev.From
	case "to":
		dst = &ev.To
	case "label":
		dst = &ev.Label
	case "stream":
		dst = &ev.Stream
	case "text":
		ev.Text = string(val)
		return true
	case "parent":
		return true
	default:
		return false // a string where a number belongs, or a field we do not know
	}
	*dst = x.intern(val)
	return true
}

func setNumber(ev *exportEvent, key, num []byte) bool {
	switch string(key) {
	case "t":
		t, err := strconv.ParseInt(string(num), 10, 64)
		ev.T = t
		return err == nil
	case "pid":
		pid, err := strconv.Atoi(string(num))
		ev.PID = pid
		return err == nil
	case "v":
		v, err := strconv.ParseFloat(string(num), 64)
		ev.V = &v
		return err == nil
	}
	return false
}
