package addr_test

import (
	"fmt"
	"net/netip"

	"github.com/mxsensor/mxsensor/internal/addr"
)

func ExampleClassify() {
	for _, s := range []string{
		"2002:c000:21e::c000:21e",              // self-addressed 6to4
		"2001:0:c633:6407:8000:3caf:34ff:8ef6", // Teredo
		"2001:db8::192:0:2:1",                  // IPv4 in decimal groups
		"fe80::211:22ff:fe33:4455",             // EUI-64
	} {
		info := addr.Classify(netip.MustParseAddr(s))
		fmt.Println(s, info.Kind)
		if mac := info.MAC(); mac != nil {
			fmt.Println("  MAC", mac)
		}
		for _, e := range info.Embedded {
			fmt.Printf("  %v %s %.2f\n", e.IPv4, e.How, e.Confidence)
		}
	}
	// Output:
	// 2002:c000:21e::c000:21e 6to4
	//   192.0.2.30 6to4-gateway 0.99
	// 2001:0:c633:6407:8000:3caf:34ff:8ef6 teredo
	//   203.0.113.9 teredo-client 0.90
	//   198.51.100.7 teredo-server 0.20
	// 2001:db8::192:0:2:1 embedded-ipv4
	//   192.0.2.1 low32-decimal 0.60
	// fe80::211:22ff:fe33:4455 eui64
	//   MAC 00:11:22:33:44:55
}

func ExamplePlausibleIPv4() {
	doc := netip.MustParseAddr("192.0.2.1")
	fmt.Println(addr.PlausiblePublicIPv4(doc), addr.PlausibleIPv4(doc, true))
	// Output: false true
}

func ExamplePrefix64() {
	fmt.Println(addr.Prefix64(netip.MustParseAddr("2001:db8:1:2:3c4d:15f:a2b1:9e07")))
	fmt.Println(addr.Prefix48(netip.MustParseAddr("2001:db8:1:2:3c4d:15f:a2b1:9e07")))
	// Output:
	// 2001:db8:1:2::/64
	// 2001:db8:1::/48
}
