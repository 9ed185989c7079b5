package child

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupPrefix starts the name of every cgroup made for a run, so that an
// operator (and the restart sweep) can tell them from anything else.
const cgroupPrefix = "interleave-run-"

// cgroupHost is what this machine lets a run's cgroup use, found once by
// probeCgroups: the directories of this process's own cgroups, under which a
// cgroup per run is made, in the unified (v2) hierarchy and in the v1
// hierarchies of the controllers that matter. A machine may have both: this
// kind of VM mounts the memory, pids and cpuacct controllers as v1 and an
// unified tree without them, which still has cgroup.kill and cpu.stat.
type cgroupHost struct {
	// v2 is this process's cgroup in the unified hierarchy, writable; "" if none.
	v2 string
	// v2Memory and v2Pids say the v2 memory and pids controllers are enabled
	// for v2's children.
	v2Memory, v2Pids bool
	// v1 maps a v1 controller (memory, pids, cpuacct) to this process's
	// cgroup in that controller's hierarchy, when it is writable.
	v1 map[string]string
	// missing says, for each thing a run's cgroup cannot do here, why.
	missing []string
}

// cgroupLimits are the kernel-enforced limits of one run's cgroup.
type cgroupLimits struct {
	memory int64 // bytes; 0 means none
	tasks  int64 // processes and threads; 0 means none
}

// probeCgroups finds this process's cgroups and checks that a child cgroup
// can be made in each (a mkdir and rmdir). It never fails: what does not
// work is listed in missing.
func probeCgroups() *cgroupHost {
	h := &cgroupHost{v1: map[string]string{}}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		h.missing = append(h.missing, "cgroups: cannot read /proc/self/mountinfo: "+err.Error())
		return h
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		h.missing = append(h.missing, "cgroups: cannot read /proc/self/cgroup: "+err.Error())
		return h
	}
	paths := ownCgroups(own)
	for _, m := range cgroupMounts(mounts) {
		if m.v2 {
			path, ok := paths[""]
			if !ok || h.v2 != "" {
				continue
			}
			dir := filepath.Join(m.point, strings.TrimPrefix(path, m.root))
			if err := checkWritable(dir); err != nil {
				h.missing = append(h.missing, "cgroup v2 at "+dir+": "+err.Error())
				continue
			}
			h.v2 = dir
			h.v2Memory, h.v2Pids = enableControllers(dir, &h.missing)
			continue
		}
		for _, ctl := range m.controllers {
			if ctl != "memory" && ctl != "pids" && ctl != "cpuacct" {
				continue
			}
			path, ok := paths[ctl]
			if !ok || h.v1[ctl] != "" {
				continue
			}
			dir := filepath.Join(m.point, strings.TrimPrefix(path, m.root))
			if err := checkWritable(dir); err != nil {
				h.missing = append(h.missing, "cgroup v1 "+ctl+" at "+dir+": "+err.Error())
				continue
			}
			h.v1[ctl] = dir
		}
	}
	if h.v2 == "" && len(h.v1) == 0 && len(h.missing) == 0 {
		h.missing = append(h.missing, "no cgroup file system is mounted")
	}
	return h
}

// memory reports whether a run's memory can be capped by the kernel.
func (h *cgroupHost) memory() bool { return h.v2Memory || h.v1["memory"] != "" }

// tasks reports whether a run's number of tasks can be capped by the kernel.
func (h *cgroupHost) tasks() bool { return h.v2Pids || h.v1["pids"] != "" }

// killable reports whether every process of a run can be found (and so
// killed) by its cgroup, whatever process group it put itself in.
func (h *cgroupHost) killable() bool { return h.v2 != "" || len(h.v1) > 0 }

// cpu reports whether a run's cgroup accounts its CPU time.
func (h *cgroupHost) cpu() bool { return h.v2 != "" || h.v1["cpuacct"] != "" }

// describe says in a few words what a run's cgroup does here.
func (h *cgroupHost) describe() string {
	var parts []string
	if h.v2 != "" {
		v2 := "v2 (cgroup.kill, cpu.stat"
		if h.v2Memory {
			v2 += ", memory.max"
		}
		if h.v2Pids {
			v2 += ", pids.max"
		}
		parts = append(parts, v2+") under "+h.v2)
	}
	ctls := make([]string, 0, len(h.v1))
	for ctl := range h.v1 {
		ctls = append(ctls, ctl)
	}
	slices.Sort(ctls)
	for _, ctl := range ctls {
		parts = append(parts, "v1 "+ctl+" under "+h.v1[ctl])
	}
	return strings.Join(parts, "; ")
}

type cgroupMount struct {
	point, root string
	v2          bool
	controllers []string
}

// cgroupMounts lists the cgroup file systems in /proc/self/mountinfo.
func cgroupMounts(mountinfo []byte) []cgroupMount {
	var out []cgroupMount
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent major:minor root point options [optional...] - type source super-options
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := cgroupMount{root: unescapeMount(f[3]), point: unescapeMount(f[4])}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			m.controllers = strings.Split(g[2], ",")
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups maps each controller of /proc/self/cgroup to this process's
// path in its hierarchy; the unified hierarchy is under "".
func ownCgroups(b []byte) map[string]string {
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			paths[ctl] = parts[2]
		}
	}
	return paths
}

// checkWritable makes and removes a child cgroup of dir.
func checkWritable(dir string) error {
	probe := filepath.Join(dir, fmt.Sprintf("%sprobe-%d", cgroupPrefix, os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("not writable by this user (run as root, or in a delegated cgroup: systemd-run --user --scope -p Delegate=yes): %w", err)
		}
		return err
	}
	return os.Remove(probe)
}

// enableControllers turns on the v2 memory and pids controllers for dir's
// children where dir's own cgroup has them. The kernel refuses when dir
// holds processes itself (no internal processes in v2), unless it is the
// root: then the limits come from v1, or are missing.
func enableControllers(dir string, missing *[]string) (memory, pids bool) {
	avail, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	has := strings.Fields(string(avail))
	for _, ctl := range []string{"memory", "pids"} {
		if !slices.Contains(has, ctl) {
			continue
		}
		enabled, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		if !slices.Contains(strings.Fields(string(enabled)), ctl) {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+ctl), 0); err != nil {
				*missing = append(*missing, fmt.Sprintf("cgroup v2 %s controller at %s cannot be enabled for children: %v", ctl, dir, err))
				continue
			}
		}
		if ctl == "memory" {
			memory = true
		} else {
			pids = true
		}
	}
	return memory, pids
}

// runGroup is the cgroup (one per hierarchy) of one run.
type runGroup struct {
	// dirs are every directory made for the run, v2 first when there is one.
	dirs []string
	v2   string
	// memory is the directory whose memory files cap the run, v1 says which kind.
	memory   string
	memoryV1 bool
	// cpuacct is the v1 cpuacct directory, used when there is no v2.
	cpuacct string
}

// newRunGroup makes the run's cgroups named name and sets their limits,
// before any process joins them. On error nothing is left behind.
func (h *cgroupHost) newRunGroup(name string, lim cgroupLimits) (g *runGroup, err error) {
	g = &runGroup{}
	defer func() {
		if err != nil {
			g.remove()
			g = nil
		}
	}()
	mk := func(parent string) (string, error) {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", fmt.Errorf("make cgroup %s: %w", dir, err)
		}
		g.dirs = append(g.dirs, dir)
		return dir, nil
	}
	set := func(dir, file, value string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
			return fmt.Errorf("set %s to %s: %w", filepath.Join(dir, file), value, err)
		}
		return nil
	}
	if h.v2 != "" {
		if g.v2, err = mk(h.v2); err != nil {
			return g, err
		}
		if h.v2Memory && lim.memory > 0 {
			if err := set(g.v2, "memory.max", strconv.FormatInt(lim.memory, 10)); err != nil {
				return g, err
			}
			// No swap: the cap is on memory, not on memory plus swap.
			_ = set(g.v2, "memory.swap.max", "0")
			g.memory = g.v2
		}
		if h.v2Pids && lim.tasks > 0 {
			if err := set(g.v2, "pids.max", strconv.FormatInt(lim.tasks, 10)); err != nil {
				return g, err
			}
		}
	}
	if parent := h.v1["memory"]; parent != "" && g.memory == "" && lim.memory > 0 {
		dir, err := mk(parent)
		if err != nil {
			return g, err
		}
		if err := set(dir, "memory.limit_in_bytes", strconv.FormatInt(lim.memory, 10)); err != nil {
			return g, err
		}
		// Where swap is accounted, memory plus swap gets the same cap.
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
			if err := set(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(lim.memory, 10)); err != nil {
				return g, err
			}
		}
		g.memory, g.memoryV1 = dir, true
	}
	if parent := h.v1["pids"]; parent != "" && !h.v2Pids && lim.tasks > 0 {
		dir, err := mk(parent)
		if err != nil {
			return g, err
		}
		if err := set(dir, "pids.max", strconv.FormatInt(lim.tasks, 10)); err != nil {
			return g, err
		}
	}
	if parent := h.v1["cpuacct"]; parent != "" && h.v2 == "" {
		if g.cpuacct, err = mk(parent); err != nil {
			return g, err
		}
	}
	return g, nil
}

// cpuNS returns the CPU time (user and system) of every process that was
// in the run's cgroup, in ns.
func (g *runGroup) cpuNS() (int64, bool) {
	if g.v2 != "" {
		b, err := os.ReadFile(filepath.Join(g.v2, "cpu.stat"))
		if err != nil {
			return 0, false
		}
		if us, ok := statField(b, "usage_usec"); ok {
			return us * 1000, true
		}
		return 0, false
	}
	if g.cpuacct != "" {
		b, err := os.ReadFile(filepath.Join(g.cpuacct, "cpuacct.usage"))
		if err != nil {
			return 0, false
		}
		ns, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		return ns, err == nil
	}
	return 0, false
}

// oomKills returns how many of the run's processes the kernel killed for
// going over the run's memory cap.
func (g *runGroup) oomKills() int64 {
	if g.memory == "" {
		return 0
	}
	file := "memory.events"
	if g.memoryV1 {
		file = "memory.oom_control"
	}
	b, err := os.ReadFile(filepath.Join(g.memory, file))
	if err != nil {
		return 0
	}
	n, _ := statField(b, "oom_kill")
	return n
}

// statField reads "name value" from a cgroup's flat keyed file.
func statField(b []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == name {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// kill kills every process in the run's cgroups: in one step with v2's
// cgroup.kill, else one by one from cgroup.procs (through a pidfd, so a pid
// that was reused in between is never hit).
func (g *runGroup) kill() {
	if g == nil {
		return
	}
	if g.v2 != "" {
		if err := os.WriteFile(filepath.Join(g.v2, "cgroup.kill"), []byte("1"), 0); err == nil {
			return
		}
	}
	for _, dir := range g.dirs {
		killCgroupProcs(dir)
	}
}

// killCgroupProcs kills the processes listed in dir/cgroup.procs, reading
// it again until nothing new is found there (a process may fork while the
// others are killed), and returns how many it killed.
func killCgroupProcs(dir string) (killed int) {
	hit := map[int]bool{}
	for range 100 {
		fresh := 0
		for _, pid := range cgroupProcs(dir) {
			if hit[pid] {
				continue
			}
			fresh++
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue
			}
			// The pid is checked again through the pidfd's process: it
			// may have been reused between the read and the open.
			if slices.Contains(cgroupProcs(dir), pid) && unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
				hit[pid] = true
			}
			unix.Close(fd)
		}
		if fresh == 0 {
			break
		}
	}
	return len(hit)
}

// cgroupProcs returns the pids in dir/cgroup.procs.
func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// remove removes the run's cgroups once their processes are gone (a killed
// process leaves its cgroup when the kernel has torn it down, a moment
// after the kill). It gives up after a second, leaving the directories for
// the next start's sweep.
func (g *runGroup) remove() error {
	if g == nil {
		return nil
	}
	var errs []error
	for i := len(g.dirs) - 1; i >= 0; i-- {
		if err := removeCgroup(g.dirs[i], time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroup removes the empty cgroup dir, retrying while the kernel
// still counts exiting processes in it.
func removeCgroup(dir string, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	wait := time.Millisecond
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
