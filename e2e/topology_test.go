//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// The test domain and its DNSBL zone.
const (
	domain   = "example.test"
	mxName   = "mx1." + domain    // MX 10, A only: the production MTA
	sensName = "sensor." + domain // MX 20, A + AAAA: the sensor
	blZone   = "bl." + domain     // served by rbldnsd, behind dnsmasq

	// The relay test's second domain: its MX 10 is a host with nothing on
	// port 25 (the dns host: its kernel answers a SYN with a RST), so a
	// sending MTA falls back to MX 20, the sensor (A + AAAA).
	fbDomain   = "fallback.test"
	fbDeadName = "dead." + fbDomain   // MX 10, A only: refuses at once
	fbSensName = "sensor." + fbDomain // MX 20, A + AAAA: the sensor
)

// workPattern names the work directories in os.TempDir().
const workPattern = "mxsensor-e2e-"

// netlabPrefix names the namespaces and veths (<prefix><4 random>-<host>).
const netlabPrefix = "mxe2e"

// Every host sits on one bridged segment: 10.25.0.0/24, and the sensor in
// 2001:db8:25::/64 (documentation range). Each sender's IPv6 address is in
// a /64 of its own (as at separate sites: a spammer's /64 must not taint
// its neighbours), 2001:db8:1xx::/64 or 6to4 2002::/16, routed on-link.
var (
	lan4      = netip.MustParsePrefix("10.25.0.0/24")
	lan6      = netip.MustParsePrefix("2001:db8:25::/64")
	dnsV4     = netip.MustParseAddr("10.25.0.53")
	mxV4      = netip.MustParseAddr("10.25.0.10")
	sensorV4  = netip.MustParseAddr("10.25.0.20")
	sensorV6  = netip.MustParseAddr("2001:db8:25::20")
	senders6  = netip.MustParsePrefix("2001:db8::/32")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// sender is one mail-sending host.
type sender struct {
	name      string     // host name in the lab (namespace suffix)
	ptr       string     // forward-confirmed reverse name (A/AAAA + PTR)
	v4        netip.Addr // on lan4
	v6        netip.Addr // native on lan6, or 6to4 embedding v4
	sixToFour bool       // v6 is a self-addressed 6to4 address
	listed    bool       // v4 is in the DNSBL: a spammer
	windows   bool       // its SYNs to the sensor are Windows-like raw frames
	relay     string     // a Postfix relay: its smtp_address_preference ("ipv6" or "ipv4")
	asn       int        // origin ASN in the Team Cymru TXT records
}

// senders: (a) a listed spammer with native IPv6, (b) a legitimate
// dual-stack sender, (c) a listed spammer whose only IPv6 is 6to4, (d) a
// listed spammer whose SYNs to the sensor are Windows-like (raw frames).
var senders = []sender{
	{name: "spam", ptr: "spam.senders.test", v4: netip.MustParseAddr("10.25.0.101"),
		v6: netip.MustParseAddr("2001:db8:101::5eed:101"), listed: true, asn: 64501},
	{name: "legit", ptr: "legit.senders.test", v4: netip.MustParseAddr("10.25.0.102"),
		v6: netip.MustParseAddr("2001:db8:102::600d:102"), asn: 64502},
	{name: "sp6", ptr: "sp6.senders.test", v4: netip.MustParseAddr("10.25.0.103"),
		v6: netip.MustParseAddr("2002:a19:67::a19:67"), sixToFour: true, listed: true, asn: 64503},
	{name: "win", ptr: "win.senders.test", v4: netip.MustParseAddr("10.25.0.104"),
		v6: netip.MustParseAddr("2001:db8:104::b0c:104"), listed: true, windows: true, asn: 64504},
}

// relays: two dual-stack Postfix instances (TestE2ERelay) that deliver to
// fallback.test, whose MX 10 refuses, so they fall back to the sensor and
// try its addresses in their smtp_address_preference order. The one that
// prefers IPv6 (rly6) is listed (and rejected by mx1 first); the other is not.
var relays = []sender{
	{name: "rly6", ptr: "rly6.senders.test", v4: netip.MustParseAddr("10.25.0.111"),
		v6: netip.MustParseAddr("2001:db8:111::6:111"), listed: true, relay: "ipv6", asn: 64511},
	{name: "rly4", ptr: "rly4.senders.test", v4: netip.MustParseAddr("10.25.0.112"),
		v6: netip.MustParseAddr("2001:db8:112::4:112"), relay: "ipv4", asn: 64512},
}

// v4First reports whether s tries the sensor's IPv4 address before its IPv6
// one: RFC 6724 puts IPv4 before a 6to4 source's native destination, and a
// relay with smtp_address_preference = ipv4 does so by configuration.
func (s sender) v4First() bool { return s.sixToFour || s.relay == "ipv4" }

// topology is the lab: every host joined to a bridge in the sw namespace.
type topology struct {
	lab                 *netlab.Lab
	sw, dns, mx, sensor *netlab.Host
	senders             map[string]*netlab.Host
}

// buildTopology creates the namespaces, veths and the bridge; t.Cleanup
// removes them (netlab also kills every process left in them).
func buildTopology(t *testing.T, ss []sender) *topology {
	t.Helper()
	lab, err := netlab.New(netlabPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
	})
	tp := &topology{lab: lab, senders: map[string]*netlab.Host{}}
	add := func(name string) *netlab.Host {
		h, err := lab.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	tp.sw = add("sw")
	var ports []string
	join := func(h *netlab.Host, addrs ...netip.Prefix) {
		port := "to-" + h.Name
		if _, err := lab.Link(h, tp.sw, netlab.LinkConfig{AName: "eth0", BName: port, AAddrs: addrs}); err != nil {
			t.Fatal(err)
		}
		ports = append(ports, port)
	}
	tp.dns = add("dns")
	join(tp.dns, pfx(dnsV4, lan4))
	tp.mx = add("mx1")
	join(tp.mx, pfx(mxV4, lan4))
	tp.sensor = add("sens")
	join(tp.sensor, pfx(sensorV4, lan4), pfx(sensorV6, lan6))
	// The sensor reaches the senders' /64s on-link (neighbour discovery).
	for _, p := range []netip.Prefix{senders6, sixToFour} {
		if err := onLinkRoute(tp.sensor, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range ss {
		h := add(s.name)
		tp.senders[s.name] = h
		join(h, pfx(s.v4, lan4), netip.PrefixFrom(s.v6, 64))
		if err := onLinkRoute(h, lan6); err != nil {
			t.Fatal(err)
		}
	}
	if err := bridge(tp.sw, ports); err != nil {
		t.Fatal(err)
	}
	return tp
}

func pfx(a netip.Addr, net netip.Prefix) netip.Prefix { return netip.PrefixFrom(a, net.Bits()) }

// onLinkRoute routes dst out of h's eth0 without a gateway.
func onLinkRoute(h *netlab.Host, dst netip.Prefix) error {
	idx, err := h.LinkIndex("eth0")
	if err != nil {
		return err
	}
	ipn := &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}
	if err := h.Handle().RouteAdd(&netlink.Route{LinkIndex: idx, Dst: ipn, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("route %v on %s: %w", dst, h.Name, err)
	}
	return nil
}

// bridge enslaves ports to a new bridge br0 in h (no multicast snooping, so
// neighbour discovery floods as on a hub).
func bridge(h *netlab.Host, ports []string) error {
	nh := h.Handle()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "br0"
	off := false
	if err := nh.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &off}); err != nil {
		return fmt.Errorf("create bridge: %w", err)
	}
	br, err := nh.LinkByName("br0")
	if err != nil {
		return err
	}
	for _, p := range ports {
		l, err := nh.LinkByName(p)
		if err != nil {
			return err
		}
		if err := nh.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s: %w", p, err)
		}
	}
	return nh.LinkSetUp(br)
}

// useResolver points the namespace's /etc/resolv.conf at the dns host:
// `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over it. t.Cleanup
// removes what it created.
func useResolver(t *testing.T, h *netlab.Host) {
	t.Helper()
	const base = "/etc/netns"
	_, err := os.Stat(base)
	createdBase := errors.Is(err, os.ErrNotExist)
	dir := filepath.Join(base, h.NsName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
		if createdBase {
			os.Remove(base) // only if empty: another lab may use it
		}
	})
	conf := fmt.Sprintf("nameserver %s\noptions timeout:2 attempts:2\n", dnsV4)
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeLeftovers removes what a killed earlier run left behind (t.Cleanup
// does not run when the test binary is killed): namespaces and veths named
// netlabPrefix* with their processes (Postfix included), their
// /etc/netns entries, and old work directories (bpffs unmounted first). Only one
// e2e run may use the machine at a time.
func removeLeftovers(t *testing.T) {
	t.Helper()
	if err := netlab.Cleanup(netlabPrefix); err != nil {
		t.Logf("removing leftover namespaces: %v", err)
	}
	old, _ := filepath.Glob(filepath.Join("/etc/netns", netlabPrefix+"*"))
	for _, d := range old {
		os.RemoveAll(d)
	}
	if len(old) > 0 {
		os.Remove("/etc/netns") // only if empty
	}
	works, _ := filepath.Glob(filepath.Join(os.TempDir(), workPattern+"*"))
	for _, w := range works {
		// Unmount first: RemoveAll must not descend into a live bpffs.
		if err := unix.Unmount(filepath.Join(w, "bpffs"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) &&
			!errors.Is(err, unix.ENOENT) {
			t.Logf("unmounting %s/bpffs: %v", w, err)
			continue
		}
		os.RemoveAll(w)
	}
	if len(old)+len(works) > 0 {
		t.Logf("removed leftovers of an earlier run: %v %v", old, works)
	}
}
