package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// ngFile builds a pcapng file block by block in either byte order, for
// the block kinds pcapgo's writer does not make.
type ngFile struct {
	order binary.AppendByteOrder
	b     []byte
}

// block appends a block with body padded to 4 bytes.
func (f *ngFile) block(typ uint32, body []byte) {
	body = append(body, make([]byte, (4-len(body)%4)%4)...)
	f.b = f.order.AppendUint32(f.b, typ)
	f.b = f.order.AppendUint32(f.b, uint32(12+len(body)))
	f.b = append(f.b, body...)
	f.b = f.order.AppendUint32(f.b, uint32(12+len(body)))
}

func (f *ngFile) shb(major uint16) {
	b := f.order.AppendUint32(nil, ngByteOrderMagic)
	b = f.order.AppendUint16(b, major)
	b = f.order.AppendUint16(b, 0)
	b = f.order.AppendUint64(b, ^uint64(0))
	f.block(ngSectionHeader, f.opt(b, 4, []byte("a comment")))
}

// opt appends an option (padded) to b.
func (f *ngFile) opt(b []byte, code uint16, val []byte) []byte {
	b = f.order.AppendUint16(b, code)
	b = f.order.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	return append(b, make([]byte, (4-len(val)%4)%4)...)
}

func (f *ngFile) idb(lt uint16, snaplen uint32, opts ...[]byte) {
	b := f.order.AppendUint16(nil, lt)
	b = f.order.AppendUint16(b, 0)
	b = f.order.AppendUint32(b, snaplen)
	for _, o := range opts {
		b = append(b, o...)
	}
	f.block(ngInterface, b)
}

func (f *ngFile) epb(iface uint32, ts uint64, data []byte) {
	b := f.order.AppendUint32(nil, iface)
	b = f.order.AppendUint32(b, uint32(ts>>32))
	b = f.order.AppendUint32(b, uint32(ts))
	b = f.order.AppendUint32(b, uint32(len(data)))
	b = f.order.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = append(b, make([]byte, (4-len(data)%4)%4)...)
	f.block(ngEnhancedPacket, f.opt(b, 1, []byte("packet comment")))
}

func (f *ngFile) opb(iface uint16, ts uint64, data []byte) {
	b := f.order.AppendUint16(nil, iface)
	b = f.order.AppendUint16(b, 0) // drops
	b = f.order.AppendUint32(b, uint32(ts>>32))
	b = f.order.AppendUint32(b, uint32(ts))
	b = f.order.AppendUint32(b, uint32(len(data)))
	b = f.order.AppendUint32(b, uint32(len(data)))
	f.block(ngObsoletePacket, append(b, data...))
}

func (f *ngFile) spb(data []byte) {
	f.block(ngSimplePacket, append(f.order.AppendUint32(nil, uint32(len(data))), data...))
}

// TestReaderPcapngBlocks reads every packet block kind, in both byte
// orders, with timestamp options, blocks to skip and a second section.
func TestReaderPcapngBlocks(t *testing.T) {
	eth4, eth6 := realEth(ipv4SYN), realEth(ipv6SYN)
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			f := &ngFile{order: order}
			f.shb(1)
			f.idb(1, 0,
				f.opt(nil, 2, []byte("eth0")),
				f.opt(nil, ngOptTSResol, []byte{3}),                      // milliseconds
				f.opt(nil, ngOptTSOffset, order.AppendUint64(nil, 1000)), // seconds
				f.opt(nil, ngOptEnd, nil))
			f.block(4, []byte{1, 0, 4, 0, 192, 0, 2, 1, 'm', 'x', 0, 0, 0, 0, 0, 0}) // name resolution
			f.block(5, make([]byte, 12))                                             // interface statistics
			f.block(0x0a, []byte("secrets"))                                         // decryption secrets
			f.block(0x40000bad, []byte("custom"))
			f.epb(0, 1500, eth4)
			f.idb(101, 0, f.opt(nil, ngOptTSResol, []byte{0x80 | 10})) // 1/1024 s
			f.epb(1, 5*1024+512, ipv6SYN)
			f.opb(0, 2000, eth6)
			// A new section forgets the interfaces.
			f.shb(1)
			f.idb(1, 30)
			f.spb(eth4)

			r, err := NewReader(bytes.NewReader(f.b))
			if err != nil {
				t.Fatal(err)
			}
			want := []Frame{
				{Time: time.Unix(1001, 5e8), Data: eth4, OrigLen: len(eth4)},
				{Time: time.Unix(5, 5e8), Data: synthEth(0x86dd, ipv6SYN), OrigLen: 14 + len(ipv6SYN)},
				{Time: time.Unix(1002, 0), Data: eth6, OrigLen: len(eth6)},
				{Time: time.Unix(0, 0), Data: eth4[:30], OrigLen: len(eth4)},
			}
			got, err := readAll(r)
			if err != io.EOF {
				t.Fatalf("Next: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d frames, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i].Data, want[i].Data) || got[i].OrigLen != want[i].OrigLen {
					t.Errorf("frame %d: % x (orig %d), want % x (orig %d)", i, got[i].Data, got[i].OrigLen, want[i].Data, want[i].OrigLen)
				}
				// A simple packet block has no timestamp.
				if i < 3 && !got[i].Time.Equal(want[i].Time) {
					t.Errorf("frame %d: time %v, want %v", i, got[i].Time, want[i].Time)
				}
			}
		})
	}
}

// TestReaderMalformed checks that damaged files give an error that says
// what is wrong, not a panic, a limit or a truncation.
func TestReaderMalformed(t *testing.T) {
	ng := func(build func(f *ngFile)) []byte {
		f := &ngFile{order: le}
		build(f)
		return f.b
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"pcap version 0", append(le.AppendUint32(nil, 0xa1b2c3d4), make([]byte, 20)...), "unsupported pcap version 0.0"},
		{"pcapng version 2", ng(func(f *ngFile) { f.shb(2) }), "unsupported version 2.0"},
		{"pcapng byte-order magic", ng(func(f *ngFile) { f.shb(1); f.b[9] = 0 }), "bad byte-order magic"},
		{"block shorter than 12", ng(func(f *ngFile) {
			f.shb(1)
			f.b = le.AppendUint32(le.AppendUint32(f.b, ngInterface), 8)
		}), "length 8 is too short"},
		{"packet overruns its block", ng(func(f *ngFile) {
			f.shb(1)
			f.idb(1, 0)
			f.epb(0, 0, realEth(ipv4SYN))
			le.PutUint32(f.b[len(f.b)-4-20-56-8:], 1000) // captured length
		}), "1000 captured bytes overrun the block"},
		{"undescribed interface", ng(func(f *ngFile) { f.shb(1); f.idb(1, 0); f.epb(3, 0, realEth(ipv4SYN)) }),
			"interface 3 is not described (the section has 1)"},
		{"simple packet first", ng(func(f *ngFile) { f.shb(1); f.spb(realEth(ipv4SYN)) }), "no interface described yet"},
		{"epb fields missing", ng(func(f *ngFile) { f.shb(1); f.idb(1, 0); f.block(ngEnhancedPacket, make([]byte, 8)) }),
			"too short for its fields"},
		{"timestamp resolution", ng(func(f *ngFile) { f.shb(1); f.idb(1, 0, f.opt(nil, ngOptTSResol, []byte{20})) }),
			"timestamp resolution 10^-20 is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data))
			if err == nil {
				_, err = readAll(r)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if errors.Is(err, ErrLimit) || errors.Is(err, ErrTruncated) {
				t.Errorf("error %v wraps ErrLimit or ErrTruncated", err)
			}
		})
	}
}
