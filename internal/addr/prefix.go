package addr

import "net/netip"

// Prefix returns the prefix of length bits that contains a, with the host
// bits cleared and any zone dropped. bits is clamped to the address size: for
// an IPv4 address a length above 32 yields a /32, for IPv6 a length above 128
// yields a /128, and a negative length yields a /0. A 4-in-6 address is
// treated as IPv6. The zero Addr yields the zero Prefix.
func Prefix(a netip.Addr, bits int) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits = max(0, min(bits, a.BitLen()))
	p, err := a.WithZone("").Prefix(bits)
	if err != nil { // unreachable: bits is within range
		return netip.Prefix{}
	}
	return p
}

// Prefix64 returns the /64 containing a (the usual size of one IPv6 subnet,
// and so of one host's privacy addresses), or a /32 for an IPv4 address.
func Prefix64(a netip.Addr) netip.Prefix { return Prefix(a, 64) }

// Prefix48 returns the /48 containing a (a typical end-site allocation), or a
// /32 for an IPv4 address.
func Prefix48(a netip.Addr) netip.Prefix { return Prefix(a, 48) }
