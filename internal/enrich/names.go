package enrich

import (
	"net/netip"
	"strconv"
)

const hexDigits = "0123456789abcdef"

// reverseLabels returns the labels of ip in reverse order, without a
// trailing dot: "7.2.0.192" for 192.0.2.7 and 32 nibbles, least
// significant first, for an IPv6 address. IPv4-mapped IPv6 addresses are
// treated as IPv4.
func reverseLabels(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		buf := make([]byte, 0, 15)
		for i := 3; i >= 0; i-- {
			buf = strconv.AppendUint(buf, uint64(b[i]), 10)
			if i > 0 {
				buf = append(buf, '.')
			}
		}
		return string(buf)
	}
	b := ip.As16()
	buf := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		buf = append(buf, hexDigits[b[i]&0x0f], '.', hexDigits[b[i]>>4])
		if i > 0 {
			buf = append(buf, '.')
		}
	}
	return string(buf)
}

// QueryName returns the fully qualified name under which ip is looked up in
// a zone in the RFC 5782 way (DNSBLs, Team Cymru origins):
// QueryName(192.0.2.7, "bl.example") is "7.2.0.192.bl.example.".
func QueryName(ip netip.Addr, zone string) string {
	return reverseLabels(ip) + "." + normZone(zone) + "."
}

// reverseName returns the in-addr.arpa or ip6.arpa name of ip.
func reverseName(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return reverseLabels(ip) + ".in-addr.arpa."
	}
	return reverseLabels(ip) + ".ip6.arpa."
}
