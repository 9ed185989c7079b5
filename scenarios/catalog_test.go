package scenarios

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestBreaksLinksValidate checks every scenario's second link: it opens on
// every engine of the scenario (its params validate there) and differs from
// the defaults, so it shows something the first link does not.
func TestBreaksLinksValidate(t *testing.T) {
	for _, sc := range All() {
		if sc.ID == CompareID {
			continue
		}
		if sc.Breaks == nil {
			t.Errorf("%s has no link to where its rule breaks", sc.ID)
			continue
		}
		if sc.Breaks.Title == "" {
			t.Errorf("%s: the breaks link has no title", sc.ID)
		}
		for _, engine := range sc.Engines {
			q, err := url.ParseQuery(sc.BreaksQuery(engine))
			if err != nil {
				t.Fatalf("%s on %s: %v", sc.ID, engine, err)
			}
			if q.Get("engine") != engine {
				t.Errorf("%s: the link names engine %q, want %s", sc.ID, q.Get("engine"), engine)
			}
			raw := map[string]any{}
			for k, v := range q {
				if k != "engine" {
					raw[k] = v[0]
				}
			}
			if len(raw) == 0 {
				t.Errorf("%s on %s: the breaks link sets no param", sc.ID, engine)
			}
			got, err := sc.Validate(engine, raw)
			if err != nil {
				t.Errorf("%s on %s: the breaks link %q does not validate: %v", sc.ID, engine, q.Encode(), err)
				continue
			}
			defaults, _ := sc.Validate(engine, nil)
			same := true
			for k, v := range got {
				if defaults[k] != v {
					same = false
				}
			}
			if same {
				t.Errorf("%s on %s: the breaks link is the defaults", sc.ID, engine)
			}
			if sc.Breaks.WhyFor(engine) == "" {
				t.Errorf("%s on %s: the breaks link does not say what to expect", sc.ID, engine)
			}
		}
	}
}

// TestParamWordsPerEngine checks that a param speaks the engine's words:
// threads on CPython, goroutines on Go, and that a share link made with the
// other engine's option still opens.
func TestParamWordsPerEngine(t *testing.T) {
	for _, sc := range All() {
		for _, p := range sc.ParamsFor(EnginePython) {
			for _, text := range append([]string{p.Label, p.Help}, p.Options...) {
				if strings.Contains(strings.ToLower(text), "goroutine") || strings.Contains(text, "GOMAXPROCS") || strings.Contains(text, "gob") {
					t.Errorf("%s.%s on CPython speaks of Go: %q", sc.ID, p.Name, text)
				}
			}
		}
	}
	// Where CPython's words speak of threads, Go's speak of goroutines
	// (except in a scenario the go engine models, whose threads are the
	// model's).
	threadRE := regexp.MustCompile(`\bthreads?\b`)
	for _, sc := range All() {
		if sc.Models[EngineGo] != "" || !sc.HasEngine(EngineGo) {
			continue
		}
		goParams := map[string]Param{}
		for _, p := range sc.ParamsFor(EngineGo) {
			goParams[p.Name] = p
		}
		for _, p := range sc.ParamsFor(EnginePython) {
			g, ok := goParams[p.Name]
			if !ok {
				continue
			}
			if threadRE.MatchString(p.Label+" "+p.Help) && !strings.Contains(g.Label+" "+g.Help, "goroutine") {
				t.Errorf("%s.%s speaks of threads on CPython but not of goroutines on Go: %q", sc.ID, p.Name, g.Help)
			}
		}
	}
	pools, _ := Lookup("pools")
	for _, tt := range []struct{ engine, raw, want string }{
		{EnginePython, "threads", "threads"},
		{EnginePython, "goroutines", "threads"},
		{EngineGo, "goroutines", "goroutines"},
		{EngineGo, "threads", "goroutines"},
		{EngineGo, "processes", "processes"},
	} {
		got, err := pools.Validate(tt.engine, map[string]any{"kind": tt.raw})
		if err != nil || got.String("kind") != tt.want {
			t.Errorf("pools kind=%s on %s: %v, %v; want %s", tt.raw, tt.engine, got.String("kind"), err, tt.want)
		}
	}
	if _, err := pools.Validate(EnginePython, map[string]any{"kind": "fibers"}); err == nil || !strings.Contains(err.Error(), "want one of processes, threads") {
		t.Errorf("pools kind=fibers on CPython: %v, want the python options named", err)
	}
}
