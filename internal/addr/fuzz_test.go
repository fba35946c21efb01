package addr

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		if tc.addr == "" {
			continue
		}
		a := netip.MustParseAddr(tc.addr)
		b := a.As16()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b [16]byte
		copy(b[:], data)
		a := netip.AddrFrom16(b)

		info := Classify(a)
		checkInvariants(t, info)
		if info.Kind == KindInvalid || info.Kind == KindIPv4 {
			t.Fatalf("16-byte address %v classified %v", a, info.Kind)
		}
		if info.Addr != a {
			t.Fatalf("Addr = %v, want %v", info.Addr, a)
		}
		if mac, ok := info.EUI64MAC(); ok {
			if b[11] != 0xff || b[12] != 0xfe {
				t.Fatalf("%v: MAC %x without ff:fe", a, mac)
			}
			if mac[0] != b[8]^0x02 || mac[5] != b[15] {
				t.Fatalf("%v: MAC %x", a, mac)
			}
		}
		if info.Kind == Kind6to4 {
			if binary.BigEndian.Uint16(b[:2]) != 0x2002 || info.SixToFour != netip.AddrFrom4([4]byte(b[2:6])) {
				t.Fatalf("%v: 6to4 gateway %v", a, info.SixToFour)
			}
		}

		// Reusing an Info that held another address gives the same result.
		var reused Info
		ClassifyInto(netip.MustParseAddr("2001:0:c633:6407:8000:3caf:34ff:8ef6"), &reused)
		ClassifyInto(a, &reused)
		if reused.Kind != info.Kind || !slices.Equal(reused.Embedded, info.Embedded) ||
			reused.SixToFour != info.SixToFour || reused.TeredoClient != info.TeredoClient ||
			reused.TeredoServer != info.TeredoServer || reused.TeredoPort != info.TeredoPort ||
			reused.TeredoFlags != info.TeredoFlags || reused.MAC().String() != info.MAC().String() {
			t.Fatalf("%v: reused %+v, fresh %+v", a, reused, info)
		}

		// The first four bytes as a plain IPv4 address.
		v4 := netip.AddrFrom4([4]byte(b[:4]))
		if i4 := Classify(v4); i4.Kind != KindIPv4 || len(i4.Embedded) != 0 {
			t.Fatalf("%v: %+v", v4, i4)
		}

		// Prefixes contain the address and are masked.
		for _, bits := range []int{0, 32, 48, 64, 96, 128} {
			p := Prefix(a, bits)
			if !p.Contains(a) || p != p.Masked() || p.Bits() != bits {
				t.Fatalf("Prefix(%v, %d) = %v", a, bits, p)
			}
		}
	})
}
