package runs

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"interleave/scenarios/child"
	"interleave/scenarios/goengine"
)

// TestMain lets the test binary be the child process of a run, exactly as
// the server binary is, and checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	if code, ok := child.RoleMain(); ok {
		os.Exit(code)
	}
	if role := os.Getenv(goengine.RoleEnv); role != "" {
		os.Exit(goengine.ChildMain(role))
	}
	goleak.VerifyTestMain(m)
}
