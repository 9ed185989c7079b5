// Package procgroup follows the processes of one process group through
// Linux's /proc, cheaply enough to do several times a second while a run
// computes: the run's memory cap and the server's measure of who used the
// CPUs both read it.
//
// A full look at the group would read /proc/<pid>/stat of every process of
// the machine (hundreds, about 4 ms of CPU each time); a Scanner reads the
// /proc listing and then only the group's own processes and those that are
// new since its previous scan, remembering which processes are not in the
// group.
package procgroup

import (
	"bytes"
	"errors"
	"os"
	"strconv"
)

// PageSize is the size of the pages /proc counts resident memory in.
var PageSize = int64(os.Getpagesize())

// ErrUnsupported is returned where /proc cannot be read (not Linux).
var ErrUnsupported = errors.New("procgroup: /proc is not readable here")

// Sample is the group as one scan saw it.
type Sample struct {
	// Members counts the group's processes in /proc (zombies included).
	Members int
	// RSS is the resident memory of the live members, in bytes.
	RSS int64
	// CPUTicks is the group's CPU time in /proc's ticks (USER_HZ, 100 a
	// second): every member's own and reaped children's time, plus the
	// last seen time of members reaped by a process outside the group
	// (whose time no longer shows in any member). It only grows.
	CPUTicks int64
}

// proc is what a scanner remembers of one process of the machine.
type proc struct {
	member bool
	ppid   int
	ticks  int64 // utime+stime+cutime+cstime at the last scan (members only)
}

// Scanner follows process group pgid. It is not safe for concurrent use.
type Scanner struct {
	pgid  int
	procs map[int]proc
	gone  int64
	buf   []byte
}

// New returns a scanner of process group pgid (the pid of its leader).
func New(pgid int) *Scanner {
	return &Scanner{pgid: pgid, procs: map[int]proc{}, buf: make([]byte, 0, 1024)}
}

// Scan looks at the group now.
func (s *Scanner) Scan() (Sample, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return Sample{}, ErrUnsupported
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return Sample{}, ErrUnsupported
	}
	var out Sample
	seen := make(map[int]proc, len(s.procs)+8)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, known := s.procs[pid]; known && !p.member {
			seen[pid] = p // not in the group: no need to read it again
			continue
		}
		st, ok := s.stat(pid)
		if !ok {
			continue // gone between the listing and the read
		}
		if st.pgrp != s.pgid {
			seen[pid] = proc{}
			continue
		}
		seen[pid] = proc{member: true, ppid: st.ppid, ticks: st.ticks}
		out.Members++
		out.CPUTicks += st.ticks
		if !st.zombie {
			out.RSS += st.rssPages * PageSize
		}
	}
	// A member that left /proc was reaped. Its time moved into its
	// parent's reaped-children time if that parent is a member still
	// here; otherwise only its last scan keeps it.
	for pid, p := range s.procs {
		if !p.member {
			continue
		}
		if _, here := seen[pid]; here {
			continue
		}
		if parent, ok := seen[p.ppid]; !ok || !parent.member {
			s.gone += p.ticks
		}
	}
	s.procs = seen
	out.CPUTicks += s.gone
	return out, nil
}

// procStat is what a member's /proc/<pid>/stat tells.
type procStat struct {
	ppid, pgrp int
	zombie     bool
	ticks      int64
	rssPages   int64
}

// stat reads /proc/<pid>/stat. The command name (field 2) may hold spaces
// and parentheses, so fields are counted from the last ')'.
func (s *Scanner) stat(pid int) (procStat, bool) {
	b, err := s.readFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14, stime
	// 15, cutime 16, cstime 17, rss 24.
	if len(f) < 22 || len(f[0]) == 0 {
		return procStat{}, false
	}
	st := procStat{zombie: f[0][0] == 'Z'}
	var err1, err2, err3 error
	st.ppid, err1 = strconv.Atoi(string(f[1]))
	st.pgrp, err2 = strconv.Atoi(string(f[2]))
	st.rssPages, err3 = strconv.ParseInt(string(f[21]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	for _, j := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseInt(string(f[j]), 10, 64)
		if err != nil {
			return procStat{}, false
		}
		st.ticks += v
	}
	return st, true
}

// readFile reads a small /proc file into the scanner's buffer; the result
// is valid until the next call.
func (s *Scanner) readFile(path string) ([]byte, error) {
	return ReadSmall(path, &s.buf)
}

// ReadSmall reads a small /proc file into *buf (grown as needed) and
// returns its content, valid until the next use of *buf. /proc files
// report no size, so it reads until a read returns nothing.
func ReadSmall(path string, buf *[]byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil || n == 0 {
			break
		}
	}
	*buf = b
	return b, nil
}
