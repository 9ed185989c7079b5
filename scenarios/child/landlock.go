package child

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock access rights, as the kernel numbers them (linux/landlock.h).
// A right exists from the ABI version noted.
const (
	llExecute    = unix.LANDLOCK_ACCESS_FS_EXECUTE
	llWriteFile  = unix.LANDLOCK_ACCESS_FS_WRITE_FILE
	llReadFile   = unix.LANDLOCK_ACCESS_FS_READ_FILE
	llReadDir    = unix.LANDLOCK_ACCESS_FS_READ_DIR
	llRemoveDir  = unix.LANDLOCK_ACCESS_FS_REMOVE_DIR
	llRemoveFile = unix.LANDLOCK_ACCESS_FS_REMOVE_FILE
	llMakeChar   = unix.LANDLOCK_ACCESS_FS_MAKE_CHAR
	llMakeDir    = unix.LANDLOCK_ACCESS_FS_MAKE_DIR
	llMakeReg    = unix.LANDLOCK_ACCESS_FS_MAKE_REG
	llMakeSock   = unix.LANDLOCK_ACCESS_FS_MAKE_SOCK
	llMakeFifo   = unix.LANDLOCK_ACCESS_FS_MAKE_FIFO
	llMakeBlock  = unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK
	llMakeSym    = unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	llRefer      = unix.LANDLOCK_ACCESS_FS_REFER            // ABI 2
	llTruncate   = unix.LANDLOCK_ACCESS_FS_TRUNCATE         // ABI 3
	llIoctlDev   = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV        // ABI 5
	llScopeUnix  = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET // ABI 6
	llScopeSig   = unix.LANDLOCK_SCOPE_SIGNAL               // ABI 6

	// llFileRights are the rights that apply to a file (not a directory).
	llFileRights = llExecute | llWriteFile | llReadFile | llTruncate | llIoctlDev

	llRead  = llExecute | llReadFile | llReadDir
	llWrite = llRead | llWriteFile | llRemoveDir | llRemoveFile | llMakeDir | llMakeReg |
		llMakeSock | llMakeFifo | llMakeSym | llRefer | llTruncate
)

// landlockABI returns the kernel's Landlock ABI version; 0 when the kernel
// has none or it is disabled.
func landlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}

// handledFS is every file-system right the kernel of ABI abi can restrict.
func handledFS(abi int) uint64 {
	h := uint64(llExecute | llWriteFile | llReadFile | llReadDir | llRemoveDir | llRemoveFile |
		llMakeChar | llMakeDir | llMakeReg | llMakeSock | llMakeFifo | llMakeBlock | llMakeSym)
	if abi >= 2 {
		h |= llRefer
	}
	if abi >= 3 {
		h |= llTruncate
	}
	if abi >= 5 {
		h |= llIoctlDev
	}
	return h
}

// fsRule grants rights beneath path (or on path, a file).
type fsRule struct {
	Path   string `json:"path"`
	Rights uint64 `json:"rights"`
}

// landlockRuleset is the file-system view a run gets, as the sandbox
// applies it: everything not granted here is denied, to every process of
// the run and whatever it executes.
type landlockRuleset struct {
	ABI   int      `json:"abi"`
	Rules []fsRule `json:"rules"`
}

// rulesetAttr is struct landlock_ruleset_attr up to ABI 6's scoped field.
type rulesetAttr struct {
	handledFS  uint64
	handledNet uint64
	scoped     uint64
}

// restrictSelf applies the ruleset to the calling thread, which must then
// execute the program (an execve keeps only the calling thread, and with it
// the restriction). no_new_privs must be set. Paths that do not exist are
// skipped: a rule is a grant, and a missing path needs none.
func (rs landlockRuleset) restrictSelf() error {
	attr := rulesetAttr{handledFS: handledFS(rs.ABI)}
	size := unsafe.Sizeof(attr.handledFS)
	if rs.ABI >= 6 {
		// A run can neither signal nor reach the abstract sockets of
		// processes outside it (the server, other runs).
		attr.scoped = llScopeUnix | llScopeSig
		size = unsafe.Sizeof(attr)
	}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, r := range rs.Rules {
		f, err := unix.Open(r.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("landlock: open %s: %w", r.Path, err)
		}
		rights := r.Rights & attr.handledFS
		var st unix.Stat_t
		if unix.Fstat(f, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			rights &= llFileRights
		}
		pb := unix.LandlockPathBeneathAttr{Allowed_access: rights, Parent_fd: int32(f)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH,
			uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
		unix.Close(f)
		if errno != 0 {
			return fmt.Errorf("landlock: allow %s: %w", r.Path, errno)
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return nil
}

// systemReads are the parts of the system a run's programs read and
// execute: the interpreters, libraries and tools, and /proc and /sys
// (where a run sees other processes only as far as Landlock's ptrace rule
// allows: not at all outside the run).
var systemReads = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys"}

// etcReads are the files under /etc a run's programs read (the loader's
// cache, time zone, user and group names for ls, name service settings).
// The rest of /etc (shadow, keys, credentials) is not readable, though
// its directories can be listed: the subprocess scenario lists /etc.
var etcReads = []string{"ld.so.cache", "ld.so.preload", "localtime", "timezone", "passwd", "group",
	"nsswitch.conf", "hosts", "host.conf", "resolv.conf", "gai.conf", "services", "protocols",
	"mime.types", "os-release", "locale.alias"}

// devices a run may open: reading and writing the harmless ones.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}

// runRuleset is the file-system view of one run: the system read-only,
// the program's executable and its scripts read-only, its private
// directory and /dev/shm (POSIX semaphores of multiprocessing) writable;
// nothing else, and never anything under hidden (the store's directory).
func runRuleset(abi int, prog programSpec, private string, hidden []string) landlockRuleset {
	rs := landlockRuleset{ABI: abi}
	add := func(path string, rights uint64) {
		if path == "" || !filepath.IsAbs(path) {
			return
		}
		// Rules hold on the real hierarchy: /lib may be a link to /usr/lib.
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return // missing: nothing to grant
		}
		rs.Rules = append(rs.Rules, allowExcept(real, rights, hidden)...)
	}
	for _, p := range systemReads {
		add(p, llRead)
	}
	add("/etc", llReadDir)
	for _, f := range etcReads {
		add(filepath.Join("/etc", f), llReadFile)
	}
	add("/dev", llReadDir)
	for _, d := range devices {
		add(d, llReadFile|llWriteFile|llIoctlDev)
	}
	add("/dev/shm", llWrite)
	// The program, and for an interpreter its standard library
	// (prefix/lib, prefix being the parent of the executable's directory).
	if exe, err := filepath.EvalSymlinks(prog.Path); err == nil {
		add(exe, llExecute|llReadFile)
		prefix := filepath.Dir(filepath.Dir(exe))
		add(filepath.Join(prefix, "lib"), llRead)
		add(filepath.Join(prefix, "lib64"), llRead)
	}
	// Scripts named on the command line, with what lies beside them (the
	// harness next to a scenario's script).
	for _, a := range prog.Args {
		if !filepath.IsAbs(a) {
			continue
		}
		if st, err := os.Stat(a); err == nil && st.Mode().IsRegular() {
			add(filepath.Dir(a), llRead)
		}
	}
	if prog.Dir != "" {
		add(prog.Dir, llRead)
	}
	add(private, llWrite)
	return rs
}

// allowExcept grants rights beneath path, except beneath each of hidden:
// where a hidden directory lies inside path, the grant is split into one
// for every sibling along the way down to it (Landlock only grants, so a
// hole is made by granting around it). Entries created later beside the
// hidden directory's ancestors are not granted.
func allowExcept(path string, rights uint64, hidden []string) []fsRule {
	for _, h := range hidden {
		if h == "" {
			continue
		}
		h = filepath.Clean(h)
		if h == path || strings.HasPrefix(path, h+string(filepath.Separator)) {
			return nil // path is the hidden directory, or inside it
		}
		if !strings.HasPrefix(h, path+string(filepath.Separator)) && path != "/" {
			continue
		}
		// h is inside path: grant path's entries except the one that
		// leads to h, and recurse into that one.
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil
		}
		// The entry that leads to h is split again by the call below.
		var out []fsRule
		for _, e := range entries {
			out = append(out, allowExcept(filepath.Join(path, e.Name()), rights, hidden)...)
		}
		return out
	}
	return []fsRule{{Path: path, Rights: rights}}
}
