package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProtocolJSIsGenerated fails when static/protocol.js is not what the
// Go definitions produce: a status, state or kind added in Go must reach
// the page (run go generate ./static and commit).
func TestProtocolJSIsGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "static", "protocol.js")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := source(); !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the Go definitions produce; run: go generate ./static\n--- want\n%s", path, want)
	}
}
