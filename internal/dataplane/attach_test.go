package dataplane

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// In native mode on a veth whose peer has no XDP program, the RSTs handed
// to XDP_TX never leave: rst_sent counts them, the veth counts them as TX
// drops, and Attach warns about it.
func TestAttachNativeVethWarns(t *testing.T) {
	netlab.RequireRoot(t)
	lab, err := netlab.New("mxat")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })
	sensor, client := mustHost(t, lab, "s"), mustHost(t, lab, "c")
	v, err := lab.Link(sensor, client, netlab.LinkConfig{
		AAddrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")},
		BAddrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/24")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RateLimit = 0
	objs, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	core, logs := observer.New(zap.WarnLevel)
	var att *Attachment
	if err := sensor.Do(func() error {
		att, err = Attach(objs.Program(), v.AName, AttachNative, zap.New(core))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sensor.Do(att.Detach) })
	if w := logs.FilterMessageSnippet("veth").All(); len(w) != 1 || !strings.Contains(w[0].Message, "XDP program") {
		t.Errorf("warnings: %+v", logs.All())
	}

	// A SYN from the peer: answered (rst_sent), but the RST is dropped.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go client.Do(func() error { //nolint:errcheck
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", "192.0.2.1:25")
		if err == nil {
			c.Close()
		}
		return err
	})
	var c Counters
	for deadline := time.Now().Add(10 * time.Second); c[CntRSTSent] == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, _, err = ReadCounters(objs.CountersMap()); err != nil {
			t.Fatal(err)
		}
	}
	if c[CntRSTSent] == 0 {
		t.Fatal("the SYN was not answered")
	}
	var stats *netlink.LinkStatistics
	if err := sensor.Do(func() error {
		l, err := netlink.LinkByName(v.AName)
		if err == nil {
			stats = l.Attrs().Statistics
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if stats == nil || stats.TxDropped == 0 {
		t.Errorf("rst_sent %d but the veth counts no TX drop: %+v", c[CntRSTSent], stats)
	}
}

func mustHost(t *testing.T, lab *netlab.Lab, name string) *netlab.Host {
	t.Helper()
	h, err := lab.AddHost(name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
