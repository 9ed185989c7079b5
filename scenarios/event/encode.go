package event

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Append appends ev as one line of JSON (without the newline) to buf.
//
// It writes the same object encoding/json would, without reflection: the
// engines emit hundreds of thousands of events a second and the encoder must
// not be what a CPU-bound scenario measures.
func Append(buf []byte, ev *Event) []byte {
	buf = append(buf, `{"t":`...)
	buf = strconv.AppendInt(buf, ev.T, 10)
	buf = appendField(buf, "k", ev.K)
	buf = appendField(buf, "id", ev.ID)
	buf = appendField(buf, "kind", ev.Kind)
	buf = appendField(buf, "name", ev.Name)
	buf = appendField(buf, "parent", ev.Parent)
	if ev.PID != 0 {
		buf = append(buf, `,"pid":`...)
		buf = strconv.AppendInt(buf, int64(ev.PID), 10)
	}
	buf = appendField(buf, "group", ev.Group)
	buf = appendField(buf, "lane", ev.Lane)
	buf = appendField(buf, "s", ev.S)
	buf = appendField(buf, "why", ev.Why)
	buf = appendField(buf, "src", ev.Src)
	buf = appendField(buf, "lock", ev.Lock)
	buf = appendField(buf, "op", ev.Op)
	buf = appendField(buf, "from", ev.From)
	buf = appendField(buf, "to", ev.To)
	buf = appendField(buf, "label", ev.Label)
	if ev.V != nil {
		buf = append(buf, `,"v":`...)
		buf = appendFloat(buf, *ev.V)
	}
	buf = appendField(buf, "stream", ev.Stream)
	buf = appendField(buf, "text", ev.Text)
	if ev.K == KindStep {
		buf = appendStep(buf, ev)
	}
	if ev.Summary != nil {
		buf = append(buf, `,"summary":`...)
		b, err := json.Marshal(ev.Summary)
		if err != nil { // only NaN or Inf metrics can fail; keep the line valid
			b = []byte(`{"wall_ns":0,"cpu_ns":0,"metrics":{},"verdict":"summary could not be encoded"}`)
		}
		buf = append(buf, b...)
	}
	return append(buf, '}')
}

// appendStep appends the fields of a step event. Line and Locals are
// written even when empty: a thread that returned is at line 0 with none.
func appendStep(buf []byte, ev *Event) []byte {
	buf = append(buf, `,"line":`...)
	buf = strconv.AppendInt(buf, int64(ev.Line), 10)
	buf = appendField(buf, "code", ev.Code)
	buf = append(buf, `,"locals":{`...)
	names := make([]string, 0, len(ev.Locals))
	for name := range ev.Locals {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendString(buf, name)
		buf = append(buf, ':')
		buf = AppendString(buf, ev.Locals[name])
	}
	buf = append(buf, '}')
	if ev.N != 0 {
		buf = append(buf, `,"n":`...)
		buf = strconv.AppendInt(buf, int64(ev.N), 10)
	}
	buf = appendField(buf, "fn", ev.Fn)
	if ev.First != 0 {
		buf = append(buf, `,"first":`...)
		buf = strconv.AppendInt(buf, int64(ev.First), 10)
	}
	if len(ev.Source) > 0 {
		buf = append(buf, `,"source":[`...)
		for i, line := range ev.Source {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = AppendString(buf, line)
		}
		buf = append(buf, ']')
	}
	return buf
}

// Marshal returns ev as one line of JSON without the newline.
func Marshal(ev *Event) []byte { return Append(nil, ev) }

func appendField(buf []byte, name, value string) []byte {
	if value == "" {
		return buf
	}
	buf = append(buf, ',', '"')
	buf = append(buf, name...)
	buf = append(buf, '"', ':')
	return AppendString(buf, value)
}

func appendFloat(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, '0')
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(buf, int64(f), 10)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so output text from a child never breaks a line.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// Float returns a pointer to v, for the V field of a counter event.
func Float(v float64) *float64 { return &v }
