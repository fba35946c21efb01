// Package synframe builds Ethernet frames carrying TCP segments (SYNs above
// all) with every header shape the sensor parses, for tests, traffic
// generators and benchmarks. It computes correct IPv4 and TCP checksums.
package synframe

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
	ECE = 0x40
	CWR = 0x80
)

// VLAN is one 802.1Q (TPID 0x8100) or 802.1ad (0x88a8) tag.
type VLAN struct {
	TPID uint16
	TCI  uint16
}

// ExtHeader is an IPv6 extension header: Type is its protocol number (0
// hop-by-hop, 43 routing, 60 destination options, 44 fragment, ...); Body
// follows the next-header and length bytes and is zero-padded to a multiple
// of 8 bytes overall.
type ExtHeader struct {
	Type uint8
	Body []byte
}

// Spec describes a frame. Zero values give a plain IPv4 SYN to port 25.
type Spec struct {
	SrcMAC, DstMAC net.HardwareAddr
	VLANs          []VLAN
	EtherType      uint16 // overrides the one derived from Src (and the IP header is omitted when not IP)
	Src, Dst       netip.Addr
	TTL            uint8
	TOS            uint8  // IPv4 TOS / IPv6 traffic class
	ID             uint16 // IPv4
	DF, MF         bool
	Reserved       bool   // IPv4 must-be-zero bit
	FragOffset     uint16 // IPv4, in 8-byte units
	FlowLabel      uint32 // IPv6
	IPOptions      []byte // IPv4, zero-padded to a multiple of 4
	Ext            []ExtHeader
	Proto          uint8 // L4 protocol; 0 means TCP
	SrcPort        uint16
	DstPort        uint16
	Seq, Ack       uint32
	Flags          uint8 // 0 means SYN
	NS             bool
	Window         uint16
	Urgent         uint16
	TCPOptions     []byte // zero-padded (EOL) to a multiple of 4
	Payload        []byte
	DataOffset     int // overrides the TCP data offset (in 32-bit words) when non-zero
}

var (
	defaultSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	defaultDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	defaultSrc    = netip.MustParseAddr("192.0.2.7")
	defaultDst    = netip.MustParseAddr("198.51.100.25")
)

func pad(b []byte, to int) []byte {
	for len(b)%to != 0 {
		b = append(b, 0)
	}
	return b
}

// Checksum is the RFC 1071 Internet checksum of the concatenation of parts.
func Checksum(parts ...[]byte) uint16 {
	var sum uint32
	var odd bool
	var last byte
	for _, p := range parts {
		for _, c := range p {
			if odd {
				sum += uint32(last)<<8 | uint32(c)
			} else {
				last = c
			}
			odd = !odd
		}
	}
	if odd {
		sum += uint32(last) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Build returns the frame s describes.
func (s Spec) Build() []byte {
	be := binary.BigEndian
	src, dst := s.Src, s.Dst
	if !src.IsValid() {
		src = defaultSrc
		if dst.IsValid() && dst.Is6() && !dst.Is4In6() {
			src = netip.MustParseAddr("2001:db8:1::7")
		}
	}
	if !dst.IsValid() {
		dst = defaultDst
		if src.Is6() {
			dst = netip.MustParseAddr("2001:db8:25::25")
		}
	}
	v6 := src.Is6()
	smac, dmac := s.SrcMAC, s.DstMAC
	if smac == nil {
		smac = defaultSrcMAC
	}
	if dmac == nil {
		dmac = defaultDstMAC
	}
	f := make([]byte, 0, 128+len(s.Payload))
	f = append(f, dmac...)
	f = append(f, smac...)
	for _, v := range s.VLANs {
		f = be.AppendUint16(f, v.TPID)
		f = be.AppendUint16(f, v.TCI)
	}
	et := s.EtherType
	if et == 0 {
		et = 0x0800
		if v6 {
			et = 0x86dd
		}
	}
	f = be.AppendUint16(f, et)
	if s.EtherType != 0 && s.EtherType != 0x0800 && s.EtherType != 0x86dd {
		return append(f, s.Payload...)
	}

	proto := s.Proto
	if proto == 0 {
		proto = 6
	}
	l4 := s.l4(proto, src, dst)
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	if !v6 {
		opts := pad(append([]byte(nil), s.IPOptions...), 4)
		ihl := 20 + len(opts)
		ip := make([]byte, 20, ihl)
		ip[0] = 0x40 | byte(ihl/4)
		ip[1] = s.TOS
		be.PutUint16(ip[2:], uint16(ihl+len(l4)))
		be.PutUint16(ip[4:], s.ID)
		frag := s.FragOffset & 0x1fff
		if s.DF {
			frag |= 0x4000
		}
		if s.MF {
			frag |= 0x2000
		}
		if s.Reserved {
			frag |= 0x8000
		}
		be.PutUint16(ip[6:], frag)
		ip[8] = ttl
		ip[9] = proto
		s4, d4 := src.As4(), dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		ip = append(ip, opts...)
		be.PutUint16(ip[10:], Checksum(ip))
		f = append(f, ip...)
		return append(f, l4...)
	}
	var ext []byte
	next := proto
	for i := len(s.Ext) - 1; i >= 0; i-- {
		h := append([]byte{next, 0}, s.Ext[i].Body...)
		h = pad(h, 8)
		h[1] = byte(len(h)/8 - 1)
		ext = append(h, ext...)
		next = s.Ext[i].Type
	}
	ip := make([]byte, 40)
	be.PutUint32(ip, 6<<28|uint32(s.TOS)<<20|s.FlowLabel&0xfffff)
	be.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
	ip[6] = next
	ip[7] = ttl
	s16, d16 := src.As16(), dst.As16()
	copy(ip[8:], s16[:])
	copy(ip[24:], d16[:])
	f = append(f, ip...)
	f = append(f, ext...)
	return append(f, l4...)
}

// l4 builds the TCP segment (or, for other protocols, just the payload).
func (s Spec) l4(proto uint8, src, dst netip.Addr) []byte {
	if proto != 6 {
		return append([]byte(nil), s.Payload...)
	}
	be := binary.BigEndian
	opts := pad(append([]byte(nil), s.TCPOptions...), 4)
	t := make([]byte, 20, 20+len(opts)+len(s.Payload))
	be.PutUint16(t[0:], s.SrcPort)
	dport := s.DstPort
	if dport == 0 {
		dport = 25
	}
	be.PutUint16(t[2:], dport)
	be.PutUint32(t[4:], s.Seq)
	be.PutUint32(t[8:], s.Ack)
	doff := (20 + len(opts)) / 4
	if s.DataOffset != 0 {
		doff = s.DataOffset
	}
	t[12] = byte(doff << 4)
	if s.NS {
		t[12] |= 1
	}
	flags := s.Flags
	if flags == 0 {
		flags = SYN
	}
	t[13] = flags
	be.PutUint16(t[14:], s.Window)
	be.PutUint16(t[18:], s.Urgent)
	t = append(t, opts...)
	t = append(t, s.Payload...)
	be.PutUint16(t[16:], Checksum(PseudoHeader(src, dst, 6, len(t)), t))
	return t
}

// PseudoHeader is the TCP/UDP checksum pseudo-header for src and dst.
func PseudoHeader(src, dst netip.Addr, proto uint8, length int) []byte {
	be := binary.BigEndian
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		p := append(s[:], d[:]...)
		p = append(p, 0, proto)
		return be.AppendUint16(p, uint16(length))
	}
	s, d := src.As16(), dst.As16()
	p := append(s[:], d[:]...)
	p = be.AppendUint32(p, uint32(length))
	return append(p, 0, 0, 0, proto)
}

// Common TCP option layouts of SYNs, as sent by real stacks.
var (
	// LinuxOptions: mss 1460, sackOK, timestamps, nop, wscale 7 (Linux 4.19+).
	LinuxOptions = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7}
	// WindowsOptions: mss 1460, nop, wscale 8, nop, nop, sackOK (Windows 10/11).
	WindowsOptions = []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2}
)
