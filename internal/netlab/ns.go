//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// runDir is where named network namespaces are bind-mounted, the same place
// iproute2 uses, so that `ip netns exec` and `ip -n` find them.
const runDir = "/run/netns"

// killTimeout bounds how long Close and Cleanup wait for processes inside a
// namespace to die after SIGKILL.
const killTimeout = 5 * time.Second

// onThread runs fn on a fresh goroutine locked to an OS thread after enter
// has switched that thread into some network namespace. Afterwards the
// thread is switched back to the namespace it was in before enter. If that
// fails the thread is left locked, so the runtime throws it away when the
// goroutine ends instead of reusing a thread in the wrong namespace.
//
// The calling goroutine's thread is never touched. A panic in fn is
// re-raised on the calling goroutine.
func onThread(enter, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("netlab: open current netns: %w", err)}
			return
		}
		var res result
		finished := false
		defer func() {
			if !finished {
				// fn panicked or called runtime.Goexit.
				if r := recover(); r != nil {
					res.panicked, res.value = true, r
				} else {
					res.err = errors.Join(res.err, errors.New("netlab: function exited via runtime.Goexit (FailNow/SkipNow outside the test goroutine?)"))
				}
			}
			if err := restoreNS(orig); err != nil {
				// Deliberately no UnlockOSThread: the thread must die.
				res.err = errors.Join(res.err, fmt.Errorf("netlab: restore thread netns (thread discarded): %w", err))
			} else {
				runtime.UnlockOSThread()
			}
			orig.Close()
			done <- res
		}()
		if err := enter(); err != nil {
			res.err = err
			finished = true
			return
		}
		res.err = fn()
		finished = true
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// restoreNS switches the calling thread back to orig unless it is already
// there (e.g. because entering failed; setns back needs CAP_SYS_ADMIN too).
func restoreNS(orig netns.NsHandle) error {
	if cur, err := netns.Get(); err == nil {
		same := cur.Equal(orig)
		cur.Close()
		if same {
			return nil
		}
	}
	return netns.Set(orig)
}

// inNS runs fn on a thread switched into ns (see onThread).
func inNS(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("netlab: setns: %w", err)
		}
		return nil
	}, fn)
}

// inNewNS runs fn on a thread switched into a brand-new network namespace.
// The namespace dies with the last reference to it unless fn keeps one.
func inNewNS(fn func() error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("netlab: unshare(CLONE_NEWNET): %w", err)
		}
		return nil
	}, fn)
}

var runDirMu sync.Mutex
var runDirReady bool

// ensureRunDir creates /run/netns and makes it a shared mount point, as
// `ip netns add` does. Being shared matters for processes started with
// `ip netns exec`: they live in their own mount namespace (a slave copy),
// and the unmounts done by Close then propagate into it instead of the
// copy pinning the network namespace.
func ensureRunDir() error {
	runDirMu.Lock()
	defer runDirMu.Unlock()
	if runDirReady {
		return nil
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("netlab: create %s: %w", runDir, err)
	}
	// Serialise with other processes doing the same, so two of them do not
	// both bind-mount the directory onto itself.
	dir, err := unix.Open(runDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netlab: open %s: %w", runDir, err)
	}
	defer unix.Close(dir)
	if err := unix.Flock(dir, unix.LOCK_EX); err != nil {
		return fmt.Errorf("netlab: lock %s: %w", runDir, err)
	}
	defer unix.Flock(dir, unix.LOCK_UN)
	err = unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: bind it onto itself first.
		if err := unix.Mount(runDir, runDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("netlab: bind-mount %s onto itself: %w", runDir, err)
		}
		err = unix.Mount("", runDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("netlab: make %s a shared mount: %w", runDir, err)
	}
	runDirReady = true
	return nil
}

// createNamedNS creates a new network namespace, bind-mounts it at
// /run/netns/<name> and returns an open handle to it. On error nothing is
// left behind.
func createNamedNS(name string) (ns netns.NsHandle, err error) {
	if err := ensureRunDir(); err != nil {
		return netns.None(), err
	}
	path := filepath.Join(runDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("netlab: create %s: %w", path, err)
	}
	f.Close()

	ns = netns.None()
	mounted := false
	err = inNewNS(func() error {
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netlab: bind-mount netns at %s: %w", path, err)
		}
		mounted = true
		h, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("netlab: open %s: %w", path, err)
		}
		ns = h
		return nil
	})
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		var errs []error
		errs = append(errs, err)
		if mounted {
			if uerr := unix.Unmount(path, unix.MNT_DETACH); uerr != nil {
				errs = append(errs, fmt.Errorf("netlab: unmount %s: %w", path, uerr))
			}
		}
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			errs = append(errs, rerr)
		}
		return netns.None(), errors.Join(errs...)
	}
	return ns, nil
}

// removeNamedNS unmounts and removes /run/netns/<name>. Missing or
// not-mounted entries are not errors.
func removeNamedNS(name string) error {
	path := filepath.Join(runDir, name)
	var errs []error
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("netlab: unmount %s: %w", path, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("netlab: remove %s: %w", path, err))
	}
	return errors.Join(errs...)
}

// nsID identifies a namespace by the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func nsIDOf(ns netns.NsHandle) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

// pidsIn lists the processes (other than this one) whose network namespace
// is id. Zombies have no namespace any more and are not listed.
func pidsIn(id nsID) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue
		}
		if st.Dev == id.dev && st.Ino == id.ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killProcsIn SIGKILLs every process in the namespace and waits (bounded)
// until none is left.
func killProcsIn(ns netns.NsHandle, label string) error {
	id, err := nsIDOf(ns)
	if err != nil {
		return fmt.Errorf("netlab: stat netns %s: %w", label, err)
	}
	deadline := time.Now().Add(killTimeout)
	for {
		pids := pidsIn(id)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: processes %v still running in netns %s after SIGKILL", pids, label)
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dupNS duplicates a namespace handle so it can be used while the original
// may be closed concurrently.
func dupNS(ns netns.NsHandle) (netns.NsHandle, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return netns.None(), err
	}
	return netns.NsHandle(fd), nil
}
