package scenarios

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one rule for input, wherever it comes from (a share link's query, a
// JSON body): every name at most once, only names that are taken, numbers
// written as decimals and compared with their bounds before they are
// converted, and every refusal in words that name the field and what it
// wants, never in Go's.

// SingleValues returns the value of each name in a parsed query string. A
// name given more than once, or not in allowed, is refused, since a link
// that says two things, or something this page does not read, must not be
// half-followed in silence.
func SingleValues(q map[string][]string, allowed []string) (map[string]string, error) {
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]string, len(q))
	for _, name := range names {
		vals := q[name]
		switch {
		case name == "":
			return nil, &ParamError{Field: "query", Message: "a value without a name is not allowed; want name=value pairs"}
		case len(vals) > 1:
			return nil, &ParamError{Field: FieldName(name), Message: fmt.Sprintf("given %d times; give it once", len(vals))}
		case !slices.Contains(allowed, name):
			return nil, &ParamError{Field: FieldName(name), Message: "unknown param; " + WantNames(allowed)}
		}
		if len(vals) == 1 {
			out[name] = vals[0]
		}
	}
	return out, nil
}

// WantNames says which names are taken: "want one of a, b, c".
func WantNames(names []string) string {
	if len(names) == 0 {
		return "none are allowed here"
	}
	return "want one of " + strings.Join(names, ", ")
}

// maxShown is how many characters of a user's value or name a message
// repeats; the rest is elided, so that a message stays a sentence.
const maxShown = 40

// FieldName is a name as a message shows it: cut to maxShown characters
// and quoted when it holds characters that do not print.
func FieldName(name string) string { return shown(name) }

// Describe says in words what a raw value is, for a message: numbers and
// text as written (cut to maxShown characters), null, an object, a list.
func Describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case string:
		return shown(v)
	case json.Number:
		return shown(string(v))
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return "this value"
}

// shown cuts s to maxShown characters and quotes it when it holds
// characters that do not print (or is not UTF-8).
func shown(s string) string {
	if s == "" {
		return `""`
	}
	cut := s
	if utf8.RuneCountInString(s) > maxShown {
		runes := []rune(s)
		cut = string(runes[:maxShown]) + "…"
	}
	printable := utf8.ValidString(s) && !strings.ContainsFunc(cut, func(r rune) bool { return !unicode.IsPrint(r) })
	if !printable {
		return strconv.Quote(cut)
	}
	return cut
}

// decimalSyntax is how a number is written: an optional sign, digits with
// an optional fraction, an optional exponent. No hex, no underscores, no
// Inf or NaN.
var decimalSyntax = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// number reads a raw value as a finite number: a JSON number or a decimal
// string (surrounding spaces allowed). Out-of-range magnitudes (1e400) are
// not numbers here.
func number(raw any) (float64, bool) {
	var text string
	switch v := raw.(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		text = string(v)
	case string:
		text = strings.TrimSpace(v)
	default:
		return 0, false
	}
	if !decimalSyntax.MatchString(text) {
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
