//go:build linux

package agent

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/netlab"
)

// TestAgentLive runs the real agent on a veth pair in the test's own
// namespaces: it starts, records the SYNs of a client's connects (refused
// by the sensor's RST), stops, and leaves the interface without a program
// and no pins behind.
func TestAgentLive(t *testing.T) {
	netlab.RequireRoot(t)
	lab, err := netlab.New("mxag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	sens, err := lab.AddHost("sens")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := lab.AddHost("cli")
	if err != nil {
		t.Fatal(err)
	}
	s4, c4 := netip.MustParseAddr("10.78.0.1"), netip.MustParseAddr("10.78.0.2")
	if _, err := lab.Link(sens, cli, netlab.LinkConfig{AName: "eth0", BName: "eth0",
		AAddrs: []netip.Prefix{netip.PrefixFrom(s4, 24)}, BAddrs: []netip.Prefix{netip.PrefixFrom(c4, 24)}}); err != nil {
		t.Fatal(err)
	}
	pins := t.TempDir()
	if err := unix.Mount("bpf", pins, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(pins, unix.MNT_DETACH) })

	cfg := testConfig(t)
	cfg.Enrich.Out = "" // no resolver in the lab
	cfg.Sensor.XDPMode = dataplane.AttachGeneric
	cfg.Sensor.PinRoot = pins
	cfg.Sensor.FlushInterval = 20 * time.Millisecond
	a, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// Attached inside the sensor's namespace; the drain needs none.
	if err := sens.Do(a.Start); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = a.Stop()
		}
	})
	if ok, why := a.Sensor().Healthy(); !ok {
		t.Fatalf("not healthy after Start: %s", why)
	}
	const n = 3
	if err := cli.Do(func() error {
		for range n {
			d := net.Dialer{Timeout: 3 * time.Second}
			conn, err := d.Dial("tcp", netip.AddrPortFrom(s4, 25).String())
			if err == nil {
				conn.Close()
				return errors.New("connect succeeded")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	// Each connect's SYN, drained at the latest at stop.
	events, err := os.ReadFile(cfg.Events)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(events, []byte("\n")); got < n {
		t.Errorf("%d events recorded, want at least %d:\n%s", got, n, events)
	}
	if s := a.Sensor().Stats(); s.Events < n || s.SinkErrors != 0 {
		t.Errorf("sensor stats %+v", s)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutDir, "attempts.jsonl")); err != nil {
		t.Errorf("no attempts file: %v", err)
	}
	if ok, _ := a.Sensor().Healthy(); ok {
		t.Error("healthy after Stop")
	}
	if err := sens.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			return errors.New("XDP program still attached after Stop")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(pins, "eth0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pins left behind: %v", err)
	}
}
