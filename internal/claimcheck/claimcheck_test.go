package claimcheck

import (
	"net/url"
	"testing"

	"interleave/scenarios"
)

// TestBreaksParamsAreTheLinksSettings: the params a defaults test runs as
// "where it breaks" are the ones the page's link carries, on every engine.
func TestBreaksParamsAreTheLinksSettings(t *testing.T) {
	checked := 0
	for _, sc := range scenarios.All() {
		if sc.Breaks == nil {
			continue
		}
		for _, engine := range sc.Engines {
			q, err := url.ParseQuery(sc.BreaksQuery(engine))
			if err != nil {
				t.Fatal(err)
			}
			got := BreaksParams(sc.ID, engine)
			if len(got) != len(q)-1 {
				t.Errorf("%s on %s: %d params, the link has %d", sc.ID, engine, len(got), len(q)-1)
			}
			for name, v := range got {
				if q.Get(name) != scenarios.FormatValue(v) {
					t.Errorf("%s on %s: %s=%v, the link says %q", sc.ID, engine, name, v, q.Get(name))
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no scenario has a where-it-breaks link")
	}
}
