package addr

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Embedded is one IPv4 address an IPv6 address may embed.
type Embedded struct {
	IPv4       netip.Addr // always a 4-byte IPv4 address
	How        string     // which reading found it: one of the How constants
	Confidence float64    // in (0, 1]; see the package documentation
}

// The How values of Embedded, one per way of reading an IPv4 address out of
// an IPv6 address.
const (
	HowMapped       = "mapped"        // ::ffff:a.b.c.d
	HowCompatible   = "compatible"    // ::a.b.c.d
	HowNAT64        = "nat64"         // 64:ff9b::a.b.c.d, 64:ff9b:1:…:a.b.c.d
	How6to4Gateway  = "6to4-gateway"  // 2002:AABB:CCDD::/48
	How6to4IID      = "6to4-iid"      // low 32 bits of a 6to4 interface identifier
	HowTeredoClient = "teredo-client" // last 32 bits XOR 0xffffffff
	HowTeredoServer = "teredo-server" // bits 32 to 63 of a Teredo address
	HowISATAP       = "isatap"        // interface identifier [0-3]00:5efe:a.b.c.d
	HowLow32Hex     = "low32-hex"     // low 32 bits of the interface identifier
	HowLow32Decimal = "low32-decimal" // 2001:db8::192:0:2:1
)

// Confidence values; the package documentation explains them.
const (
	confMapped       = 0.95
	confCompatible   = 0.95
	confNAT64        = 0.95
	confNAT64Local   = 0.85
	conf6to4Gateway  = 0.95
	conf6to4Self     = 0.99
	confTeredoClient = 0.90
	confTeredoServer = 0.20
	confISATAP       = 0.80
	confISATAPPriv   = 0.15
	confImplausible  = 0.05
	confHexSparse    = 0.70
	confHex          = 0.50
	confDecimal      = 0.60
)

// maxEmbedded bounds the number of candidates one address can produce (a
// 6to4 address: gateway, IID hex reading and decimal reading).
const maxEmbedded = 4

// Info describes an address: its class and everything decoded from it.
type Info struct {
	Addr netip.Addr // the classified address, as given (zone included)
	Kind Kind       // the primary class, chosen by precedence

	SixToFour netip.Addr // 6to4 gateway IPv4 (Kind6to4 only)

	TeredoServer netip.Addr // Teredo server IPv4 (KindTeredo only)
	TeredoClient netip.Addr // Teredo client public IPv4, de-obfuscated
	TeredoPort   uint16     // Teredo client public UDP port, de-obfuscated
	TeredoFlags  uint16     // Teredo flags field (bits 64 to 79)

	// Embedded lists every IPv4 address this address may embed, highest
	// Confidence first, each address once. ClassifyInto reuses its backing
	// array.
	Embedded []Embedded

	mac    [6]byte
	hasMAC bool
}

// EUI64MAC returns the MAC address encoded in a modified EUI-64 interface
// identifier and whether there is one. It is set whenever the identifier has
// EUI-64 form, even when Kind is a class of higher precedence such as 6to4.
func (info Info) EUI64MAC() (mac [6]byte, ok bool) {
	return info.mac, info.hasMAC
}

// MAC returns the MAC address encoded in a modified EUI-64 interface
// identifier as a new slice, or nil when there is none. EUI64MAC does the same
// without allocating.
func (info Info) MAC() net.HardwareAddr {
	if !info.hasMAC {
		return nil
	}
	m := make(net.HardwareAddr, 6)
	copy(m, info.mac[:])
	return m
}

// Best returns the embedded IPv4 candidate with the highest confidence, if
// there is one.
func (info Info) Best() (Embedded, bool) {
	if len(info.Embedded) == 0 {
		return Embedded{}, false
	}
	return info.Embedded[0], true
}

// Classify classifies a. It allocates only for the Embedded slice; use
// ClassifyInto in hot paths.
func Classify(a netip.Addr) Info {
	var info Info
	ClassifyInto(a, &info)
	return info
}

// ClassifyInto classifies a into info, overwriting every field. It reuses
// the backing array of info.Embedded, so once that has room (after the
// first call that found an embedded address) it does not allocate.
func ClassifyInto(a netip.Addr, info *Info) {
	*info = Info{Addr: a, Embedded: info.Embedded[:0]}
	switch {
	case !a.IsValid():
		info.Kind = KindInvalid
		return
	case a.Is4():
		info.Kind = KindIPv4
		return
	}

	b := a.As16()
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	low32 := uint32(lo)

	switch {
	case hi == 0 && lo>>32 == 0xffff: // ::ffff:0:0/96
		info.Kind = KindIPv4Mapped
		info.addStructural(low32, HowMapped, confMapped)
	case hi == 0 && lo>>32 == 0 && low32 > 1: // ::/96 minus :: and ::1
		info.Kind = KindIPv4Compatible
		info.addStructural(low32, HowCompatible, confCompatible)
	case hi == 0x0064ff9b_00000000 && lo>>32 == 0: // 64:ff9b::/96
		info.Kind = KindNAT64
		info.addStructural(low32, HowNAT64, confNAT64)
	case hi>>16 == 0x0064_ff9b_0001: // 64:ff9b:1::/48, /96 format assumed
		info.Kind = KindNAT64
		info.addStructural(low32, HowNAT64, confNAT64Local)
	case hi>>32 == 0x2001_0000: // 2001::/32
		info.Kind = KindTeredo
		server := uint32(hi)
		client := low32 ^ 0xffffffff
		info.TeredoServer = addr4(server)
		info.TeredoClient = addr4(client)
		info.TeredoFlags = uint16(lo >> 48)
		info.TeredoPort = uint16(lo>>32) ^ 0xffff
		info.addStructural(client, HowTeredoClient, confTeredoClient)
		info.addStructural(server, HowTeredoServer, confTeredoServer)
	case hi>>48 == 0x2002: // 2002::/16
		info.Kind = Kind6to4
		gw := uint32(hi >> 16)
		info.SixToFour = addr4(gw)
		info.addStructural(gw, How6to4Gateway, conf6to4Gateway)
		info.interfaceID(lo, gw, true)
	default:
		info.Kind = info.interfaceID(lo, 0, false)
	}
	info.sort()
}

// interfaceID examines the 64-bit interface identifier iid, adds what it
// embeds and returns the class it implies. For a 6to4 address is6to4 is set
// and gw is the gateway, already added.
func (info *Info) interfaceID(iid uint64, gw uint32, is6to4 bool) Kind {
	g0 := uint16(iid >> 48)
	g1 := uint16(iid >> 32)
	low32 := uint32(iid)

	// ISATAP: 000000ug00000000:0101111011111110:IPv4 (RFC 5214 section 6.1).
	if g0&^0x0300 == 0 && g1 == 0x5efe {
		conf := confISATAP
		if !plausible4(low32, true) {
			conf = confImplausible
			if private4(low32) {
				conf = confISATAPPriv
			}
		}
		info.add(low32, HowISATAP, conf)
		return KindISATAP
	}

	// Modified EUI-64: bytes 3 and 4 of the identifier are ff fe.
	if (iid>>24)&0xffff == 0xfffe {
		info.hasMAC = true
		info.mac = [6]byte{
			byte(iid>>56) ^ 0x02, byte(iid >> 48), byte(iid >> 40),
			byte(iid >> 16), byte(iid >> 8), byte(iid),
		}
		return KindEUI64
	}

	kind := KindOther
	if g0 == 0 && plausible4(low32, true) {
		conf := confHex
		if g1 == 0 {
			conf = confHexSparse
		}
		switch {
		case !is6to4:
			info.add(low32, HowLow32Hex, conf)
		case low32 == gw:
			info.add(gw, How6to4Gateway, conf6to4Self) // self-addressed
		default:
			info.add(low32, How6to4IID, conf)
		}
		kind = KindEmbeddedIPv4
	}
	if v, ok := decimalGroups(iid); ok && plausible4(v, true) {
		info.add(v, HowLow32Decimal, confDecimal)
		kind = KindEmbeddedIPv4
	}
	if kind == KindOther && iid>>16 == 0 && iid != 0 {
		kind = KindLowByte
	}
	return kind
}

// decimalGroups reads the four 16-bit groups of iid as decimal numbers
// written with hex digits (0x0192 is 192) and returns them as an IPv4
// address, or false when a group holds a digit above 9 or a number above 255,
// or when every group is a single digit: identifiers such as ::1:0:0:0 or
// ::1:2:3:4 are hand numbering far more often than an IPv4 address.
func decimalGroups(iid uint64) (uint32, bool) {
	if iid&0xfff0_fff0_fff0_fff0 == 0 {
		return 0, false
	}
	var v uint32
	for shift := 48; shift >= 0; shift -= 16 {
		g := uint16(iid >> shift)
		d2, d1, d0 := g>>8, g>>4&0xf, g&0xf
		if d2 > 2 || d1 > 9 || d0 > 9 { // also rejects a fourth digit
			return 0, false
		}
		n := uint32(d2)*100 + uint32(d1)*10 + uint32(d0)
		if n > 255 {
			return 0, false
		}
		v = v<<8 | n
	}
	return v, true
}

// addStructural adds an IPv4 address decoded from a known format, with its
// confidence lowered to confImplausible when the address is not plausible.
func (info *Info) addStructural(v uint32, how string, conf float64) {
	if !plausible4(v, true) {
		conf = confImplausible
	}
	info.add(v, how, conf)
}

// add records a candidate, keeping the better of two readings of one
// address.
func (info *Info) add(v uint32, how string, conf float64) {
	ip := addr4(v)
	for i := range info.Embedded {
		e := &info.Embedded[i]
		if e.IPv4 == ip {
			if conf > e.Confidence {
				e.How, e.Confidence = how, conf
			}
			return
		}
	}
	if cap(info.Embedded) == 0 {
		info.Embedded = make([]Embedded, 0, maxEmbedded)
	}
	info.Embedded = append(info.Embedded, Embedded{IPv4: ip, How: how, Confidence: conf})
}

// sort orders Embedded by descending confidence, keeping the insertion order
// of equal confidences. The list is tiny, so insertion sort does (and it does
// not allocate, unlike sort.Slice).
func (info *Info) sort() {
	e := info.Embedded
	for i := 1; i < len(e); i++ {
		for j := i; j > 0 && e[j].Confidence > e[j-1].Confidence; j-- {
			e[j], e[j-1] = e[j-1], e[j]
		}
	}
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
