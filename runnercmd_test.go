package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunnerFlags: the runner subcommand refuses bad flags with a message
// naming the flag and what it wants, without connecting anywhere.
func TestRunnerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-nats is required"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-name", "a.b"}, "-name \"a.b\": want only letters, digits"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-name", "r1", "-slots", "-2"}, "-slots -2: want 1 to 1024"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-name", "r1", "-engines", "go,cobol"}, "-engines: \"cobol\" is not an engine here"},
		{[]string{"-nats", "nats://127.0.0.1:1", "-bogus"}, "flag provided but not defined: -bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := runRunner(context.Background(), tc.args, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("runRunner(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
