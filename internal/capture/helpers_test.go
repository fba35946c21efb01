package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ipv4SYN is an IPv4 TCP SYN from 192.0.2.1:50000 to 198.51.100.25:25.
var ipv4SYN = withIPv4Checksum([]byte{
	0x45, 0x00, 0x00, 0x28, // version 4, IHL 5, total length 40
	0x1c, 0x46, 0x40, 0x00, // id, DF
	0x40, 0x06, 0x00, 0x00, // TTL 64, TCP, checksum (filled in)
	192, 0, 2, 1, // source
	198, 51, 100, 25, // destination
	0xc3, 0x50, 0x00, 0x19, // ports 50000 -> 25
	0x00, 0x00, 0x03, 0xe8, // sequence
	0x00, 0x00, 0x00, 0x00, // acknowledgment
	0x50, 0x02, 0xfa, 0xf0, // data offset 5, SYN, window
	0x00, 0x00, 0x00, 0x00, // checksum, urgent pointer
})

// ipv6SYN is an IPv6 TCP SYN from [2001:db8::1]:50001 to [2001:db8::25]:25.
var ipv6SYN = []byte{
	0x60, 0x00, 0x00, 0x00, // version 6
	0x00, 0x14, 0x06, 0x40, // payload length 20, TCP, hop limit 64
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // source
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25, // destination
	0xc3, 0x51, 0x00, 0x19, // ports 50001 -> 25
	0x00, 0x00, 0x07, 0xd0, // sequence
	0x00, 0x00, 0x00, 0x00, // acknowledgment
	0x50, 0x02, 0xfa, 0xf0, // data offset 5, SYN, window
	0x00, 0x00, 0x00, 0x00, // checksum, urgent pointer
}

func withIPv4Checksum(p []byte) []byte {
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	return p
}

// etherTypeOf returns the ethertype for an IP packet.
func etherTypeOf(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// synthEth is the frame the Reader should make: zero MACs, ethertype, ip.
func synthEth(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	binary.BigEndian.PutUint16(b[12:], etherType)
	return append(b, payload...)
}

// realEth is an Ethernet frame with real MAC addresses.
func realEth(ip []byte) []byte {
	b := []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // destination
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // source
		0, 0,
	}
	binary.BigEndian.PutUint16(b[12:], etherTypeOf(ip))
	return append(b, ip...)
}

// sll builds a Linux cooked v1 frame.
func sll(proto uint16, payload []byte) []byte {
	b := []byte{
		0x00, 0x00, // packet type: to us
		0x00, 0x01, // ARPHRD_ETHER
		0x00, 0x06, // address length
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, // address
		0, 0, // protocol
	}
	binary.BigEndian.PutUint16(b[14:], proto)
	return append(b, payload...)
}

// sll2 builds a Linux cooked v2 frame.
func sll2(proto uint16, payload []byte) []byte {
	b := []byte{
		0, 0, // protocol
		0x00, 0x00, // reserved
		0x00, 0x00, 0x00, 0x03, // interface index
		0x00, 0x01, // ARPHRD_ETHER
		0x00,                                           // packet type: to us
		0x06,                                           // address length
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, // address
	}
	binary.BigEndian.PutUint16(b[0:], proto)
	return append(b, payload...)
}

// loopback builds a NULL/LOOP frame with the address family in order.
func loopback(order binary.AppendByteOrder, family uint32, payload []byte) []byte {
	b := order.AppendUint32(nil, family)
	return append(b, payload...)
}

// record is one packet to put into a test capture.
type record struct {
	ts   time.Time
	data []byte
	orig int // length on the wire; 0 means len(data)
}

func (r record) ci() gopacket.CaptureInfo {
	orig := r.orig
	if orig == 0 {
		orig = len(r.data)
	}
	return gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: orig}
}

// container writes records as a capture file format.
type container struct {
	name  string
	res   time.Duration // timestamp resolution of the format
	build func(t testing.TB, lt layers.LinkType, recs []record) []byte
}

// pcapgoContainer writes little-endian pcap with pcapgo.
func pcapgoContainer(nanos bool) container {
	c := container{name: "pcap-us", res: time.Microsecond}
	if nanos {
		c = container{name: "pcap-ns", res: time.Nanosecond}
	}
	c.build = func(t testing.TB, lt layers.LinkType, recs []record) []byte {
		t.Helper()
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if nanos {
			w = pcapgo.NewWriterNanos(&buf)
		}
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.WritePacket(r.ci(), r.data); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	return c
}

// bigEndianContainer writes big-endian pcap by hand, as pcapgo only writes
// little endian.
func bigEndianContainer(nanos bool) container {
	c := container{name: "pcap-us-be", res: time.Microsecond}
	magic := uint32(0xa1b2c3d4)
	if nanos {
		c = container{name: "pcap-ns-be", res: time.Nanosecond}
		magic = 0xa1b23c4d
	}
	be := binary.BigEndian
	c.build = func(t testing.TB, lt layers.LinkType, recs []record) []byte {
		b := be.AppendUint32(nil, magic)
		b = be.AppendUint16(b, 2)
		b = be.AppendUint16(b, 4)
		b = be.AppendUint32(b, 0) // timezone
		b = be.AppendUint32(b, 0) // sigfigs
		b = be.AppendUint32(b, 65535)
		b = be.AppendUint32(b, uint32(lt))
		for _, r := range recs {
			ci := r.ci()
			frac := ci.Timestamp.Nanosecond()
			if !nanos {
				frac /= 1000
			}
			b = be.AppendUint32(b, uint32(ci.Timestamp.Unix()))
			b = be.AppendUint32(b, uint32(frac))
			b = be.AppendUint32(b, uint32(ci.CaptureLength))
			b = be.AppendUint32(b, uint32(ci.Length))
			b = append(b, r.data...)
		}
		return b
	}
	return c
}

// pcapngContainer writes pcapng with pcapgo.
func pcapngContainer() container {
	return container{name: "pcapng", res: time.Nanosecond, build: func(t testing.TB, lt layers.LinkType, recs []record) []byte {
		t.Helper()
		var buf bytes.Buffer
		w, err := pcapgo.NewNgWriter(&buf, lt)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.WritePacket(r.ci(), r.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}}
}

// gzipContainer compresses what c writes.
func gzipContainer(c container) container {
	return container{name: "gzip-" + c.name, res: c.res, build: func(t testing.TB, lt layers.LinkType, recs []record) []byte {
		t.Helper()
		return gzipBytes(t, c.build(t, lt, recs))
	}}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allContainers is every format the Reader must accept.
var allContainers = []container{
	pcapgoContainer(false),
	pcapgoContainer(true),
	bigEndianContainer(false),
	bigEndianContainer(true),
	pcapngContainer(),
	gzipContainer(pcapgoContainer(true)),
	gzipContainer(pcapngContainer()),
}

// readAll reads frames until an error, copying each frame.
func readAll(r *Reader) ([]Frame, error) {
	var frames []Frame
	for {
		f, err := r.Next()
		if err != nil {
			return frames, err
		}
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	}
}
