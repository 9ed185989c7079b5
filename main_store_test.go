package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmptyStoreStopsTheProgramUnlessReset: a 0-byte interleave.db used to
// start as an empty store without a word. Now the program stops and names
// the file; with -reset-store it moves the file aside and serves.
func TestEmptyStoreStopsTheProgramUnlessReset(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, "interleave.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	var out strings.Builder
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-data", data}, noEnv, &out)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), "-reset-store") {
		t.Fatalf("run on a 0-byte store = %v; want an error naming %s, saying it is empty and how to start afresh", err, path)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	ended := make(chan error, 1)
	go func() {
		ended <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data", data, "-reset-store"}, noEnv, pw)
		pw.Close()
	}()
	log := &strings.Builder{}
	served := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if servingRe.MatchString(sc.Text()) {
			served = true
			cancel()
		}
	}
	if err := <-ended; err != nil || !served {
		t.Fatalf("with -reset-store: served %v, run = %v\n%s", served, err, log)
	}
	if !strings.Contains(log.String(), "moved an unusable run store aside") {
		t.Errorf("the log does not say the store was moved aside:\n%s", log)
	}
	moved, _ := filepath.Glob(path + ".bad-*")
	if len(moved) != 1 {
		t.Errorf("files moved aside: %v", moved)
	}
}
