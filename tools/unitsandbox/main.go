// Command unitsandbox runs a command under the restrictions a systemd unit
// would apply, for tests on machines where systemd is not PID 1 (CI
// containers): a private mount namespace with the file system read-only
// except the given paths, a private /dev, a /proc showing only processes
// (and only one's own), a private host name, a umask, no writable
// executable memory and a seccomp allow-list of system calls and socket
// families. Then it executes the command:
//
//	unitsandbox -read-only -rw /var/lib/x -umask 0027 -- setpriv ... unitsandbox -syscalls read,write,... -- agent run
//
// The namespaces need root; the filter, the umask and -mdwe do not (the
// filter needs no_new_privs then), so a second unitsandbox after setpriv
// filters only the service, as systemd does. It knows the x86-64 system
// call table only.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The x86-64 system call table, as the kernel headers (linux-libc-dev) give it.
const unistdHeader = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

const auditArchX8664 = 0xc000003e

// x32 system calls have this bit set; SystemCallArchitectures=native refuses them.
const x32Bit = 0x40000000

type options struct {
	syscalls    []string
	errno       int
	families    []string
	umask       int
	mdwe        bool
	readOnly    bool
	rw          []string
	procInvis   bool
	privateDevs bool
	privateUTS  bool
	command     []string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "unitsandbox:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("unitsandbox", flag.ContinueOnError)
	syscallsList := fs.String("syscalls", "", "comma-separated system calls allowed (SystemCallFilter=); empty = no filter")
	fs.IntVar(&o.errno, "errno", int(unix.EPERM), "errno of a refused system call (SystemCallErrorNumber=)")
	familiesList := fs.String("families", "", "comma-separated socket families allowed: unix, inet, inet6, netlink (RestrictAddressFamilies=)")
	umask := fs.String("umask", "", "octal umask (UMask=)")
	fs.BoolVar(&o.mdwe, "mdwe", false, "refuse writable executable memory (MemoryDenyWriteExecute=)")
	fs.BoolVar(&o.readOnly, "read-only", false, "the whole file system read-only but the -rw paths (ProtectSystem=strict, ProtectKernelTunables=)")
	rw := fs.String("rw", "", "comma-separated paths left writable (ReadWritePaths=)")
	fs.BoolVar(&o.procInvis, "proc-invisible", false, "a /proc with other users' processes hidden (ProtectProc=invisible)")
	fs.BoolVar(&o.privateDevs, "private-devices", false, "a /dev of the pseudo devices only (PrivateDevices=)")
	fs.BoolVar(&o.privateUTS, "private-uts", false, "a private host name (ProtectHostname=)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.command = fs.Args()
	if len(o.command) == 0 {
		return errors.New("no command")
	}
	o.syscalls = splitList(*syscallsList)
	o.families = splitList(*familiesList)
	o.rw = splitList(*rw)
	if *umask != "" {
		m, err := strconv.ParseUint(*umask, 8, 32)
		if err != nil {
			return fmt.Errorf("-umask: %w", err)
		}
		o.umask = int(m)
	} else {
		o.umask = -1
	}
	return sandbox(o)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// sandbox applies o on this thread (namespaces and the filter are
// per-thread until the exec) and executes the command.
func sandbox(o options) error {
	runtime.LockOSThread()
	path, err := exec.LookPath(o.command[0])
	if err != nil {
		return err
	}
	var filter []unix.SockFilter
	if len(o.syscalls) > 0 {
		table, err := readSyscallTable(unistdHeader)
		if err != nil {
			return err
		}
		if filter, err = buildFilter(table, o.syscalls, o.families, o.errno); err != nil {
			return err
		}
	}
	if o.privateDevs || o.procInvis || o.readOnly || o.privateUTS {
		if err := unshare(o.privateUTS); err != nil {
			return err
		}
	}
	if o.privateDevs {
		if err := privateDev(); err != nil {
			return err
		}
	}
	if o.procInvis {
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "hidepid=invisible"); err != nil {
			return fmt.Errorf("mounting /proc: %w", err)
		}
	}
	if o.readOnly {
		if err := readOnlyBut(o.rw); err != nil {
			return err
		}
	}
	if o.umask >= 0 {
		unix.Umask(o.umask)
	}
	if o.mdwe {
		// PR_SET_MDWE (Linux 6.3): kept across fork and execve, as systemd uses it.
		if err := unix.Prctl(unix.PR_SET_MDWE, unix.PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0); err != nil {
			return fmt.Errorf("PR_SET_MDWE: %w", err)
		}
	}
	if filter != nil {
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
			return fmt.Errorf("installing the seccomp filter: %w", err)
		}
	}
	return syscall.Exec(path, o.command, os.Environ())
}

// unshare makes this thread's mount namespace (and host name) private.
func unshare(uts bool) error {
	flags := unix.CLONE_NEWNS
	if uts {
		flags |= unix.CLONE_NEWUTS
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	return nil
}

// privateDev replaces /dev by a tmpfs holding the pseudo devices systemd's
// PrivateDevices= keeps.
func privateDev() error {
	tmp, err := os.MkdirTemp("", "unitsandbox-dev-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("mounting the private /dev: %w", err)
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		f, err := os.Create(filepath.Join(tmp, d))
		if err != nil {
			return err
		}
		f.Close()
		if err := unix.Mount("/dev/"+d, filepath.Join(tmp, d), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", d, err)
		}
	}
	if err := unix.Mount(tmp, "/dev", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the private /dev: %w", err)
	}
	return nil
}

// readOnlyBut makes every mount read-only, then binds each of rw on itself
// writable again.
func readOnlyBut(rw []string) error {
	for _, p := range rw {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", p, err)
		}
	}
	ro := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, &ro); err != nil {
		return fmt.Errorf("making / read-only: %w", err)
	}
	for _, p := range rw {
		w := unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, &w); err != nil {
			return fmt.Errorf("making %s writable: %w", p, err)
		}
	}
	return nil
}

// readSyscallTable reads "#define __NR_name number" lines.
func readSyscallTable(path string) (map[string]uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the system call table: %w", err)
	}
	defer f.Close()
	table := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[0] != "#define" || !strings.HasPrefix(fields[1], "__NR_") {
			continue
		}
		n, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		table[strings.TrimPrefix(fields[1], "__NR_")] = uint32(n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(table) < 300 {
		return nil, fmt.Errorf("%s: only %d system calls", path, len(table))
	}
	return table, nil
}

var familyNumbers = map[string]uint32{"unix": unix.AF_UNIX, "inet": unix.AF_INET, "inet6": unix.AF_INET6, "netlink": unix.AF_NETLINK}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // the low 32 bits on a little-endian machine
)

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jeq(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

// buildFilter assembles the classic BPF program: other architectures and
// x32 calls are refused, socket(2) only for the families (when given), the
// named calls allowed, the rest refused with errno. Names this table does
// not know are skipped, as systemd does.
func buildFilter(table map[string]uint32, names, families []string, errno int) ([]unix.SockFilter, error) {
	allow := stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
	refuse := stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(errno&unix.SECCOMP_RET_DATA))
	p := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jeq(auditArchX8664, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr),
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 1, K: x32Bit},
		refuse,
	}
	if len(families) > 0 {
		// socket(2): the family check; other calls jump over it with the
		// number still in A.
		p = append(p, jeq(unix.SYS_SOCKET, 0, uint8(2*len(families)+2)),
			stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0))
		for _, f := range families {
			n, ok := familyNumbers[f]
			if !ok {
				return nil, fmt.Errorf("unknown socket family %q", f)
			}
			p = append(p, jeq(n, 0, 1), allow)
		}
		p = append(p, stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.EAFNOSUPPORT)))
	}
	seen := map[uint32]bool{}
	for _, name := range names {
		nr, ok := table[name]
		if !ok || seen[nr] || (len(families) > 0 && nr == unix.SYS_SOCKET) {
			continue
		}
		seen[nr] = true
		p = append(p, jeq(nr, 0, 1), allow)
	}
	p = append(p, refuse)
	if len(p) > 4096 {
		return nil, fmt.Errorf("seccomp filter of %d instructions (at most 4096)", len(p))
	}
	return p, nil
}
