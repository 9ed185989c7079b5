package runs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonLineCases are lines a child could write on fd 3, good and broken.
var jsonLineCases = []string{
	`{"t":1,"k":"state","lane":"w1","s":"running"}`,
	` {"t":0} `,
	`{}`,
	`{"a":[1,2.5,-3e10,0,-0.0E+2,true,false,null,{"b":"\u00e9\n\"x\""}]}`,
	`{"text":"héllo wörld ✓"}`,
	`{"t":1`,
	`{"t":1}}`,
	`{"t":01}`,
	`{"t":1.}`,
	`{"t":-}`,
	`{"t":1e}`,
	`{"t":"a\x01"}`,
	`{"t":"\q"}`,
	`{"t":"\u12G4"}`,
	`{"t":tru}`,
	`{t:1}`,
	`{"t":1,}`,
	`{"a":[1,]}`,
	`[1,2]`,
	`"s"`,
	``,
	`   `,
	"{\"text\":\"\xff\xfe\"}",
	"{\"text\":\"\xe2\x9c\"}",
	`{"a":{"b":{"c":[[[]]]}}}`,
	`{"t":1} {"t":2}`,
}

func wantValidLine(s string) bool {
	b := bytes.TrimLeft([]byte(s), " \t\r\n")
	return json.Valid(b) && len(b) > 0 && b[0] == '{' && utf8.Valid(b)
}

func TestValidEventLineAgreesWithEncodingJSON(t *testing.T) {
	deep := func(n int) string {
		return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	for _, c := range append(jsonLineCases, deep(10000), deep(10001)) {
		if got, want := validEventLine([]byte(c)), wantValidLine(c); got != want {
			t.Errorf("validEventLine(%q) = %v, want %v", c, got, want)
		}
	}
}

// FuzzValidEventLine checks the fast validator against encoding/json on any
// input: a line it keeps must parse as one JSON object of valid UTF-8, and a
// line encoding/json accepts as such must be kept.
func FuzzValidEventLine(f *testing.F) {
	for _, c := range jsonLineCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validEventLine([]byte(s)), wantValidLine(s); got != want {
			t.Errorf("validEventLine(%q) = %v, want %v", s, got, want)
		}
	})
}

func BenchmarkValidEventLine(b *testing.B) {
	line := []byte(`{"t":123456789,"k":"state","lane":"worker-1","s":"lock-wait","why":"waiting for the counter's lock","src":"app"}`)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			validEventLine(line)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			json.Valid(line)
		}
	})
}
