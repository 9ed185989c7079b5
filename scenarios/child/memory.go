package child

import (
	"bytes"
	"os"
	"strconv"
)

// GroupPIDs returns the pids of the live processes in process group pgid.
func GroupPIDs(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if group, _, ok := parseStat(b); ok && group == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parseStat reads the process group and resident pages from /proc/N/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (pgrp int, rssPages int64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is state (field 3); pgrp is field 5, rss field 24.
	if len(fields) < 22 {
		return 0, 0, false
	}
	if fields[0][0] == 'Z' { // a zombie holds no memory
		return 0, 0, false
	}
	g, err1 := strconv.Atoi(string(fields[2]))
	r, err2 := strconv.ParseInt(string(fields[21]), 10, 64)
	return g, r, err1 == nil && err2 == nil
}
