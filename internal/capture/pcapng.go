package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types the reader understands; the others are read past.
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterface      = 0x00000001
	ngObsoletePacket = 0x00000002
	ngSimplePacket   = 0x00000003
	ngEnhancedPacket = 0x00000006
	ngByteOrderMagic = 0x1a2b3c4d
)

// pcapng interface options the reader uses.
const (
	ngOptEnd      = 0
	ngOptTSResol  = 9
	ngOptTSOffset = 14
)

// ngIface is what the reader keeps of an interface description.
type ngIface struct {
	kind    linkKind
	snaplen uint32
	units   uint64 // timestamp units per second
	offset  int64  // seconds added to every timestamp
}

// ngSource reads the packet records of a pcapng file. It keeps only the
// interface table (bounded by maxInterfaces); every other block, and every
// option but the timestamp ones, is read past without being stored.
type ngSource struct {
	in     *input
	order  binary.ByteOrder
	ifaces []ngIface
	hdr    [20]byte
	// Of the block being read: its type, its offset, and the bytes left
	// in it, trailing length included.
	typ   uint32
	start int64
	left  int
}

// openNg reads the first section header of a pcapng file.
func openNg(in *input) (*ngSource, error) {
	ng := &ngSource{in: in, order: binary.LittleEndian}
	if err := ng.block(); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if ng.typ != ngSectionHeader {
		return nil, errNotCapture
	}
	return ng, ng.section()
}

// block reads the type and length of the next block. A section header's
// byte-order magic, which decides how to read its length, is read too.
func (ng *ngSource) block() error {
	ng.start = ng.in.off
	h := ng.hdr[:8]
	if err := ng.in.full(h); err != nil {
		return err
	}
	ng.typ = ng.order.Uint32(h) // a section header's type reads the same in both orders
	consumed := 8
	if ng.typ == ngSectionHeader {
		var m [4]byte
		if err := ng.in.rest(m[:]); err != nil {
			return err
		}
		switch {
		case binary.LittleEndian.Uint32(m[:]) == ngByteOrderMagic:
			ng.order = binary.LittleEndian
		case binary.BigEndian.Uint32(m[:]) == ngByteOrderMagic:
			ng.order = binary.BigEndian
		default:
			return fmt.Errorf("pcapng: section header at offset %d: bad byte-order magic % x", ng.start, m)
		}
		consumed += 4
	}
	n := ng.order.Uint32(h[4:])
	switch {
	case n > maxBlockLen:
		return errLimit("pcapng: block of %d bytes at offset %d exceeds the %d MiB block limit",
			n, ng.start, maxBlockLen>>20)
	case n < 12 || int(n) < consumed+4:
		return fmt.Errorf("pcapng: block at offset %d: length %d is too short", ng.start, n)
	}
	ng.left = int(n) - consumed
	return nil
}

// fields reads the fixed fields at the start of a block body into hdr.
func (ng *ngSource) fields(n int) ([]byte, error) {
	if ng.left < n+4 {
		return nil, fmt.Errorf("pcapng: block of type %#x at offset %d: too short for its fields", ng.typ, ng.start)
	}
	b := ng.hdr[:n]
	ng.left -= n
	return b, ng.in.rest(b)
}

// finish reads past the rest of the current block.
func (ng *ngSource) finish() error {
	n := ng.left
	ng.left = 0
	return ng.in.skip(n)
}

// section reads the rest of a section header block, which starts a new
// interface table.
func (ng *ngSource) section() error {
	f, err := ng.fields(12) // major, minor, section length
	if err != nil {
		return err
	}
	if major, minor := ng.order.Uint16(f), ng.order.Uint16(f[2:]); major != 1 {
		return fmt.Errorf("pcapng: section header at offset %d: unsupported version %d.%d", ng.start, major, minor)
	}
	ng.ifaces = ng.ifaces[:0]
	return ng.finish()
}

// iface reads an interface description block.
func (ng *ngSource) iface() error {
	if len(ng.ifaces) >= maxInterfaces {
		return errLimit("pcapng: interface description at offset %d exceeds the limit of %d interfaces per section",
			ng.start, maxInterfaces)
	}
	f, err := ng.fields(8) // link type, reserved, snap length
	if err != nil {
		return err
	}
	ifc := ngIface{
		kind:    kindOf(layers.LinkType(ng.order.Uint16(f))),
		snaplen: ng.order.Uint32(f[4:]),
		units:   1_000_000,
	}
	var v [8]byte
	// Options: code, length, value padded to 4 bytes. An option that
	// overruns the block ends them; the block length still holds.
	for ng.left >= 4+4 {
		if err := ng.in.rest(v[:4]); err != nil {
			return err
		}
		ng.left -= 4
		code, n := ng.order.Uint16(v[:]), int(ng.order.Uint16(v[2:]))
		padded := (n + 3) &^ 3
		if code == ngOptEnd || padded > ng.left-4 {
			break
		}
		used := 0
		switch {
		case code == ngOptTSResol && n >= 1:
			used = 1
		case code == ngOptTSOffset && n >= 8:
			used = 8
		}
		if err := ng.in.rest(v[:used]); err != nil {
			return err
		}
		if err := ng.in.skip(padded - used); err != nil {
			return err
		}
		ng.left -= padded
		switch used {
		case 1:
			if ifc.units, err = tsUnits(v[0]); err != nil {
				return fmt.Errorf("pcapng: interface %d at offset %d: %w", len(ng.ifaces), ng.start, err)
			}
		case 8:
			ifc.offset = int64(ng.order.Uint64(v[:]))
		}
	}
	ng.ifaces = append(ng.ifaces, ifc)
	return ng.finish()
}

// tsUnits converts an if_tsresol value to timestamp units per second.
func tsUnits(res uint8) (uint64, error) {
	exp := res & 0x7f
	if res&0x80 != 0 {
		if exp > 63 {
			return 0, fmt.Errorf("timestamp resolution 2^-%d is not supported", exp)
		}
		return 1 << exp, nil
	}
	if exp > 19 { // 10^20 does not fit in 64 bits
		return 0, fmt.Errorf("timestamp resolution 10^-%d is not supported", exp)
	}
	u := uint64(1)
	for range exp {
		u *= 10
	}
	return u, nil
}

// time converts a timestamp of interface ifc.
func (ifc *ngIface) time(hi, lo uint32) time.Time {
	ts := uint64(hi)<<32 | uint64(lo)
	sec, frac := ts/ifc.units, ts%ifc.units
	// frac < units, so frac*1e9/units fits in 64 bits and Div64 cannot panic.
	h, l := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(h, l, ifc.units)
	return time.Unix(int64(sec)+ifc.offset, int64(ns)).UTC()
}

// errNoInterface is returned for a packet before any interface description.
var errNoInterface = errors.New("no interface described yet")

func (ng *ngSource) next() (packet, error) {
	for {
		if err := ng.block(); err != nil {
			return packet{}, err
		}
		var err error
		switch ng.typ {
		case ngSectionHeader:
			err = ng.section()
		case ngInterface:
			err = ng.iface()
		case ngEnhancedPacket, ngObsoletePacket, ngSimplePacket:
			return ng.packet()
		default:
			err = ng.finish()
		}
		if err != nil {
			return packet{}, err
		}
	}
}

// packet reads a packet block (enhanced, simple or obsolete).
func (ng *ngSource) packet() (packet, error) {
	var id, capLen, wire uint32
	var ifc *ngIface
	var pk packet
	if ng.typ == ngSimplePacket {
		f, err := ng.fields(4)
		if err != nil {
			return pk, err
		}
		if len(ng.ifaces) == 0 {
			return pk, fmt.Errorf("pcapng: simple packet block at offset %d: %w", ng.start, errNoInterface)
		}
		// The captured length is what the block and the snap length leave.
		ifc = &ng.ifaces[0]
		wire = ng.order.Uint32(f)
		capLen = min(wire, uint32(ng.left-4))
		if ifc.snaplen != 0 {
			capLen = min(capLen, ifc.snaplen)
		}
	} else {
		f, err := ng.fields(20)
		if err != nil {
			return pk, err
		}
		id = ng.order.Uint32(f)
		if ng.typ == ngObsoletePacket {
			id = uint32(ng.order.Uint16(f))
		}
		if int64(id) >= int64(len(ng.ifaces)) {
			return pk, fmt.Errorf("pcapng: packet block at offset %d: interface %d is not described (the section has %d)",
				ng.start, id, len(ng.ifaces))
		}
		ifc = &ng.ifaces[id]
		pk.ts = ifc.time(ng.order.Uint32(f[4:]), ng.order.Uint32(f[8:]))
		capLen, wire = ng.order.Uint32(f[12:]), ng.order.Uint32(f[16:])
		if int64(capLen) > int64(ng.left-4) {
			return pk, fmt.Errorf("pcapng: packet block at offset %d: %d captured bytes overrun the block", ng.start, capLen)
		}
	}
	pk.kind, pk.wire = ifc.kind, int(wire)
	if capLen > maxFrameLen {
		pk.oversized = true
		return pk, ng.finish()
	}
	var err error
	if pk.data, err = ng.in.data(int(capLen)); err != nil {
		return pk, err
	}
	ng.left -= int(capLen)
	return pk, ng.finish()
}
