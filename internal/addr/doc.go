// Package addr classifies IPv6 source addresses by how they were formed and
// extracts the IPv4 addresses they may embed, and aggregates addresses to
// prefixes.
//
// # Classes and precedence
//
// [Classify] assigns every address exactly one primary [Kind]: the first of
// the following that applies, in this order.
//
//  1. invalid: the zero [netip.Addr].
//  2. ipv4: a plain 4-byte IPv4 address. Its Embedded list is empty: the
//     address is an IPv4 address, it does not embed one.
//  3. ipv4-mapped: ::ffff:0:0/96 (also a 4-in-6 [netip.Addr]).
//  4. ipv4-compatible: ::/96 (deprecated by RFC 4291) except :: and ::1.
//  5. nat64: the well-known prefix 64:ff9b::/96 (RFC 6052) and the local-use
//     prefix 64:ff9b:1::/48 (RFC 8215). Operators may embed the IPv4 address
//     at any RFC 6052 prefix length under 64:ff9b:1::/48; this package
//     assumes the /96 format (IPv4 address in the last 32 bits), which is the
//     common choice, and gives it a lower confidence than the well-known
//     prefix.
//  6. teredo: 2001::/32 (RFC 4380).
//  7. 6to4: 2002::/16 (RFC 3056).
//  8. isatap: an interface identifier of the form
//     000000ug00000000:0101111011111110:IPv4 (RFC 5214 section 6.1), that is
//     ::0:5efe:a.b.c.d, ::200:5efe:a.b.c.d (u bit set: the IPv4 address is
//     known to be global) and the rarely seen group-bit variants
//     ::100:5efe:a.b.c.d and ::300:5efe:a.b.c.d.
//  9. eui64: a modified EUI-64 interface identifier xxxx:xxff:fexx:xxxx,
//     built from a 48-bit MAC address (RFC 4291 appendix A). The MAC is the
//     identifier without the ff:fe bytes and with the universal/local bit
//     (0x02 of the first byte) flipped back.
//  10. embedded-ipv4: the interface identifier carries a plausible IPv4
//     address in its last 32 bits (hex, including the textual form
//     ::a.b.c.d) or spelled in decimal across its four 16-bit groups
//     (2001:db8::192:0:2:1); see the rules below.
//  11. low-byte: the first 48 bits of the interface identifier are zero and
//     the last 16 are not (::1, ::25, ::a).
//  12. other: anything else, mostly random interface identifiers (RFC 4941
//     privacy addresses, RFC 7217 stable identifiers), and the all-zero
//     interface identifier.
//
// Classes 3 to 7 are decided by the prefix and are mutually exclusive;
// classes 8 to 11 look only at the interface identifier. The interface
// identifier of a 6to4 address is examined like that of any other address
// (a 6to4 address may carry an EUI-64, ISATAP or embedded-IPv4 identifier),
// while the identifier bits of mapped, compatible, NAT64 and Teredo
// addresses belong to their formats and are not examined again. So Kind
// names one class, but [Info.Embedded] lists every IPv4 address the address
// may embed, and [Info.EUI64MAC] reports a MAC address whenever the
// interface identifier has EUI-64 form, also for a 6to4 address.
//
// # Embedded IPv4 addresses and confidence
//
// Every candidate in [Info.Embedded] carries a How label and a confidence
// in (0, 1], a rough probability that the IPv4 address is a public address
// of the same host (or of its NAT or tunnel endpoint) and so may be seen
// sending IPv4. The list is sorted by confidence, highest first (ties keep
// the order in which the readings are made: prefix formats first, then
// ISATAP, hex and decimal), and holds each IPv4 address once: when two
// readings yield the same address the one with the higher confidence, and
// its How, is kept.
//
// Structural readings are decoded from a format the address is known to
// follow. They are always listed; when the IPv4 address is not plausible
// (see [PlausibleIPv4]) their confidence drops to 0.05, so that callers
// using a threshold ignore them while the decoded value stays visible:
//
//	How             confidence  note
//	mapped          0.95
//	compatible      0.95
//	nat64           0.95        0.85 under 64:ff9b:1::/48 (/96 format assumed)
//	6to4-gateway    0.95        0.99 when self-addressed (IID low 32 bits = gateway)
//	teredo-client   0.90        the client's public (NAT) address
//	isatap          0.80        0.15 for private (RFC 1918, RFC 6598) addresses,
//	                            which are normal for ISATAP but cannot be
//	                            linked to a public IPv4 sender
//	teredo-server   0.20        the client's Teredo server, not the host itself
//
// Heuristic readings are guesses from the bit pattern of the interface
// identifier. They are listed only when the IPv4 address is plausible:
// otherwise almost every low-byte address would yield 0.0.0.x.
//
//	How             confidence  condition
//	low32-hex       0.70        IID is 0:0:XXXX:XXXX (also written ::a.b.c.d)
//	                0.50        IID is 0:YYYY:XXXX:XXXX with YYYY != 0
//	6to4-iid        as low32-hex, for the IID of a 6to4 address when it
//	                differs from the gateway; equal to the gateway it is
//	                not listed but raises 6to4-gateway to 0.99
//	low32-decimal   0.60        all four IID groups, read as hex digits,
//	                spell decimal numbers 0..255 (2001:db8::192:0:2:1), and
//	                not all of them are single digits (::1:0:0:0 and
//	                ::1:2:3:4 are hand numbering, not addresses)
//
// A hex reading needs the first 16 bits of the identifier to be zero: in a
// random identifier the last 32 bits form a plausible public IPv4 address
// most of the time, and listing them would label most privacy addresses
// embedded-ipv4. The decimal reading needs no such guard, since a random
// identifier passes its digit test with probability about 2^-32. Hex and
// decimal readings are not tried on ISATAP identifiers (the ISATAP reading
// covers them) nor on EUI-64 identifiers (their last 32 bits start with
// 0xfe and their groups hold hex digits).
//
// # Plausible public IPv4 addresses
//
// [PlausiblePublicIPv4] rejects the special-purpose blocks that never source
// Internet mail, including the documentation ranges 192.0.2.0/24,
// 198.51.100.0/24 and 203.0.113.0/24. Tests, examples and synthetic data in
// this project use documentation ranges, so [Classify] uses
// [PlausibleIPv4] with allowDocumentation set: a documentation address is
// treated like a public one when scoring embedded addresses. No real sender
// uses those ranges, so this costs nothing in production. Callers that must
// be strict can check the embedded addresses with [PlausiblePublicIPv4].
//
// # Allocation
//
// [ClassifyInto] reuses the Embedded slice of the Info it fills and stores
// the MAC address in a fixed array, so after the first call on an Info it
// does not allocate. The Embedded slice is overwritten by the next call;
// copy it to keep it.
package addr
