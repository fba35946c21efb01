package addr

import (
	"net/netip"
	"testing"
)

func TestPrefix(t *testing.T) {
	cases := []struct {
		addr string
		bits int
		want string
	}{
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56"},
		{"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"2001:db8:1:2:3:4:5:6", 200, "2001:db8:1:2:3:4:5:6/128"},
		{"2001:db8:1:2:3:4:5:6", 0, "::/0"},
		{"2001:db8:1:2:3:4:5:6", -5, "::/0"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"192.0.2.77", 24, "192.0.2.0/24"},
		{"192.0.2.77", 32, "192.0.2.77/32"},
		{"192.0.2.77", 48, "192.0.2.77/32"},
		{"192.0.2.77", 64, "192.0.2.77/32"},
		{"192.0.2.77", -1, "0.0.0.0/0"},
		{"::ffff:192.0.2.77", 64, "::/64"},
		{"::ffff:192.0.2.77", 120, "::ffff:192.0.2.0/120"},
	}
	for _, tc := range cases {
		got := Prefix(netip.MustParseAddr(tc.addr), tc.bits)
		if want := netip.MustParsePrefix(tc.want); got != want {
			t.Errorf("Prefix(%s, %d) = %v, want %v", tc.addr, tc.bits, got, want)
		}
	}
	if p := Prefix(netip.Addr{}, 64); p.IsValid() {
		t.Errorf("Prefix(zero, 64) = %v, want the zero Prefix", p)
	}
}

func TestPrefix64And48(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff")
	if got, want := Prefix64(a), netip.MustParsePrefix("2001:db8:aaaa:bbbb::/64"); got != want {
		t.Errorf("Prefix64 = %v, want %v", got, want)
	}
	if got, want := Prefix48(a), netip.MustParsePrefix("2001:db8:aaaa::/48"); got != want {
		t.Errorf("Prefix48 = %v, want %v", got, want)
	}
	v4 := netip.MustParseAddr("198.51.100.9")
	if got, want := Prefix64(v4), netip.MustParsePrefix("198.51.100.9/32"); got != want {
		t.Errorf("Prefix64(IPv4) = %v, want %v", got, want)
	}
	if got, want := Prefix48(v4), netip.MustParsePrefix("198.51.100.9/32"); got != want {
		t.Errorf("Prefix48(IPv4) = %v, want %v", got, want)
	}
	if Prefix64(netip.Addr{}).IsValid() || Prefix48(netip.Addr{}).IsValid() {
		t.Error("zero Addr gave a valid prefix")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = Prefix64(a) }); allocs != 0 {
		t.Errorf("Prefix64: %v allocs", allocs)
	}
}
