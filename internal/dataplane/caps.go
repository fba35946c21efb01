package dataplane

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attachCaps are the capabilities only loading, attaching and pinning need:
// once done, the agent reads the ring (mmap), the maps (bpf(2) on file
// descriptors it holds) and detaches (closing the link, unlinking its pin)
// without them.
var attachCaps = []uint{unix.CAP_BPF, unix.CAP_NET_ADMIN, unix.CAP_PERFMON}

// ErrCapsNeeded is wrapped by DropAttachCapabilities when this process
// cannot work without the capabilities; it keeps them.
var ErrCapsNeeded = errors.New("capabilities still needed")

// capSets are a thread's capability sets (version 3: two words each).
type capSets struct {
	hdr  unix.CapUserHeader
	data [2]unix.CapUserData
}

func getCaps() (*capSets, error) {
	c := &capSets{hdr: unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}}
	if err := unix.Capget(&c.hdr, &c.data[0]); err != nil {
		return nil, fmt.Errorf("capget: %w", err)
	}
	return c, nil
}

func (c *capSets) has(cap uint) bool { return c.data[cap/32].Effective&(1<<(cap%32)) != 0 }

// without returns c with caps removed from the effective, permitted and
// inheritable sets (the kernel then clears them from the ambient set).
func (c *capSets) without(caps []uint, effectiveOnly bool) *capSets {
	n := *c
	for _, cp := range caps {
		bit := uint32(1) << (cp % 32)
		n.data[cp/32].Effective &^= bit
		if !effectiveOnly {
			n.data[cp/32].Permitted &^= bit
			n.data[cp/32].Inheritable &^= bit
		}
	}
	return &n
}

// held reports whether any of the attach capabilities is effective.
func (c *capSets) held() bool {
	for _, cp := range attachCaps {
		if c.has(cp) {
			return true
		}
	}
	return false
}

// DropAttachCapabilities gives up CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON on
// every thread of the process (capabilities are per thread on Linux, and Go
// runs many): effective, permitted, inheritable and ambient, and the
// bounding set where CAP_SETPCAP allows. It first checks, on one thread,
// that the maps stay readable without them (mapsReadable: Linux before 6.5
// with unprivileged BPF disabled refuses every bpf(2) command to a process
// without CAP_BPF); if not, it keeps them and returns an error wrapping
// ErrCapsNeeded. It reports whether it dropped anything.
func DropAttachCapabilities(mapsReadable func() error) (bool, error) {
	c, err := getCaps()
	if err != nil {
		return false, err
	}
	if !c.held() {
		return false, nil
	}
	if mapsReadable != nil {
		if err := probeWithout(c, mapsReadable); err != nil {
			return false, fmt.Errorf("%w: the maps cannot be read without CAP_BPF on this kernel (%w)", ErrCapsNeeded, err)
		}
	}
	if c.has(unix.CAP_SETPCAP) {
		for _, cp := range attachCaps {
			if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(cp), 0); err != nil {
				return false, fmt.Errorf("dropping capability %d from the bounding set: %w", cp, err)
			}
		}
	}
	n := c.without(attachCaps, false)
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&n.hdr)), uintptr(unsafe.Pointer(&n.data[0])), 0); err != nil {
		return false, fmt.Errorf("capset: %w", err)
	}
	return true, nil
}

// allThreads makes a system call on every thread of the process.
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	switch e {
	case 0:
		return nil
	case unix.ENOTSUP:
		// AllThreadsSyscall refuses in a cgo build: threads made by C
		// would keep them.
		return fmt.Errorf("%w: a cgo build cannot drop them on every thread", ErrCapsNeeded)
	}
	return e
}

// probeWithout runs fn on a thread of its own with the attach capabilities
// out of the effective set only, then raises them again. A thread that
// could not raise them is left to exit with its goroutine.
func probeWithout(c *capSets, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		lowered := c.without(attachCaps, true)
		if err := unix.Capset(&lowered.hdr, &lowered.data[0]); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("capset: %w", err)
			return
		}
		err := fn()
		restore := *c
		if rerr := unix.Capset(&restore.hdr, &restore.data[0]); rerr != nil {
			done <- errors.Join(err, fmt.Errorf("capset: %w", rerr))
			return // still locked: the runtime ends this thread
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}
