package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// Link-layer header types this package understands. The numbers are the
// LINKTYPE_/DLT_ values stored in pcap and pcapng files.
const (
	linkTypeNull     layers.LinkType = 0   // BSD loopback, host byte order AF
	linkTypeEthernet layers.LinkType = 1   // Ethernet II
	linkTypeRawDLT12 layers.LinkType = 12  // DLT_RAW on most BSDs and Linux
	linkTypeRawDLT14 layers.LinkType = 14  // DLT_RAW on OpenBSD
	linkTypeRaw      layers.LinkType = 101 // LINKTYPE_RAW
	linkTypeLoop     layers.LinkType = 108 // OpenBSD loopback, network byte order AF
	linkTypeSLL      layers.LinkType = 113 // Linux cooked capture v1
	linkTypeIPv4     layers.LinkType = 228 // raw IPv4
	linkTypeIPv6     layers.LinkType = 229 // raw IPv6
	linkTypeSLL2     layers.LinkType = 276 // Linux cooked capture v2
)

// Ethernet constants.
const (
	ethHeaderLen  = 14
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	// etherTypeMin is the smallest value of the Ethernet II type field;
	// anything below is an IEEE 802.3 length.
	etherTypeMin = 0x0600
)

// Header lengths of the non-Ethernet link layers.
const (
	sllHeaderLen  = 16
	sll2HeaderLen = 20
	nullHeaderLen = 4
)

// linkKind says how frames of one link type become Ethernet frames.
type linkKind uint8

const (
	kindUnsupported linkKind = iota
	kindEthernet             // passed through unchanged
	kindRawIP                // bare IP; the version nibble picks the ethertype
	kindIPv4                 // bare IPv4
	kindIPv6                 // bare IPv6
	kindSLL                  // 16-byte Linux cooked header, protocol at 14
	kindSLL2                 // 20-byte Linux cooked v2 header, protocol at 0
	kindNull                 // 4-byte address family, either byte order
)

// kindOf returns how the reader handles link type lt.
func kindOf(lt layers.LinkType) linkKind {
	switch lt {
	case linkTypeEthernet:
		return kindEthernet
	case linkTypeRaw, linkTypeRawDLT12, linkTypeRawDLT14:
		return kindRawIP
	case linkTypeIPv4:
		return kindIPv4
	case linkTypeIPv6:
		return kindIPv6
	case linkTypeSLL:
		return kindSLL
	case linkTypeSLL2:
		return kindSLL2
	case linkTypeNull, linkTypeLoop:
		return kindNull
	}
	return kindUnsupported
}

// skipReason says why a record was not turned into a frame.
type skipReason uint8

const (
	skipNone skipReason = iota
	skipEmpty
	skipShort
	skipUnknownProtocol
	skipUnsupportedLinkType
	skipOversized
)

// ipEtherType maps the version nibble of an IP header to an ethertype.
func ipEtherType(b []byte) (uint16, skipReason) {
	switch b[0] >> 4 {
	case 4:
		return etherTypeIPv4, skipNone
	case 6:
		return etherTypeIPv6, skipNone
	}
	return 0, skipUnknownProtocol
}

// loopbackEtherType maps the 4-byte address family of a NULL or LOOP header
// to an ethertype. The family is stored in the byte order of the capturing
// host (NULL) or in network order (LOOP), and writers do not always get
// that right, so both orders are tried: family numbers are small, so only
// one of the two readings is below 256.
func loopbackEtherType(b []byte) (uint16, skipReason) {
	family := binary.LittleEndian.Uint32(b)
	if family > 0xff {
		family = binary.BigEndian.Uint32(b)
	}
	switch family {
	case 2: // AF_INET everywhere
		return etherTypeIPv4, skipNone
	case 10, 24, 28, 30: // AF_INET6 on Linux, OpenBSD/NetBSD, FreeBSD, Darwin
		return etherTypeIPv6, skipNone
	}
	return 0, skipUnknownProtocol
}

// cookedEtherType validates the protocol field of a Linux cooked header.
// It holds an ethertype for everything Ethernet can carry; smaller values
// are Linux-internal pseudo protocols without an Ethernet equivalent.
func cookedEtherType(proto uint16) (uint16, skipReason) {
	if proto < etherTypeMin {
		return 0, skipUnknownProtocol
	}
	return proto, skipNone
}

// unwrap finds the network-layer payload of a non-Ethernet frame and the
// ethertype to put in front of it. hdrLen is the length of the link header
// that is dropped.
func unwrap(kind linkKind, data []byte) (etherType uint16, hdrLen int, why skipReason) {
	switch kind {
	case kindRawIP, kindIPv4, kindIPv6:
		etherType, why = ipEtherType(data)
		if why == skipNone && ((kind == kindIPv4 && etherType != etherTypeIPv4) ||
			(kind == kindIPv6 && etherType != etherTypeIPv6)) {
			why = skipUnknownProtocol
		}
		return etherType, 0, why
	case kindSLL:
		if len(data) < sllHeaderLen {
			return 0, 0, skipShort
		}
		etherType, why = cookedEtherType(binary.BigEndian.Uint16(data[14:16]))
		return etherType, sllHeaderLen, why
	case kindSLL2:
		if len(data) < sll2HeaderLen {
			return 0, 0, skipShort
		}
		etherType, why = cookedEtherType(binary.BigEndian.Uint16(data[0:2]))
		return etherType, sll2HeaderLen, why
	case kindNull:
		if len(data) < nullHeaderLen {
			return 0, 0, skipShort
		}
		etherType, why = loopbackEtherType(data)
		return etherType, nullHeaderLen, why
	}
	return 0, 0, skipUnsupportedLinkType
}
