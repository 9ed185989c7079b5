package child

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Leftover is what a restarted server needs to find and kill the
// processes of a run it did not see end (the server was killed): the
// server stores it when the run starts and forgets it when the run ends.
// Each field lets the sweep be sure a process is the run's before it is
// killed: a pid can be reused by an unrelated program once its process is
// gone, so a pid alone proves nothing.
type Leftover struct {
	// PGID is the run's process group: its main process's pid.
	PGID int `json:"pgid"`
	// Start is when the main process started, in clock ticks after boot
	// (field 22 of /proc/<pid>/stat): a process with the same pid and
	// another start time is not the run's.
	Start uint64 `json:"start"`
	// Boot is the kernel's boot id: after a reboot nothing is left.
	Boot string `json:"boot"`
	// Mark is in the environment (MarkEnv) of the run's processes.
	Mark string `json:"mark"`
	// Cgroups are the run's cgroup directories: whatever is in them is
	// the run's.
	Cgroups []string `json:"cgroups,omitempty"`
	// Dir is the run's private directory.
	Dir string `json:"dir,omitempty"`
	// Server and ServerStart name the server that started the run (pid
	// and start time), so that a record is only swept once that server is
	// gone.
	Server      int    `json:"server,omitempty"`
	ServerStart uint64 `json:"server_start,omitempty"`
}

// ServerAlive reports whether the server that recorded l still runs: its
// runs are then its own, not leftovers (two servers on one data directory).
func (l Leftover) ServerAlive() bool {
	if l.Server <= 0 || l.Boot != bootID() {
		return false
	}
	f, ok := statFields(l.Server)
	if !ok || len(f) == 0 || f[0][0] == 'Z' {
		return false
	}
	st, ok := startTime(l.Server)
	return ok && st == l.ServerStart
}

// Swept says what a sweep found.
type Swept struct {
	// Killed counts the processes killed.
	Killed int
	// Skipped counts processes of the recorded group that were not killed
	// because nothing proved they were the run's.
	Skipped int
}

// Sweep kills what is left of a run: every process in its cgroups, and the
// processes of its process group that are provably the run's (the group's
// leader has the recorded start time; or, the leader gone, the process
// started after it and carries the run's mark). It then waits up to two
// seconds for them to be gone and removes the cgroups and the private
// directory.
func Sweep(l Leftover) (Swept, error) {
	var s Swept
	if l.Boot != bootID() {
		// Rebooted: no process or cgroup survived; a private directory on
		// a disk-backed /tmp may have.
		return s, removePrivate(l.Dir)
	}
	var pidfds []int
	defer func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}()
	// Whatever is in the run's cgroups is the run's.
	inCgroup := map[int]bool{}
	for _, dir := range l.Cgroups {
		if !isRunCgroup(dir) {
			continue
		}
		for _, pid := range cgroupProcs(dir) {
			inCgroup[pid] = true
		}
		if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) != nil {
			killCgroupProcs(dir)
		}
	}
	s.Killed = len(inCgroup)
	if l.PGID > 1 {
		k, skipped, fds := sweepGroup(l, inCgroup)
		s.Killed += k
		s.Skipped += skipped
		pidfds = append(pidfds, fds...)
	}
	// A killed process is gone when its pidfd becomes readable.
	deadline := time.Now().Add(2 * time.Second)
	for _, fd := range pidfds {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, int(left.Milliseconds())+1)
	}
	var errs []error
	for _, dir := range l.Cgroups {
		if isRunCgroup(dir) {
			if err := removeCgroup(dir, 2*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := removePrivate(l.Dir); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// sweepGroup kills the provable members of l's process group (but those
// in done, killed already) and returns their pidfds (to wait for their end).
func sweepGroup(l Leftover, done map[int]bool) (killed, skipped int, pidfds []int) {
	members := groupMembers(l.PGID)
	if len(members) == 0 {
		return 0, 0, nil
	}
	leaderStart, leaderAlive := uint64(0), false
	for _, m := range members {
		if m.pid == l.PGID {
			leaderStart, leaderAlive = m.start, true
		}
	}
	if leaderAlive && leaderStart != l.Start {
		// The pid was reused: this group is someone else's.
		return 0, len(members), nil
	}
	for _, m := range members {
		if done[m.pid] {
			continue
		}
		ours := leaderAlive || (m.start >= l.Start && hasMark(m.pid, l.Mark))
		if !ours {
			skipped++
			continue
		}
		fd, err := unix.PidfdOpen(m.pid, 0)
		if err != nil {
			continue // gone already
		}
		// Check again through the pidfd's process: the pid may have been
		// reused between the scan and the open.
		if st, ok := startTime(m.pid); !ok || st != m.start || pgrpOf(m.pid) != l.PGID {
			unix.Close(fd)
			continue
		}
		if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
			killed++
			pidfds = append(pidfds, fd)
			continue
		}
		unix.Close(fd)
	}
	return killed, skipped, pidfds
}

type member struct {
	pid   int
	start uint64
}

// groupMembers lists the live processes of process group pgid with their
// start times.
func groupMembers(pgid int) []member {
	var out []member
	for _, pid := range GroupPIDs(pgid) {
		if st, ok := startTime(pid); ok {
			out = append(out, member{pid: pid, start: st})
		}
	}
	return out
}

// hasMark reports whether process pid has MarkEnv=mark in its environment.
func hasMark(pid int, mark string) bool {
	if mark == "" {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte(MarkEnv + "=" + mark)
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// startTime returns when process pid started, in clock ticks after boot.
func startTime(pid int) (uint64, bool) {
	f, ok := statFields(pid)
	if !ok || len(f) < 20 {
		return 0, false
	}
	// f[0] is field 3 (state): starttime, field 22, is f[19].
	n, err := strconv.ParseUint(string(f[19]), 10, 64)
	return n, err == nil
}

// pgrpOf returns the process group of pid, or 0.
func pgrpOf(pid int) int {
	f, ok := statFields(pid)
	if !ok || len(f) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(string(f[2]))
	return n
}

// statFields returns the fields of /proc/<pid>/stat after the command name.
func statFields(pid int) ([][]byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return bytes.Fields(b[i+1:]), true
}

// bootID returns the kernel's id of this boot.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// isRunCgroup reports whether dir is a run's cgroup: a directory of a
// cgroup file system, by the name the containment gives them.
func isRunCgroup(dir string) bool {
	if !filepath.IsAbs(dir) || !strings.HasPrefix(filepath.Base(dir), cgroupPrefix) {
		return false
	}
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) != nil {
		return false
	}
	return fs.Type == unix.CGROUP_SUPER_MAGIC || fs.Type == unix.CGROUP2_SUPER_MAGIC
}

// removePrivate removes a run's private directory; only a directory by the
// name the containment gives them, so a damaged record cannot remove
// anything else.
func removePrivate(dir string) error {
	if dir == "" || !filepath.IsAbs(dir) || !strings.HasPrefix(filepath.Base(dir), "interleave-run-") {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
