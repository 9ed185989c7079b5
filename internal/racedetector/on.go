//go:build race

package racedetector

// Enabled is whether the program (a test binary, mostly) was built with
// -race.
const Enabled = true
