//go:build !race

// Package racedetector says whether the race detector is built in: tests
// that check processes or stores rather than how goroutines share data are
// skipped in CI's race pass (go test -race -short) for its time.
package racedetector

// Enabled is whether the program (a test binary, mostly) was built with
// -race.
const Enabled = false
