package web

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"interleave/scenarios"
)

func scenarioView() ScenarioView {
	sc := locksScenario()
	return ScenarioView{
		Scenario:   sc,
		Engine:     scenarios.EngineGo,
		Params:     sc.ParamsFor(scenarios.EngineGo),
		Values:     map[string]string{"workers": "8", "ratio": "0.25", "lock": "true", "mode": "io"},
		SourceName: "locks.go",
		Source:     "package goengine\n\nfunc runLocks() { counter++ }\n",
		ModelNote:  sc.Models[scenarios.EngineGo],
	}
}

func TestScenarioPageForm(t *testing.T) {
	v := scenarioView()
	doc := render(t, ScenarioPage(v))

	form := byID(t, doc, "params")
	if got, _ := attr(form, "method"); got != "get" {
		t.Errorf("form method = %q, want get (the URL is the share link)", got)
	}
	if got, _ := attr(form, "action"); got != "/s/locks" {
		t.Errorf("form action = %q, want /s/locks", got)
	}

	// One control per param, named after it, labelled, filled from Values.
	for _, p := range v.Params {
		t.Run(p.Name, func(t *testing.T) {
			controls := find(form, withAttr("name", p.Name))
			if len(controls) != 1 {
				t.Fatalf("want one control named %q, found %d", p.Name, len(controls))
			}
			c := controls[0]
			if id, _ := attr(c, "id"); len(find(form, withAttr("for", id))) != 1 {
				t.Errorf("control %q has no label", p.Name)
			}
			if typ, _ := attr(c, "data-param-type"); typ != p.Type {
				t.Errorf("data-param-type = %q, want %q", typ, p.Type)
			}
			switch p.Type {
			case scenarios.TypeInt, scenarios.TypeFloat:
				if c.DataAtom != atom.Input {
					t.Fatalf("%s param is a <%s>, want <input>", p.Type, c.Data)
				}
				if typ, _ := attr(c, "type"); typ != "number" {
					t.Errorf("type = %q, want number", typ)
				}
				if val, _ := attr(c, "value"); val != v.Values[p.Name] {
					t.Errorf("value = %q, want %q", val, v.Values[p.Name])
				}
				minV, _ := attr(c, "min")
				maxV, _ := attr(c, "max")
				if minV != formatNumber(*p.Min) || maxV != formatNumber(*p.Max) {
					t.Errorf("bounds = [%s, %s], want [%v, %v]", minV, maxV, *p.Min, *p.Max)
				}
			case scenarios.TypeBool, scenarios.TypeEnum:
				if c.DataAtom != atom.Select {
					t.Fatalf("%s param is a <%s>, want <select> (a checkbox cannot send false)", p.Type, c.Data)
				}
				var values, selected []string
				for _, o := range find(c, func(n *html.Node) bool { return n.DataAtom == atom.Option }) {
					val, _ := attr(o, "value")
					values = append(values, val)
					if _, ok := attr(o, "selected"); ok {
						selected = append(selected, val)
					}
				}
				want := p.Options
				if p.Type == scenarios.TypeBool {
					want = []string{"true", "false"}
				}
				if !slices.Equal(values, want) {
					t.Errorf("options = %v, want %v", values, want)
				}
				if !slices.Equal(selected, []string{v.Values[p.Name]}) {
					t.Errorf("selected = %v, want [%s]", selected, v.Values[p.Name])
				}
			}
		})
	}

	// The engine travels with the form; with two engines it is a choice.
	engine := find(form, withAttr("name", "engine"))
	if len(engine) != 1 || engine[0].DataAtom != atom.Select {
		t.Fatalf("want one engine <select> for a scenario with two engines, found %d", len(engine))
	}
	submit := byID(t, doc, "update-link")
	if typ, _ := attr(submit, "type"); typ != "submit" || text(submit) != "Update link" {
		t.Errorf("submit button = %q type %q, want \"Update link\" type submit", text(submit), typ)
	}
	if ancestor(submit, withAttr("id", "params")) == nil {
		t.Error("the Update link button is outside the form")
	}
	if len(find(doc, withAttr("id", "error"))) != 0 {
		t.Error("an error is shown although the view has none")
	}
}

func TestScenarioPageError(t *testing.T) {
	tests := []struct {
		name, field, msg string
		// inField says whether the error sits inside the field's box (the
		// field has a control) or above the form (it does not).
		inField bool
	}{
		{"out of range", "workers", "workers: 99 is not allowed; want a whole number from 1 to 64", true},
		{"not an option", "mode", "mode: gpu is not allowed; want one of cpu, io", true},
		{"engine", "engine", "engine: rust is not available for this scenario; want one of go, python", true},
		{"unknown param", "wrokers", "wrokers: unknown param; this scenario takes workers, ratio, lock, mode", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := scenarioView()
			v.Error, v.Field = tt.msg, tt.field
			doc := render(t, ScenarioPage(v))
			e := byID(t, doc, "error")
			if role, _ := attr(e, "role"); role != "alert" {
				t.Errorf("error role = %q, want alert", role)
			}
			if f, _ := attr(e, "data-field"); f != tt.field {
				t.Errorf("error data-field = %q, want %q", f, tt.field)
			}
			got := text(e)
			saysWhy := strings.Contains(got, "not allowed") || strings.Contains(got, "not available") || strings.Contains(got, "unknown")
			if !strings.HasPrefix(got, tt.field+":") || !saysWhy {
				t.Errorf("error text = %q, want it to name %q and say what is wrong", got, tt.field)
			}
			box := ancestor(e, withAttr("data-param", tt.field))
			if tt.inField && box == nil {
				t.Errorf("error is not next to the field %q", tt.field)
			}
			if !tt.inField && ancestor(e, withAttr("id", "params")) == nil {
				t.Errorf("error for an unknown field is not shown with the form")
			}
			if tt.inField && tt.field != "engine" {
				control := find(box, withAttr("name", tt.field))[0]
				if inv, _ := attr(control, "aria-invalid"); inv != "true" {
					t.Errorf("control aria-invalid = %q, want true", inv)
				}
				if by, _ := attr(control, "aria-describedby"); !strings.Contains(by, "error") {
					t.Errorf("control aria-describedby = %q, want it to include the error", by)
				}
			}
		})
	}
}

func TestScenarioPageParts(t *testing.T) {
	v := scenarioView()
	doc := render(t, ScenarioPage(v))

	app := byID(t, doc, "app")
	for key, want := range map[string]string{"data-page": "scenario", "data-scenario": "locks", "data-engine": "go"} {
		if got, _ := attr(app, key); got != want {
			t.Errorf("#app %s = %q, want %q", key, got, want)
		}
	}
	for _, id := range []string{"run", "cancel", "status", "timeline", "timeline-canvas", "legend", "summary", "metrics", "verdict", "output", "permalink", "sched-toggle", "follow", "zoom-in", "zoom-out", "fit"} {
		byID(t, doc, id)
	}
	if _, disabled := attr(byID(t, doc, "run"), "disabled"); disabled {
		t.Error("Run is disabled although the engine is available")
	}

	code := find(byID(t, doc, "source"), func(n *html.Node) bool { return n.DataAtom == atom.Code })
	if len(code) != 1 || code[0].Parent.DataAtom != atom.Pre {
		t.Fatal("want the source in <pre><code>")
	}
	if got := code[0].FirstChild.Data; got != v.Source {
		t.Errorf("source = %q, want it verbatim %q", got, v.Source)
	}
	if !strings.Contains(text(doc), v.SourceName) {
		t.Errorf("the source file name %q is not shown", v.SourceName)
	}

	claim := text(ancestor(find(doc, withAttr("id", "claim-title"))[0], func(n *html.Node) bool { return n.DataAtom == atom.Section }))
	for _, want := range append([]string{v.Scenario.Claim}, v.Scenario.Notice...) {
		if !strings.Contains(claim, want) {
			t.Errorf("claim section lacks %q", want)
		}
	}

	note := byID(t, doc, "model-note")
	if !strings.Contains(text(note), "model") {
		t.Errorf("model note %q does not say it is a model", text(note))
	}
	if len(find(note, withAttr("href", "/s/locks?engine=python"))) != 1 {
		t.Error("model note does not link to the CPython version")
	}

	scripts := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Script })
	if len(scripts) != 1 {
		t.Fatalf("want one script, found %d", len(scripts))
	}
	typ, _ := attr(scripts[0], "type")
	src, _ := attr(scripts[0], "src")
	if typ != "module" || !strings.HasPrefix(src, "/static/app.js") {
		t.Errorf("script type=%q src=%q, want a module from /static/app.js", typ, src)
	}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("inline handler %s on <%s>: the page is served with a strict CSP", a.Key, n.Data)
			}
		}
	}
}

func TestScenarioPageEngineUnavailable(t *testing.T) {
	v := scenarioView()
	v.Engine = scenarios.EnginePython
	v.ModelNote = ""
	v.EngineError = "python3 not found: install it with apt-get install python3"
	doc := render(t, ScenarioPage(v))
	if _, disabled := attr(byID(t, doc, "run"), "disabled"); !disabled {
		t.Error("Run is enabled although the engine is unavailable")
	}
	msg := byID(t, doc, "engine-error")
	if role, _ := attr(msg, "role"); role != "alert" || !strings.Contains(text(msg), "apt-get install python3") {
		t.Errorf("engine error = %q (role %q), want the reason as an alert", text(msg), role)
	}
	if len(find(doc, withAttr("id", "model-note"))) != 0 {
		t.Error("a model note is shown without ModelNote")
	}
}
