package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Limits on what a capture file may claim. Every length read from a file
// is checked against them before it sizes a buffer or a read, so a small
// (compressed) file cannot make the reader allocate or read without bound.
const (
	// maxFrameLen is the longest packet returned: libpcap's largest snap
	// length. A SYN is under 200 bytes. Longer records are read past in
	// the reader's buffer, not allocated, and counted as Skipped.Oversized.
	maxFrameLen = 256 << 10
	// maxBlockLen is the longest pcap record or pcapng block the reader
	// reads past. A longer length is taken as a damaged file.
	maxBlockLen = 16 << 20
	// maxInterfaces is the most interface descriptions one pcapng section
	// may hold; dumpcap writes one per capturing interface.
	maxInterfaces = 4096
)

// ErrLimit is wrapped by the error Next or NewReader returns when a
// capture claims a size beyond one of the reader's limits (a record or
// block over 16 MiB, more than 4096 pcapng interfaces in a section). The
// message names the limit. The rest of the file cannot be read.
var ErrLimit = errors.New("capture exceeds a reader limit")

// limitError is an error that wraps ErrLimit with its own message.
type limitError string

func (e limitError) Error() string        { return string(e) }
func (e limitError) Is(target error) bool { return target == ErrLimit }

func errLimit(format string, args ...any) error {
	return limitError(fmt.Sprintf(format, args...))
}

// packet is one record of a capture.
type packet struct {
	data      []byte // captured bytes, valid until the next record is read
	ts        time.Time
	wire      int      // length on the wire
	kind      linkKind // how to turn data into Ethernet
	oversized bool     // longer than maxFrameLen: read past, data is nil
}

// source reads the packet records of one capture format.
type source interface {
	// next returns the next packet record. It returns io.EOF when the
	// input ends between records and io.ErrUnexpectedEOF when it ends
	// inside one.
	next() (packet, error)
}

// input is the (decompressed) capture stream with the offset read so far,
// for error messages.
type input struct {
	br  *bufio.Reader
	off int64
	buf []byte // packet data, reused; never longer than maxFrameLen
}

// full reads len(b) bytes: io.EOF if the input ended before the first,
// io.ErrUnexpectedEOF if it ended after some.
func (in *input) full(b []byte) error {
	n, err := io.ReadFull(in.br, b)
	in.off += int64(n)
	return err
}

// rest reads len(b) bytes in the middle of a record, where any end of
// input is io.ErrUnexpectedEOF.
func (in *input) rest(b []byte) error {
	err := in.full(b)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// skip reads past n bytes in the middle of a record. bufio's Discard goes
// through its own buffer, so n does not size an allocation.
func (in *input) skip(n int) error {
	m, err := in.br.Discard(n)
	in.off += int64(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// data reads n <= maxFrameLen bytes of packet data into the reused buffer.
func (in *input) data(n int) ([]byte, error) {
	if cap(in.buf) < n {
		in.buf = make([]byte, n, min(max(n, 2*cap(in.buf), 2048), maxFrameLen))
	}
	b := in.buf[:n]
	return b, in.rest(b)
}

// pcapSource reads the records of a classic pcap file. The snap length
// of the file header is not used: maxFrameLen and maxBlockLen bound the
// records instead.
type pcapSource struct {
	in     *input
	order  binary.ByteOrder
	factor int64 // nanoseconds per unit of the fractional timestamp
	kind   linkKind
	lt     layers.LinkType
	hdr    [pcapRecordHeaderLen]byte
}

// openPcap reads the file header of a classic pcap file.
func openPcap(in *input) (*pcapSource, error) {
	var h [pcapFileHeaderLen]byte
	if err := in.rest(h[:]); err != nil {
		return nil, err
	}
	p := &pcapSource{in: in, order: binary.LittleEndian, factor: 1000}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0xa1b23c4d:
		p.factor = 1
	case 0x4d3cb2a1:
		p.order, p.factor = binary.BigEndian, 1
	default:
		return nil, errNotCapture
	}
	if major, minor := p.order.Uint16(h[4:]), p.order.Uint16(h[6:]); major != 2 {
		return nil, fmt.Errorf("unsupported pcap version %d.%d", major, minor)
	}
	// The upper bits of the link type field hold FCS flags.
	p.lt = layers.LinkType(p.order.Uint32(h[20:]))
	p.kind = kindOf(p.lt)
	return p, nil
}

func (p *pcapSource) next() (packet, error) {
	start := p.in.off
	if err := p.in.full(p.hdr[:]); err != nil {
		return packet{}, err
	}
	h := p.hdr[:]
	pk := packet{
		ts:   time.Unix(int64(p.order.Uint32(h[0:])), int64(p.order.Uint32(h[4:]))*p.factor).UTC(),
		wire: int(p.order.Uint32(h[12:])),
		kind: p.kind,
	}
	n := p.order.Uint32(h[8:])
	switch {
	case n > maxBlockLen:
		return packet{}, errLimit("pcap: record of %d bytes at offset %d exceeds the %d MiB record limit",
			n, start, maxBlockLen>>20)
	case n > maxFrameLen:
		pk.oversized = true
		return pk, p.in.skip(int(n))
	}
	var err error
	pk.data, err = p.in.data(int(n))
	return pk, err
}
