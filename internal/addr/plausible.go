package addr

import "net/netip"

// PlausiblePublicIPv4 reports whether a is an IPv4 address that may source
// traffic on the public Internet. It returns false for addresses that are
// not 4-byte IPv4 addresses (including 4-in-6 addresses; unmap them first)
// and for these special-purpose blocks:
//
//	0.0.0.0/8        "this network"
//	10.0.0.0/8       private (RFC 1918)
//	100.64.0.0/10    shared address space, carrier-grade NAT (RFC 6598)
//	127.0.0.0/8      loopback
//	169.254.0.0/16   link local
//	172.16.0.0/12    private (RFC 1918)
//	192.0.0.0/24     IETF protocol assignments
//	192.0.2.0/24     documentation (TEST-NET-1)
//	192.88.99.0/24   former 6to4 relay anycast
//	192.168.0.0/16   private (RFC 1918)
//	198.18.0.0/15    benchmarking
//	198.51.100.0/24  documentation (TEST-NET-2)
//	203.0.113.0/24   documentation (TEST-NET-3)
//	224.0.0.0/4      multicast
//	240.0.0.0/4      reserved, including 255.255.255.255
//
// Tests and examples use the documentation ranges; use PlausibleIPv4 with
// allowDocumentation set to accept them.
func PlausiblePublicIPv4(a netip.Addr) bool {
	return PlausibleIPv4(a, false)
}

// PlausibleIPv4 is PlausiblePublicIPv4, except that with allowDocumentation
// set the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and
// 203.0.113.0/24 count as plausible.
func PlausibleIPv4(a netip.Addr, allowDocumentation bool) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return plausible4(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]), allowDocumentation)
}

// plausible4 implements PlausibleIPv4 on an address held in a uint32.
func plausible4(v uint32, allowDoc bool) bool {
	switch v >> 24 {
	case 0, 10, 127:
		return false
	case 100:
		return v&0xffc00000 != 0x64400000 // 100.64.0.0/10
	case 169:
		return v>>16 != 0xa9fe // 169.254.0.0/16
	case 172:
		return v&0xfff00000 != 0xac100000 // 172.16.0.0/12
	case 192:
		switch {
		case v>>16 == 0xc0a8: // 192.168.0.0/16
			return false
		case v>>8 == 0xc00000: // 192.0.0.0/24
			return false
		case v>>8 == 0xc05863: // 192.88.99.0/24
			return false
		case v>>8 == 0xc00002: // 192.0.2.0/24
			return allowDoc
		}
	case 198:
		switch {
		case v&0xfffe0000 == 0xc6120000: // 198.18.0.0/15
			return false
		case v>>8 == 0xc63364: // 198.51.100.0/24
			return allowDoc
		}
	case 203:
		if v>>8 == 0xcb0071 { // 203.0.113.0/24
			return allowDoc
		}
	}
	return v < 0xe0000000 // 224.0.0.0/4 and 240.0.0.0/4
}

// private4 reports whether v is in a block used for private addressing behind
// NAT: RFC 1918 and the RFC 6598 shared address space.
func private4(v uint32) bool {
	return v>>24 == 10 ||
		v&0xfff00000 == 0xac100000 ||
		v>>16 == 0xc0a8 ||
		v&0xffc00000 == 0x64400000
}
