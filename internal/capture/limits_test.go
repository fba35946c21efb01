package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// The raw blocks and records of the capture bombs, little endian.
var le = binary.LittleEndian

// ngSHB is a pcapng section header block without options.
func ngSHB() []byte {
	b := le.AppendUint32(nil, ngSectionHeader)
	b = le.AppendUint32(b, 28)
	b = le.AppendUint32(b, ngByteOrderMagic)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, ^uint64(0)) // section length unknown
	return le.AppendUint32(b, 28)
}

// ngIDB is an Ethernet interface description block named eth0.
func ngIDB() []byte {
	b := le.AppendUint32(nil, ngInterface)
	b = le.AppendUint32(b, 28)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 262144)
	b = le.AppendUint16(b, 2) // if_name
	b = le.AppendUint16(b, 4)
	b = append(b, "eth0"...)
	return le.AppendUint32(b, 28)
}

// ngEPBHeader is the start of an enhanced packet block of interface 0
// claiming capLen captured bytes; the data, padding and trailing length
// are to follow.
func ngEPBHeader(capLen uint32) []byte {
	b := le.AppendUint32(nil, ngEnhancedPacket)
	b = le.AppendUint32(b, 32+(capLen+3)&^3)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, capLen)
	return le.AppendUint32(b, capLen)
}

// ngEPB is a whole enhanced packet block of interface 0.
func ngEPB(data []byte) []byte {
	b := append(ngEPBHeader(uint32(len(data))), data...)
	b = append(b, make([]byte, (4-len(data)%4)%4)...)
	return le.AppendUint32(b, uint32(32+(len(data)+3)&^3))
}

// pcapHeader is a nanosecond pcap file header for Ethernet with the given
// snap length.
func pcapHeader(snaplen uint32) []byte {
	b := le.AppendUint32(nil, 0xa1b23c4d)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint32(b, snaplen)
	return le.AppendUint32(b, 1)
}

// pcapRecord is a pcap record header claiming n captured bytes, followed
// by data.
func pcapRecord(n uint32, data []byte) []byte {
	b := le.AppendUint64(nil, 0)
	b = le.AppendUint32(b, n)
	b = le.AppendUint32(b, n)
	return append(b, data...)
}

// errAllocGuard stops a bomb whose reader allocates past the bound.
var errAllocGuard = errors.New("allocation guard: the reader allocated past the bound")

// bombReader is the gzip compression of a stream made chunk by chunk as
// it is read, so a reader that stops early costs little. Before each chunk
// it checks how much the process has allocated since it was made; past
// limit it fails the read, so a reader that trusts the file's lengths
// fails the test instead of taking the machine's memory.
type bombReader struct {
	chunk   func(i int) []byte // the i-th chunk of the stream, nil at the end
	i       int
	zw      *gzip.Writer
	out     bytes.Buffer
	done    bool
	base    uint64 // TotalAlloc when made
	limit   uint64
	tripped bool
}

func newBombReader(limit uint64, chunk func(i int) []byte) *bombReader {
	b := &bombReader{chunk: chunk, limit: limit}
	b.zw, _ = gzip.NewWriterLevel(&b.out, gzip.BestSpeed)
	b.out.Grow(1 << 16)
	b.base = totalAlloc()
	return b
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func (b *bombReader) Read(p []byte) (int, error) {
	for b.out.Len() == 0 {
		if b.done {
			return 0, io.EOF
		}
		if totalAlloc()-b.base > b.limit {
			b.tripped = true
			return 0, errAllocGuard
		}
		c := b.chunk(b.i)
		b.i++
		if c == nil {
			b.done = true
			b.zw.Close()
			continue
		}
		b.zw.Write(c)
	}
	return b.out.Read(p)
}

// zeroChunks returns n bytes of zeros as chunks of one reused MiB.
func zeroChunks(n int) func(int) []byte {
	z := make([]byte, 1<<20)
	return func(i int) []byte {
		left := n - i*len(z)
		if left <= 0 {
			return nil
		}
		return z[:min(left, len(z))]
	}
}

// TestReaderBombs reads captures whose gzip-compressed form is small and
// whose claims are huge: the reader must stop with an error that names
// the limit, having allocated little.
func TestReaderBombs(t *testing.T) {
	const bound = 64 << 20 // bytes allocated while reading a bomb
	const claim = 1 << 31  // a record of 2 GiB

	tests := []struct {
		name    string
		chunk   func() func(i int) []byte
		wantMsg string
	}{{
		// 2,000,000 interface descriptions, 56 MB raw: 1.4 GB of RSS
		// when each was kept.
		name: "pcapng-2M-interfaces",
		chunk: func() func(int) []byte {
			const total, per = 2_000_000, 20_000
			block := bytes.Repeat(ngIDB(), per)
			return func(i int) []byte {
				switch {
				case i == 0:
					return ngSHB()
				case i <= total/per:
					return block
				}
				return nil
			}
		},
		wantMsg: "exceeds the limit of 4096 interfaces per section",
	}, {
		// One enhanced packet block of 2 GiB of zeros: 4.2 GB of RSS
		// when the record was buffered.
		name: "pcapng-2GiB-record",
		chunk: func() func(int) []byte {
			zeros := zeroChunks(claim)
			return func(i int) []byte {
				if i == 0 {
					return append(append(ngSHB(), ngIDB()...), ngEPBHeader(claim)...)
				}
				return zeros(i - 1)
			}
		},
		wantMsg: "pcapng: block of 2147483680 bytes at offset 56 exceeds the 16 MiB block limit",
	}, {
		// The same in classic pcap, whose header claims a 4 GiB snap
		// length so that the record does not exceed it.
		name: "pcap-2GiB-record",
		chunk: func() func(int) []byte {
			zeros := zeroChunks(claim)
			return func(i int) []byte {
				if i == 0 {
					return append(pcapHeader(^uint32(0)), pcapRecord(claim, nil)...)
				}
				return zeros(i - 1)
			}
		},
		wantMsg: "pcap: record of 2147483648 bytes at offset 24 exceeds the 16 MiB record limit",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GC()
			br := newBombReader(bound, tc.chunk())
			r, err := NewReader(br)
			if err == nil {
				_, err = readAll(r)
				r.Close()
			}
			used := totalAlloc() - br.base
			if br.tripped {
				t.Fatalf("the reader allocated more than %d MiB (%d bytes) before giving up: %v", bound>>20, used, err)
			}
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %v, want one wrapping ErrLimit that says %q", err, tc.wantMsg)
			}
			if errors.Is(err, ErrTruncated) {
				t.Errorf("error %v wraps ErrTruncated", err)
			}
			if used > bound {
				t.Errorf("allocated %d bytes, bound %d", used, bound)
			}
			t.Logf("%v; allocated %d KiB", err, used>>10)
		})
	}
}

// TestReaderOversized checks that a record above maxFrameLen is read past
// without being allocated, counted, and that the records after it come
// through.
func TestReaderOversized(t *testing.T) {
	const big = 1 << 20
	eth := realEth(ipv4SYN)
	zeros := make([]byte, big)
	tests := []struct {
		name string
		data []byte
	}{
		{"pcapng", append(append(append(ngSHB(), ngIDB()...), ngEPB(zeros)...), ngEPB(eth)...)},
		{"pcap", append(append(pcapHeader(65535), pcapRecord(big, zeros)...), pcapRecord(uint32(len(eth)), eth)...)},
	}
	for _, tc := range tests {
		for _, gz := range []bool{false, true} {
			name, data := tc.name, tc.data
			if gz {
				name, data = "gzip-"+name, gzipBytes(t, data)
			}
			t.Run(name, func(t *testing.T) {
				runtime.GC()
				base := totalAlloc()
				r, err := NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				f, err := r.Next()
				if err != nil || !bytes.Equal(f.Data, eth) {
					t.Fatalf("Next: %d bytes, %v; want the SYN after the oversized record", len(f.Data), err)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("Next at the end: %v", err)
				}
				// The reader's buffers (bufio, gzip window, the SYN) are
				// far below the oversized record.
				if used := totalAlloc() - base; used >= big/2 {
					t.Errorf("allocated %d bytes reading past a %d-byte record", used, big)
				}
				if st := r.Stats(); st.Frames != 1 || st.Skipped != (Skipped{Oversized: 1}) {
					t.Errorf("Stats = %+v", st)
				}
			})
		}
	}
}
