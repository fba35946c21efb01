package addr

import (
	"net/netip"
	"testing"
)

// reservedBlocks is the list PlausiblePublicIPv4 documents, as an
// independent oracle; doc marks the documentation ranges.
var reservedBlocks = []struct {
	prefix string
	doc    bool
}{
	{"0.0.0.0/8", false},
	{"10.0.0.0/8", false},
	{"100.64.0.0/10", false},
	{"127.0.0.0/8", false},
	{"169.254.0.0/16", false},
	{"172.16.0.0/12", false},
	{"192.0.0.0/24", false},
	{"192.0.2.0/24", true},
	{"192.88.99.0/24", false},
	{"192.168.0.0/16", false},
	{"198.18.0.0/15", false},
	{"198.51.100.0/24", true},
	{"203.0.113.0/24", true},
	{"224.0.0.0/4", false},
	{"240.0.0.0/4", false},
}

// oraclePlausible answers PlausibleIPv4 from reservedBlocks.
func oraclePlausible(a netip.Addr, allowDoc bool) bool {
	if !a.Is4() {
		return false
	}
	for _, b := range reservedBlocks {
		if netip.MustParsePrefix(b.prefix).Contains(a) {
			return b.doc && allowDoc
		}
	}
	return true
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func TestPlausibleBoundaries(t *testing.T) {
	for _, b := range reservedBlocks {
		p := netip.MustParsePrefix(b.prefix)
		first := u32(p.Addr())
		last := first | (1<<(32-p.Bits()) - 1)
		points := []uint32{first, first + 1, last - 1, last}
		if first > 0 {
			points = append(points, first-1)
		}
		if last < 0xffffffff {
			points = append(points, last+1)
		}
		for _, v := range points {
			a := addr4(v)
			for _, allowDoc := range []bool{false, true} {
				want := oraclePlausible(a, allowDoc)
				if got := PlausibleIPv4(a, allowDoc); got != want {
					t.Errorf("%s: PlausibleIPv4(%v, %v) = %v, want %v", b.prefix, a, allowDoc, got, want)
				}
			}
			if got, want := PlausiblePublicIPv4(a), oraclePlausible(a, false); got != want {
				t.Errorf("%s: PlausiblePublicIPv4(%v) = %v, want %v", b.prefix, a, got, want)
			}
		}
	}
}

func TestPlausibleExplicit(t *testing.T) {
	cases := []struct {
		addr     string
		public   bool
		allowDoc bool
	}{
		{"0.0.0.0", false, false},
		{"0.255.255.255", false, false},
		{"1.0.0.0", true, true},
		{"8.8.8.8", true, true},
		{"9.255.255.255", true, true},
		{"10.0.0.0", false, false},
		{"10.255.255.255", false, false},
		{"11.0.0.0", true, true},
		{"100.63.255.255", true, true},
		{"100.64.0.0", false, false},
		{"100.127.255.255", false, false},
		{"100.128.0.0", true, true},
		{"126.255.255.255", true, true},
		{"127.0.0.1", false, false},
		{"128.0.0.0", true, true},
		{"169.253.255.255", true, true},
		{"169.254.1.1", false, false},
		{"169.255.0.0", true, true},
		{"172.15.255.255", true, true},
		{"172.16.0.0", false, false},
		{"172.31.255.255", false, false},
		{"172.32.0.0", true, true},
		{"191.255.255.255", true, true},
		{"192.0.0.0", false, false},
		{"192.0.0.255", false, false},
		{"192.0.1.0", true, true},
		{"192.0.2.0", false, true},
		{"192.0.2.255", false, true},
		{"192.0.3.0", true, true},
		{"192.88.98.255", true, true},
		{"192.88.99.1", false, false},
		{"192.88.100.0", true, true},
		{"192.167.255.255", true, true},
		{"192.168.0.0", false, false},
		{"192.168.255.255", false, false},
		{"192.169.0.0", true, true},
		{"198.17.255.255", true, true},
		{"198.18.0.0", false, false},
		{"198.19.255.255", false, false},
		{"198.20.0.0", true, true},
		{"198.51.99.255", true, true},
		{"198.51.100.0", false, true},
		{"198.51.100.255", false, true},
		{"198.51.101.0", true, true},
		{"203.0.112.255", true, true},
		{"203.0.113.0", false, true},
		{"203.0.113.255", false, true},
		{"203.0.114.0", true, true},
		{"223.255.255.255", true, true},
		{"224.0.0.0", false, false},
		{"239.255.255.255", false, false},
		{"240.0.0.0", false, false},
		{"255.255.255.255", false, false},
	}
	for _, tc := range cases {
		a := netip.MustParseAddr(tc.addr)
		if got := PlausiblePublicIPv4(a); got != tc.public {
			t.Errorf("PlausiblePublicIPv4(%s) = %v, want %v", a, got, tc.public)
		}
		if got := PlausibleIPv4(a, true); got != tc.allowDoc {
			t.Errorf("PlausibleIPv4(%s, true) = %v, want %v", a, got, tc.allowDoc)
		}
	}
}

func TestPlausibleNonIPv4(t *testing.T) {
	for _, a := range []netip.Addr{
		{},
		netip.MustParseAddr("::ffff:8.8.8.8"),
		netip.MustParseAddr("2001:4860:4860::8888"),
		netip.MustParseAddr("::8.8.8.8"),
	} {
		if PlausiblePublicIPv4(a) || PlausibleIPv4(a, true) {
			t.Errorf("%v counted as a plausible IPv4 address", a)
		}
	}
}

func TestPlausibleSweep(t *testing.T) {
	// Compare with the oracle on a coarse sweep of the whole space.
	for v := uint64(0); v <= 0xffffffff; v += 0x00012345 {
		a := addr4(uint32(v))
		for _, allowDoc := range []bool{false, true} {
			if got, want := PlausibleIPv4(a, allowDoc), oraclePlausible(a, allowDoc); got != want {
				t.Fatalf("PlausibleIPv4(%v, %v) = %v, want %v", a, allowDoc, got, want)
			}
		}
	}
}

func TestPrivate4(t *testing.T) {
	for s, want := range map[string]bool{
		"10.0.0.1": true, "172.16.0.1": true, "172.31.255.255": true, "192.168.1.1": true,
		"100.64.0.1": true, "100.127.255.255": true, "100.128.0.0": false,
		"172.32.0.0": false, "127.0.0.1": false, "192.0.2.1": false, "8.8.8.8": false,
	} {
		if got := private4(u32(netip.MustParseAddr(s))); got != want {
			t.Errorf("private4(%s) = %v, want %v", s, got, want)
		}
	}
}
