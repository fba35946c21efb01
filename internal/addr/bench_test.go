package addr

import (
	"net/netip"
	"testing"
)

var benchAddrs = []struct {
	name string
	addr string
}{
	{"6to4", "2002:c000:21e::c000:21e"},
	{"teredo", "2001:0:c633:6407:8000:3caf:34ff:8ef6"},
	{"isatap", "fe80::200:5efe:cb00:7109"},
	{"eui64", "2001:db8:1:2:211:22ff:fe33:4455"},
	{"embedded", "2001:db8::c000:201"},
	{"decimal", "2001:db8::192:0:2:1"},
	{"lowbyte", "2001:db8::25"},
	{"random", "2001:db8:1:2:3c4d:15f:a2b1:9e07"},
	{"ipv4", "192.0.2.1"},
}

func BenchmarkClassifyInto(b *testing.B) {
	for _, ba := range benchAddrs {
		a := netip.MustParseAddr(ba.addr)
		b.Run(ba.name, func(b *testing.B) {
			var info Info
			b.ReportAllocs()
			for b.Loop() {
				ClassifyInto(a, &info)
			}
		})
	}
	addrs := make([]netip.Addr, len(benchAddrs))
	for i, ba := range benchAddrs {
		addrs[i] = netip.MustParseAddr(ba.addr)
	}
	b.Run("mix", func(b *testing.B) {
		var info Info
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ClassifyInto(addrs[i], &info)
			i++
			if i == len(addrs) {
				i = 0
			}
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	a := netip.MustParseAddr("2002:c000:21e::c000:21e")
	b.ReportAllocs()
	for b.Loop() {
		_ = Classify(a)
	}
}

func BenchmarkPlausiblePublicIPv4(b *testing.B) {
	a := netip.MustParseAddr("198.51.100.7")
	for b.Loop() {
		_ = PlausiblePublicIPv4(a)
	}
}

func BenchmarkPrefix64(b *testing.B) {
	a := netip.MustParseAddr("2001:db8:1:2:3c4d:15f:a2b1:9e07")
	for b.Loop() {
		_ = Prefix64(a)
	}
}
