package scenarios

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Param types.
const (
	TypeInt   = "int"
	TypeFloat = "float"
	TypeBool  = "bool"
	TypeEnum  = "enum"
	// TypeSchedule is a step run's thread choices: thread numbers separated
	// by commas ("1,1,2,2"), or empty for none (see step.go).
	TypeSchedule = "schedule"
)

// Param describes one setting of a scenario: its name (part of the share-link
// contract), type, bounds and the words a learner sees.
type Param struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Default any      `json:"default"`
	Options []string `json:"options,omitempty"`
	Label   string   `json:"label"`
	Help    string   `json:"help"`
	// Engines limits the param to some engines; empty means every engine.
	Engines []string `json:"engines,omitempty"`
	// ForEngine gives the param the words (and options) of one engine: a
	// Python thread is a goroutine on the go engine. Scenario.ParamsFor
	// applies them.
	ForEngine map[string]ParamWords `json:"for_engine,omitempty"`
	// Aliases maps an option value that is not offered (any more, or on
	// this engine) to the one it means, so that old and cross-engine share
	// links still open: kind=goroutines on the python engine is threads.
	Aliases map[string]string `json:"aliases,omitempty"`
}

// ParamWords are the words of a param on one engine; empty fields keep the
// param's own.
type ParamWords struct {
	Label   string   `json:"label,omitempty"`
	Help    string   `json:"help,omitempty"`
	Options []string `json:"options,omitempty"`
}

// forEngine returns p with the words and options of engine.
func (p Param) forEngine(engine string) Param {
	w, ok := p.ForEngine[engine]
	if !ok {
		return p
	}
	if w.Label != "" {
		p.Label = w.Label
	}
	if w.Help != "" {
		p.Help = w.Help
	}
	if len(w.Options) > 0 {
		p.Options = w.Options
	}
	return p
}

// ParamError is the user's mistake: a param that is unknown, of the wrong
// type, out of range or not one of the options. Its message names the field
// and what is allowed.
type ParamError struct {
	Field   string
	Message string
}

func (e *ParamError) Error() string { return e.Field + ": " + e.Message }

// Allowed says in words which values the param accepts.
func (p Param) Allowed() string {
	switch p.Type {
	case TypeInt:
		return fmt.Sprintf("a whole number from %s to %s", fmtNum(*p.Min), fmtNum(*p.Max))
	case TypeFloat:
		return fmt.Sprintf("a number from %s to %s", fmtNum(*p.Min), fmtNum(*p.Max))
	case TypeBool:
		return "true or false"
	case TypeEnum:
		return "one of " + strings.Join(p.Options, ", ")
	case TypeSchedule:
		return fmt.Sprintf("thread numbers separated by commas, such as 1,1,2,2 (at most %d), or nothing", MaxScheduleSteps)
	}
	return "?"
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Params holds validated values: int64, float64, bool or string by type.
type Params map[string]any

// Int returns an int param (also when it was decoded from JSON as a float).
func (p Params) Int(name string) int {
	switch v := p[name].(type) {
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// Float returns a float param.
func (p Params) Float(name string) float64 {
	switch v := p[name].(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// Bool returns a bool param.
func (p Params) Bool(name string) bool { v, _ := p[name].(bool); return v }

// String returns an enum param.
func (p Params) String(name string) string { v, _ := p[name].(string); return v }

// parse converts one raw value (from JSON or a query string) to the
// param's type. Numbers are compared with the bounds before any conversion,
// so no value, however large, can wrap around into range.
func (p Param) parse(raw any) (any, error) {
	if p.Type == TypeSchedule {
		return parseScheduleParam(p.Name, raw)
	}
	if s, ok := raw.(string); ok && strings.TrimSpace(s) == "" {
		return nil, &ParamError{Field: p.Name, Message: "empty; want " + p.Allowed()}
	}
	bad := func() error {
		return &ParamError{Field: p.Name, Message: fmt.Sprintf("%s is not allowed; want %s", Describe(raw), p.Allowed())}
	}
	switch p.Type {
	case TypeInt, TypeFloat:
		f, ok := number(raw)
		if !ok || f < *p.Min || f > *p.Max {
			return nil, bad()
		}
		if p.Type == TypeInt {
			if f != math.Trunc(f) {
				return nil, bad()
			}
			return int64(f), nil
		}
		return f, nil
	case TypeBool:
		switch v := raw.(type) {
		case bool:
			return v, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "on", "1", "yes":
				return true, nil
			case "false", "off", "0", "no":
				return false, nil
			}
		}
		return nil, bad()
	case TypeEnum:
		if s, ok := raw.(string); ok {
			if to, ok := p.Aliases[s]; ok && slices.Contains(p.Options, to) {
				return to, nil
			}
			for _, o := range p.Options {
				if s == o {
					return s, nil
				}
			}
		}
		return nil, bad()
	}
	return nil, fmt.Errorf("param %s has unknown type %q", p.Name, p.Type)
}

// Validate checks raw values against the params and returns the complete set,
// with defaults for what is missing. Unknown names are refused so that a typo
// in a share link is never silently ignored.
func Validate(params []Param, raw map[string]any) (Params, error) {
	known := make(map[string]Param, len(params))
	for _, p := range params {
		known[p.Name] = p
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(Params, len(params))
	var errs []error
	for _, name := range names {
		p, ok := known[name]
		if name == "" {
			errs = append(errs, &ParamError{Field: "params", Message: "a value without a name is not allowed; " + WantNames(paramNames(params))})
			continue
		}
		if !ok {
			errs = append(errs, &ParamError{Field: FieldName(name), Message: "unknown param; " + WantNames(paramNames(params))})
			continue
		}
		v, err := p.parse(raw[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = v
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	for _, p := range params {
		if _, ok := out[p.Name]; !ok {
			v, err := p.parse(p.Default)
			if err != nil {
				return nil, fmt.Errorf("default of %s: %w", p.Name, err)
			}
			out[p.Name] = v
		}
	}
	return out, nil
}

// paramNames lists the names of params, in the schema's order.
func paramNames(params []Param) []string {
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	return names
}

// IsParamError reports whether err is the user's mistake in a param.
func IsParamError(err error) bool {
	var pe *ParamError
	return errors.As(err, &pe)
}

// Query renders params as query-string values in the order of the schema, for
// share links.
func (p Params) Query(params []Param) []KV {
	out := make([]KV, 0, len(params))
	for _, d := range params {
		v, ok := p[d.Name]
		if !ok {
			continue
		}
		out = append(out, KV{Key: d.Name, Value: FormatValue(v)})
	}
	return out
}

// KV is one query-string pair.
type KV struct{ Key, Value string }

// FormatValue renders a param value as it is written in a URL.
func FormatValue(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// IntParam builds an int param.
func IntParam(name, label string, min, max, def int64, help string) Param {
	lo, hi := float64(min), float64(max)
	return Param{Name: name, Type: TypeInt, Min: &lo, Max: &hi, Default: def, Label: label, Help: help}
}

// FloatParam builds a float param.
func FloatParam(name, label string, min, max, def float64, help string) Param {
	return Param{Name: name, Type: TypeFloat, Min: &min, Max: &max, Default: def, Label: label, Help: help}
}

// BoolParam builds a bool param.
func BoolParam(name, label string, def bool, help string) Param {
	return Param{Name: name, Type: TypeBool, Default: def, Label: label, Help: help}
}

// EnumParam builds an enum param; the default is the first option.
func EnumParam(name, label string, options []string, help string) Param {
	return Param{Name: name, Type: TypeEnum, Options: options, Default: options[0], Label: label, Help: help}
}
