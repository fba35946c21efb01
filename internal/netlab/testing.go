//go:build linux

package netlab

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
)

var (
	probeOnce   sync.Once
	probeReason string
)

// RequireRoot skips the test, saying why, unless the process can build a
// lab: it must run as root and be able to create a network namespace with a
// veth pair in it. With the environment variable CI=true the test fails
// (t.Fatalf) instead of being skipped, so CI cannot silently lose coverage.
// The probe runs once per process and leaves nothing behind.
func RequireRoot(t testing.TB) {
	t.Helper()
	probeOnce.Do(func() { probeReason = probe() })
	if probeReason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("netlab: %s (CI=true: failing instead of skipping)", probeReason)
	}
	t.Skipf("netlab: skipping: %s", probeReason)
}

// probe returns why labs cannot be built here, or "" if they can.
func probe() string {
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Sprintf("needs root for network namespaces and veth (running as euid %d)", euid)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Sprintf("no network namespace support (/proc/self/ns/net: %v)", err)
	}
	// An anonymous namespace: it disappears when the thread switches back
	// and the handle is closed, taking the probe veth with it.
	err := inNewNS(func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "probe0"
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "probe1", PeerTxQLen: -1}); err != nil {
			return fmt.Errorf("create veth: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Sprintf("cannot create a network namespace with a veth pair: %v", err)
	}
	return ""
}
