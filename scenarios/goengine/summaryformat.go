package goengine

import (
	"fmt"
	"math"
)

// Formatting of measured numbers for summaries and labels.

// formatBytes renders a byte count for a label: "512 B", "12.5 KiB", "1.2 MiB".
func formatBytes(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// msPrecise returns ns in milliseconds with three decimals, for times that
// can be microseconds (a goroutine's start, an uncontended lock).
func msPrecise(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
