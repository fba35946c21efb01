package addr

import (
	"net/netip"
	"slices"
	"testing"
)

// emb is a compact expected Embedded entry.
type emb struct {
	ip   string
	how  string
	conf float64
}

type classifyCase struct {
	name string
	addr string // "" means the zero Addr
	kind Kind
	emb  []emb // in the expected order

	sixToFour    string
	teredoServer string
	teredoClient string
	teredoPort   uint16
	teredoFlags  uint16
	mac          string
}

var classifyCases = []classifyCase{
	{name: "zero Addr", addr: "", kind: KindInvalid},
	{name: "plain IPv4", addr: "192.0.2.1", kind: KindIPv4},
	{name: "plain IPv4 public", addr: "8.8.8.8", kind: KindIPv4},

	// ::ffff:0:0/96
	{name: "mapped first", addr: "::ffff:0:0", kind: KindIPv4Mapped,
		emb: []emb{{"0.0.0.0", HowMapped, 0.05}}},
	{name: "mapped doc", addr: "::ffff:192.0.2.1", kind: KindIPv4Mapped,
		emb: []emb{{"192.0.2.1", HowMapped, 0.95}}},
	{name: "mapped hex form", addr: "::ffff:808:808", kind: KindIPv4Mapped,
		emb: []emb{{"8.8.8.8", HowMapped, 0.95}}},
	{name: "mapped private", addr: "::ffff:10.1.2.3", kind: KindIPv4Mapped,
		emb: []emb{{"10.1.2.3", HowMapped, 0.05}}},
	{name: "mapped last", addr: "::ffff:ffff:ffff", kind: KindIPv4Mapped,
		emb: []emb{{"255.255.255.255", HowMapped, 0.05}}},
	{name: "below mapped", addr: "::fffe:ffff:ffff", kind: KindOther},
	{name: "above mapped", addr: "::1:0:0:0", kind: KindOther},

	// ::/96 minus :: and ::1
	{name: "unspecified", addr: "::", kind: KindOther},
	{name: "loopback", addr: "::1", kind: KindLowByte},
	{name: "compatible first", addr: "::2", kind: KindIPv4Compatible,
		emb: []emb{{"0.0.0.2", HowCompatible, 0.05}}},
	{name: "compatible doc", addr: "::192.0.2.1", kind: KindIPv4Compatible,
		emb: []emb{{"192.0.2.1", HowCompatible, 0.95}}},
	{name: "compatible last", addr: "::ffff:ffff", kind: KindIPv4Compatible,
		emb: []emb{{"255.255.255.255", HowCompatible, 0.05}}},
	{name: "above compatible", addr: "::1:0:0", kind: KindOther},

	// 64:ff9b::/96 and 64:ff9b:1::/48
	{name: "nat64 first", addr: "64:ff9b::", kind: KindNAT64,
		emb: []emb{{"0.0.0.0", HowNAT64, 0.05}}},
	{name: "nat64 doc", addr: "64:ff9b::192.0.2.33", kind: KindNAT64,
		emb: []emb{{"192.0.2.33", HowNAT64, 0.95}}},
	{name: "nat64 last", addr: "64:ff9b::ffff:ffff", kind: KindNAT64,
		emb: []emb{{"255.255.255.255", HowNAT64, 0.05}}},
	{name: "above nat64", addr: "64:ff9b::1:0:0", kind: KindOther},
	{name: "below nat64", addr: "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", kind: KindOther},
	{name: "between nat64 prefixes", addr: "64:ff9b:0:ffff::c000:201", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.7}}},
	{name: "nat64 local first", addr: "64:ff9b:1::", kind: KindNAT64,
		emb: []emb{{"0.0.0.0", HowNAT64, 0.05}}},
	{name: "nat64 local", addr: "64:ff9b:1:2::198.51.100.7", kind: KindNAT64,
		emb: []emb{{"198.51.100.7", HowNAT64, 0.85}}},
	{name: "nat64 local last", addr: "64:ff9b:1:ffff:ffff:ffff:c633:6407", kind: KindNAT64,
		emb: []emb{{"198.51.100.7", HowNAT64, 0.85}}},
	{name: "above nat64 local", addr: "64:ff9b:2::", kind: KindOther},

	// 2001::/32
	{name: "teredo", addr: "2001:0:c633:6407:8000:3caf:34ff:8ef6", kind: KindTeredo,
		emb: []emb{
			{"203.0.113.9", HowTeredoClient, 0.9},
			{"198.51.100.7", HowTeredoServer, 0.2},
		},
		teredoServer: "198.51.100.7", teredoClient: "203.0.113.9",
		teredoPort: 50000, teredoFlags: 0x8000},
	{name: "teredo public", addr: "2001:0:4136:e378:8000:63bf:f7f7:f7f7", kind: KindTeredo,
		emb: []emb{
			{"8.8.8.8", HowTeredoClient, 0.9},
			{"65.54.227.120", HowTeredoServer, 0.2},
		},
		teredoServer: "65.54.227.120", teredoClient: "8.8.8.8",
		teredoPort: 40000, teredoFlags: 0x8000},
	{name: "teredo first", addr: "2001::", kind: KindTeredo,
		emb: []emb{
			{"255.255.255.255", HowTeredoClient, 0.05},
			{"0.0.0.0", HowTeredoServer, 0.05},
		},
		teredoServer: "0.0.0.0", teredoClient: "255.255.255.255",
		teredoPort: 0xffff},
	{name: "teredo last", addr: "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", kind: KindTeredo,
		emb: []emb{
			{"0.0.0.0", HowTeredoClient, 0.05},
			{"255.255.255.255", HowTeredoServer, 0.05},
		},
		teredoServer: "255.255.255.255", teredoClient: "0.0.0.0",
		teredoFlags: 0xffff},
	{name: "teredo client is server", addr: "2001:0:c000:201::3fff:fdfe", kind: KindTeredo,
		emb:          []emb{{"192.0.2.1", HowTeredoClient, 0.9}},
		teredoServer: "192.0.2.1", teredoClient: "192.0.2.1", teredoPort: 0xffff},
	{name: "teredo EUI-64-like bits ignored", addr: "2001:0:c633:6407:211:22ff:fe33:4455", kind: KindTeredo,
		emb: []emb{
			{"1.204.187.170", HowTeredoClient, 0.9},
			{"198.51.100.7", HowTeredoServer, 0.2},
		},
		teredoServer: "198.51.100.7", teredoClient: "1.204.187.170",
		teredoPort: 0xdd00, teredoFlags: 0x0211},
	{name: "below teredo", addr: "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kind: KindOther},
	{name: "above teredo", addr: "2001:1::", kind: KindOther},
	{name: "above teredo with IID", addr: "2001:1::c000:201", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.7}}},

	// 2002::/16
	{name: "6to4 self-addressed", addr: "2002:c000:21e::c000:21e", kind: Kind6to4,
		emb:       []emb{{"192.0.2.30", How6to4Gateway, 0.99}},
		sixToFour: "192.0.2.30"},
	{name: "6to4 low-byte IID", addr: "2002:c000:21e::1", kind: Kind6to4,
		emb:       []emb{{"192.0.2.30", How6to4Gateway, 0.95}},
		sixToFour: "192.0.2.30"},
	{name: "6to4 public self-addressed", addr: "2002:808:808:1::808:808", kind: Kind6to4,
		emb:       []emb{{"8.8.8.8", How6to4Gateway, 0.99}},
		sixToFour: "8.8.8.8"},
	{name: "6to4 other IID IPv4", addr: "2002:c000:21e::c633:6407", kind: Kind6to4,
		emb: []emb{
			{"192.0.2.30", How6to4Gateway, 0.95},
			{"198.51.100.7", How6to4IID, 0.7},
		},
		sixToFour: "192.0.2.30"},
	{name: "6to4 other IID IPv4 not sparse", addr: "2002:c000:21e:1:0:1:c633:6407", kind: Kind6to4,
		emb: []emb{
			{"192.0.2.30", How6to4Gateway, 0.95},
			{"198.51.100.7", How6to4IID, 0.5},
		},
		sixToFour: "192.0.2.30"},
	{name: "6to4 EUI-64", addr: "2002:c000:21e:1:211:22ff:fe33:4455", kind: Kind6to4,
		emb:       []emb{{"192.0.2.30", How6to4Gateway, 0.95}},
		sixToFour: "192.0.2.30", mac: "00:11:22:33:44:55"},
	{name: "6to4 ISATAP", addr: "2002:c000:21e::5efe:cb00:7109", kind: Kind6to4,
		emb: []emb{
			{"192.0.2.30", How6to4Gateway, 0.95},
			{"203.0.113.9", HowISATAP, 0.8},
		},
		sixToFour: "192.0.2.30"},
	{name: "6to4 ISATAP same as gateway", addr: "2002:c000:21e::5efe:c000:21e", kind: Kind6to4,
		emb:       []emb{{"192.0.2.30", How6to4Gateway, 0.95}},
		sixToFour: "192.0.2.30"},
	{name: "6to4 private gateway, ISATAP wins dedup", addr: "2002:a00:1::5efe:a00:1", kind: Kind6to4,
		emb:       []emb{{"10.0.0.1", HowISATAP, 0.15}},
		sixToFour: "10.0.0.1"},
	{name: "6to4 decimal IID", addr: "2002:c000:21e:0:12:34:56:78", kind: Kind6to4,
		emb: []emb{
			{"192.0.2.30", How6to4Gateway, 0.95},
			{"12.34.56.78", HowLow32Decimal, 0.6},
		},
		sixToFour: "192.0.2.30"},
	{name: "6to4 private gateway", addr: "2002:a00:1::a00:1", kind: Kind6to4,
		emb:       []emb{{"10.0.0.1", How6to4Gateway, 0.05}},
		sixToFour: "10.0.0.1"},
	{name: "6to4 random IID", addr: "2002:c000:21e:0:3c4d:15f:a2b1:9e07", kind: Kind6to4,
		emb:       []emb{{"192.0.2.30", How6to4Gateway, 0.95}},
		sixToFour: "192.0.2.30"},
	{name: "6to4 first", addr: "2002::", kind: Kind6to4,
		emb:       []emb{{"0.0.0.0", How6to4Gateway, 0.05}},
		sixToFour: "0.0.0.0"},
	{name: "6to4 last", addr: "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kind: Kind6to4,
		emb:       []emb{{"255.255.255.255", How6to4Gateway, 0.05}},
		sixToFour: "255.255.255.255"},
	{name: "below 6to4", addr: "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kind: KindOther},
	{name: "above 6to4", addr: "2003::", kind: KindOther},
	{name: "above 6to4 same IID", addr: "2003:c000:21e::c000:21e", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.30", HowLow32Hex, 0.7}}},

	// ISATAP
	{name: "isatap local", addr: "fe80::5efe:192.0.2.1", kind: KindISATAP,
		emb: []emb{{"192.0.2.1", HowISATAP, 0.8}}},
	{name: "isatap explicit zero group", addr: "2001:db8::0:5efe:c000:201", kind: KindISATAP,
		emb: []emb{{"192.0.2.1", HowISATAP, 0.8}}},
	{name: "isatap universal", addr: "2001:db8::200:5efe:203.0.113.9", kind: KindISATAP,
		emb: []emb{{"203.0.113.9", HowISATAP, 0.8}}},
	{name: "isatap group bit", addr: "2001:db8::100:5efe:c000:201", kind: KindISATAP,
		emb: []emb{{"192.0.2.1", HowISATAP, 0.8}}},
	{name: "isatap universal group", addr: "2001:db8::300:5efe:c000:201", kind: KindISATAP,
		emb: []emb{{"192.0.2.1", HowISATAP, 0.8}}},
	{name: "isatap private", addr: "fe80::5efe:10.0.0.1", kind: KindISATAP,
		emb: []emb{{"10.0.0.1", HowISATAP, 0.15}}},
	{name: "isatap cgnat", addr: "fe80::5efe:100.64.0.1", kind: KindISATAP,
		emb: []emb{{"100.64.0.1", HowISATAP, 0.15}}},
	{name: "isatap loopback", addr: "fe80::200:5efe:127.0.0.1", kind: KindISATAP,
		emb: []emb{{"127.0.0.1", HowISATAP, 0.05}}},
	{name: "not isatap: other first group", addr: "2001:db8::400:5efe:c000:201", kind: KindOther},
	{name: "not isatap: 5eff", addr: "2001:db8::5eff:c000:201", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.5}}},

	// EUI-64
	{name: "eui64 link-local", addr: "fe80::211:22ff:fe33:4455", kind: KindEUI64,
		mac: "00:11:22:33:44:55"},
	{name: "eui64 global", addr: "2001:db8:1:2:a8bb:ccff:fedd:eeff", kind: KindEUI64,
		mac: "aa:bb:cc:dd:ee:ff"},
	{name: "eui64 locally administered MAC", addr: "2001:db8::11:22ff:fe33:4455", kind: KindEUI64,
		mac: "02:11:22:33:44:55"},
	{name: "eui64 zoned", addr: "fe80::211:22ff:fe33:4455%eth0", kind: KindEUI64,
		mac: "00:11:22:33:44:55"},
	{name: "not eui64: ffff", addr: "2001:db8::211:22ff:ff33:4455", kind: KindOther},
	{name: "not eui64: fefe", addr: "2001:db8::211:22fe:fe33:4455", kind: KindOther},
	{name: "not eui64: fffe shifted", addr: "2001:db8::211:fffe:33:4455", kind: KindOther},

	// Embedded IPv4
	{name: "low32 hex", addr: "2001:db8::c000:201", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.7}}},
	{name: "low32 dotted", addr: "2001:db8::192.0.2.1", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.7}}},
	{name: "low32 hex not sparse", addr: "2001:db8::1:c000:201", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Hex, 0.5}}},
	{name: "low32 hex behind random group", addr: "2001:db8::1234:0:c000:201", kind: KindOther},
	{name: "low32 hex private dropped", addr: "2001:db8::a00:1", kind: KindOther},
	{name: "low32 hex reserved dropped", addr: "2001:db8::f000:1", kind: KindOther},
	{name: "decimal", addr: "2001:db8::192:0:2:1", kind: KindEmbeddedIPv4,
		emb: []emb{{"192.0.2.1", HowLow32Decimal, 0.6}}},
	{name: "decimal public", addr: "2001:db8:1:2:11:20:130:140", kind: KindEmbeddedIPv4,
		emb: []emb{{"11.20.130.140", HowLow32Decimal, 0.6}}},
	{name: "decimal 255", addr: "2001:db8::198:51:100:255", kind: KindEmbeddedIPv4,
		emb: []emb{{"198.51.100.255", HowLow32Decimal, 0.6}}},
	{name: "decimal group above 255", addr: "2001:db8::192:0:2:256", kind: KindOther},
	{name: "decimal first group above 255", addr: "2001:db8::300:0:2:1", kind: KindOther},
	{name: "decimal four digits", addr: "2001:db8::1192:0:2:1", kind: KindOther},
	{name: "decimal hex digit", addr: "2001:db8::19a:0:2:1", kind: KindOther},
	{name: "decimal single digits", addr: "2001:db8::1:2:3:4", kind: KindOther},
	{name: "decimal one two-digit group", addr: "2001:db8::9:10:0:1", kind: KindEmbeddedIPv4,
		emb: []emb{{"9.10.0.1", HowLow32Decimal, 0.6}}},
	{name: "decimal private dropped", addr: "2001:db8::192:168:1:1", kind: KindOther},

	// Low-byte, other
	{name: "low-byte 1", addr: "2001:db8::1", kind: KindLowByte},
	{name: "low-byte 25", addr: "2001:db8::25", kind: KindLowByte},
	{name: "low-byte a", addr: "2001:db8:1:2::a", kind: KindLowByte},
	{name: "low-byte ffff", addr: "2001:db8::ffff", kind: KindLowByte},
	{name: "not low-byte", addr: "2001:db8::1:0", kind: KindOther},
	{name: "subnet anycast", addr: "2001:db8::", kind: KindOther},
	{name: "random", addr: "2001:db8:1:2:3c4d:15f:a2b1:9e07", kind: KindOther},
	{name: "random link-local", addr: "fe80::8c3a:91ff:4e12:7bd0", kind: KindOther},
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("ParseAddr(%q): %v", s, err)
	}
	return a
}

func optAddr(t testing.TB, s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return mustAddr(t, s)
}

func TestClassify(t *testing.T) {
	var reused Info
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustAddr(t, tc.addr)
			info := Classify(a)
			checkInfo(t, tc, a, info)

			ClassifyInto(a, &reused)
			checkInfo(t, tc, a, reused)
		})
	}
}

func checkInfo(t *testing.T, tc classifyCase, a netip.Addr, info Info) {
	t.Helper()
	if info.Addr != a {
		t.Errorf("Addr = %v, want %v", info.Addr, a)
	}
	if info.Kind != tc.kind {
		t.Errorf("Kind = %v, want %v", info.Kind, tc.kind)
	}
	if got, want := info.SixToFour, optAddr(t, tc.sixToFour); got != want {
		t.Errorf("SixToFour = %v, want %v", got, want)
	}
	if got, want := info.TeredoServer, optAddr(t, tc.teredoServer); got != want {
		t.Errorf("TeredoServer = %v, want %v", got, want)
	}
	if got, want := info.TeredoClient, optAddr(t, tc.teredoClient); got != want {
		t.Errorf("TeredoClient = %v, want %v", got, want)
	}
	if info.TeredoPort != tc.teredoPort || info.TeredoFlags != tc.teredoFlags {
		t.Errorf("Teredo port/flags = %d/%#04x, want %d/%#04x",
			info.TeredoPort, info.TeredoFlags, tc.teredoPort, tc.teredoFlags)
	}
	mac := info.MAC()
	if got := mac.String(); got != tc.mac {
		t.Errorf("MAC = %q, want %q", got, tc.mac)
	}
	if arr, ok := info.EUI64MAC(); ok != (tc.mac != "") || (ok && !slices.Equal(arr[:], mac)) {
		t.Errorf("EUI64MAC = %v, %v; MAC() = %v", arr, ok, mac)
	}
	var want []Embedded
	for _, e := range tc.emb {
		want = append(want, Embedded{IPv4: mustAddr(t, e.ip), How: e.how, Confidence: e.conf})
	}
	if !slices.Equal(info.Embedded, want) {
		t.Errorf("Embedded = %v\n      want %v", info.Embedded, want)
	}
	best, ok := info.Best()
	if ok != (len(want) > 0) || (ok && best != want[0]) {
		t.Errorf("Best = %v, %v", best, ok)
	}
	checkInvariants(t, info)
}

// checkInvariants checks the properties every Info must have.
func checkInvariants(t *testing.T, info Info) {
	t.Helper()
	if info.Kind >= numKinds {
		t.Fatalf("Kind %d out of range", info.Kind)
	}
	if len(info.Embedded) > maxEmbedded {
		t.Errorf("%d embedded addresses, more than maxEmbedded", len(info.Embedded))
	}
	for i, e := range info.Embedded {
		if !e.IPv4.Is4() {
			t.Errorf("Embedded[%d] = %v is not IPv4", i, e.IPv4)
		}
		if !(e.Confidence > 0 && e.Confidence <= 1) {
			t.Errorf("Embedded[%d] confidence %v out of (0, 1]", i, e.Confidence)
		}
		if e.How == "" {
			t.Errorf("Embedded[%d] has no How", i)
		}
		if i > 0 && e.Confidence > info.Embedded[i-1].Confidence {
			t.Errorf("Embedded not sorted: %v", info.Embedded)
		}
		for _, f := range info.Embedded[:i] {
			if f.IPv4 == e.IPv4 {
				t.Errorf("Embedded has %v twice: %v", e.IPv4, info.Embedded)
			}
		}
	}
	if (info.Kind == Kind6to4) != info.SixToFour.IsValid() {
		t.Errorf("Kind %v with SixToFour %v", info.Kind, info.SixToFour)
	}
	if (info.Kind == KindTeredo) != info.TeredoServer.IsValid() ||
		(info.Kind == KindTeredo) != info.TeredoClient.IsValid() {
		t.Errorf("Kind %v with Teredo server %v client %v", info.Kind, info.TeredoServer, info.TeredoClient)
	}
	if info.Kind == KindEUI64 {
		if _, ok := info.EUI64MAC(); !ok {
			t.Errorf("eui64 without MAC")
		}
	}
	if _, ok := info.EUI64MAC(); ok && info.Kind != KindEUI64 && info.Kind != Kind6to4 {
		t.Errorf("MAC set for Kind %v", info.Kind)
	}
	heuristic := false
	for _, e := range info.Embedded {
		if e.How == HowLow32Hex || e.How == HowLow32Decimal {
			heuristic = true
		}
	}
	if info.Kind != Kind6to4 && heuristic != (info.Kind == KindEmbeddedIPv4) {
		t.Errorf("Kind %v with embedded %v", info.Kind, info.Embedded)
	}
	if (info.Kind == KindIPv4 || info.Kind == KindInvalid || info.Kind == KindEUI64 ||
		info.Kind == KindLowByte || info.Kind == KindOther) && len(info.Embedded) > 0 {
		t.Errorf("Kind %v with embedded %v", info.Kind, info.Embedded)
	}
}

func TestClassifyOverwrites(t *testing.T) {
	// A reused Info must not keep anything from the previous address.
	var info Info
	ClassifyInto(mustAddr(t, "2001:0:c633:6407:8000:3caf:34ff:8ef6"), &info)
	ClassifyInto(mustAddr(t, "2002:c000:21e:1:211:22ff:fe33:4455"), &info)
	ClassifyInto(mustAddr(t, "2001:db8::1"), &info)
	if info.Kind != KindLowByte || len(info.Embedded) != 0 || info.SixToFour.IsValid() ||
		info.TeredoClient.IsValid() || info.TeredoServer.IsValid() || info.TeredoPort != 0 ||
		info.TeredoFlags != 0 || info.MAC() != nil {
		t.Errorf("stale fields after reuse: %+v", info)
	}
}

func TestClassifyRanking(t *testing.T) {
	// Structural readings outrank heuristic ones, which outrank implausible
	// structural ones; equal confidences keep their discovery order.
	cases := []struct {
		addr string
		hows []string
	}{
		{"2002:c000:21e:0:12:34:56:78", []string{How6to4Gateway, HowLow32Decimal}},
		{"2002:c000:21e::5efe:cb00:7109", []string{How6to4Gateway, HowISATAP}},
		{"2002:c000:21e:1:0:1:c633:6407", []string{How6to4Gateway, How6to4IID}},
		{"2002:a00:1::c633:6407", []string{How6to4IID, How6to4Gateway}},
		{"2002:a00:1:0:11:20:130:140", []string{HowLow32Decimal, How6to4Gateway}},
		{"2001:0:c633:6407:8000:3caf:34ff:8ef6", []string{HowTeredoClient, HowTeredoServer}},
		{"2001:0:a00:1:8000:3caf:34ff:8ef6", []string{HowTeredoClient, HowTeredoServer}},
		{"2001:0:c633:6407:8000:3caf:f5ff:fffe", []string{HowTeredoServer, HowTeredoClient}},
	}
	for _, tc := range cases {
		info := Classify(mustAddr(t, tc.addr))
		var hows []string
		for _, e := range info.Embedded {
			hows = append(hows, e.How)
		}
		if !slices.Equal(hows, tc.hows) {
			t.Errorf("%s: order %v, want %v (%v)", tc.addr, hows, tc.hows, info.Embedded)
		}
		checkInvariants(t, info)
	}
}

func TestAddDedup(t *testing.T) {
	var info Info
	info.add(0xc0000201, HowLow32Hex, 0.5)
	info.add(0xc0000202, HowLow32Decimal, 0.6)
	info.add(0xc0000201, HowISATAP, 0.8)       // better: replaces How
	info.add(0xc0000202, HowTeredoServer, 0.2) // worse: ignored
	info.add(0xc0000202, HowTeredoServer, 0.6) // equal: first kept
	info.sort()
	want := []Embedded{
		{mustAddr(t, "192.0.2.1"), HowISATAP, 0.8},
		{mustAddr(t, "192.0.2.2"), HowLow32Decimal, 0.6},
	}
	if !slices.Equal(info.Embedded, want) {
		t.Errorf("Embedded = %v, want %v", info.Embedded, want)
	}
}

func TestDecimalGroups(t *testing.T) {
	cases := []struct {
		iid uint64
		v   uint32
		ok  bool
	}{
		{0x0192_0000_0002_0001, 0xc0000201, true},
		{0x0255_0255_0255_0255, 0xffffffff, true},
		{0x0000_0000_0000_0010, 0x0000000a, true},
		{0x0009_0099_0199_0200, 0x0963c7c8, true},
		{0x0000_0000_0000_0000, 0, false},
		{0x0001_0002_0003_0004, 0, false},
		{0x0009_0009_0009_0009, 0, false},
		{0x0256_0000_0000_0000, 0, false},
		{0x0000_0000_0000_0260, 0, false},
		{0x0300_0000_0000_0000, 0, false},
		{0x1000_0000_0000_0000, 0, false},
		{0x000a_0000_0000_0000, 0, false},
		{0x0000_00a0_0000_0000, 0, false},
		{0x0000_0000_0000_ffff, 0, false},
	}
	for _, tc := range cases {
		v, ok := decimalGroups(tc.iid)
		if v != tc.v || ok != tc.ok {
			t.Errorf("decimalGroups(%#016x) = %#08x, %v; want %#08x, %v", tc.iid, v, ok, tc.v, tc.ok)
		}
	}
}

func TestClassifyIntoZeroAllocs(t *testing.T) {
	for _, s := range []string{
		"2002:c000:21e::c000:21e",              // 6to4
		"2001:db8:1:2:3c4d:15f:a2b1:9e07",      // random
		"2001:0:c633:6407:8000:3caf:34ff:8ef6", // teredo
		"fe80::211:22ff:fe33:4455",             // EUI-64
		"2001:db8::192:0:2:1",                  // decimal
		"192.0.2.1",                            // IPv4
	} {
		a := mustAddr(t, s)
		var info Info
		allocs := testing.AllocsPerRun(200, func() { ClassifyInto(a, &info) })
		if allocs != 0 {
			t.Errorf("ClassifyInto(%s): %v allocs per run, want 0", s, allocs)
		}
	}
	// Classify itself does not allocate when nothing is embedded.
	random := mustAddr(t, "2001:db8:1:2:3c4d:15f:a2b1:9e07")
	if allocs := testing.AllocsPerRun(200, func() { _ = Classify(random) }); allocs != 0 {
		t.Errorf("Classify(random): %v allocs per run, want 0", allocs)
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{
		Kind6to4: "6to4", KindTeredo: "teredo", KindISATAP: "isatap",
		KindIPv4Mapped: "ipv4-mapped", KindIPv4Compatible: "ipv4-compatible",
		KindNAT64: "nat64", KindEUI64: "eui64", KindEmbeddedIPv4: "embedded-ipv4",
		KindLowByte: "low-byte", KindOther: "other", KindIPv4: "ipv4",
		KindInvalid: "invalid",
	}
	if len(want) != int(numKinds) || len(Kinds()) != int(numKinds) {
		t.Fatalf("%d kinds named, %d defined", len(want), numKinds)
	}
	for _, k := range Kinds() {
		if k.String() != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want[k])
		}
		text, err := k.MarshalText()
		if err != nil || string(text) != want[k] {
			t.Errorf("MarshalText(%v) = %q, %v", k, text, err)
		}
		var back Kind
		if err := back.UnmarshalText(text); err != nil || back != k {
			t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
		}
	}
	if s := Kind(200).String(); s != "Kind(200)" {
		t.Errorf("Kind(200).String() = %q", s)
	}
	if _, err := Kind(200).MarshalText(); err == nil {
		t.Error("MarshalText(Kind(200)) succeeded")
	}
	if _, err := ParseKind("bogus"); err == nil {
		t.Error(`ParseKind("bogus") succeeded`)
	}
}
