//go:build race

package server

// raceDetector is whether this test binary was built with -race.
const raceDetector = true
