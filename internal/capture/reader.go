package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// ErrTruncated is wrapped by the error Next returns when the capture ends
// in the middle of a record, and by the error NewReader returns when it
// ends in the middle of the file header.
var ErrTruncated = errors.New("truncated capture")

// errNotCapture is returned for input that is neither pcap nor pcapng.
var errNotCapture = errors.New("not a pcap or pcapng file")

// Frame is one packet of a capture as an Ethernet frame.
type Frame struct {
	Time    time.Time
	Data    []byte // an Ethernet frame; valid until the next call to Next
	OrigLen int    // length on the wire (Data may be shorter when the snaplen cut it)
}

// Skipped counts the records that were not returned as frames, by reason.
type Skipped struct {
	// Empty records have no captured bytes.
	Empty uint64
	// Short records are shorter than their link-layer header (for
	// Ethernet: shorter than 14 bytes).
	Short uint64
	// UnknownProtocol records carry something other than IPv4 or IPv6
	// (bad IP version nibble, unknown loopback address family) or a Linux
	// cooked protocol value that is not an ethertype.
	UnknownProtocol uint64
	// UnsupportedLinkType records come from a pcapng interface whose link
	// type cannot be converted to Ethernet.
	UnsupportedLinkType uint64
	// Oversized records captured more than 256 KiB, libpcap's largest
	// snap length: they are read past, not held in memory.
	Oversized uint64
}

// Total returns the number of skipped records.
func (s Skipped) Total() uint64 {
	return s.Empty + s.Short + s.UnknownProtocol + s.UnsupportedLinkType + s.Oversized
}

// Stats counts what a Reader has read so far.
type Stats struct {
	Frames    uint64  // frames returned by Next
	Skipped   Skipped // records dropped instead of returned
	Truncated bool    // the capture ended in the middle of a record
}

// Reader reads a pcap or pcapng capture, optionally gzip-compressed, and
// returns its packets as Ethernet frames. It is not safe for concurrent use.
//
// What a file claims is bounded before it is believed: records over
// 256 KiB are read past and counted (Skipped.Oversized), and a record or
// block over 16 MiB, or a pcapng section with more than 4096 interfaces,
// stops the reader with an error wrapping ErrLimit that names the limit.
// Memory use is thus bounded whatever the file, compressed or not.
type Reader struct {
	file *os.File    // set by Open, closed by Close
	gz   *gzipSource // set when the input is gzip-compressed
	src  source      // classic pcap or pcapng records

	buf     []byte // reused for frames that get a synthetic Ethernet header
	records uint64 // records read, including skipped ones
	stats   Stats
	err     error // sticky error, io.EOF at the end
}

// Open opens the capture file at path. The caller must Close the Reader.
func Open(path string) (*Reader, error) {
	return OpenCounting(path, nil)
}

// OpenCounting is Open that adds to read the bytes read from the file
// (compressed bytes, for gzip: what is known up front), for a progress
// bar; read may be nil.
func OpenCounting(path string, read *atomic.Int64) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	var in io.Reader = f
	if read != nil {
		in = countingReader{r: f, n: read}
	}
	r, err := newReader(in)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s: %w", path, err)
	}
	r.file = f
	return r, nil
}

// countingReader counts the bytes read through it. The buffered reader
// above it reads in blocks, so the add is per block, not per packet.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Magic numbers at the start of the supported formats, as they appear in
// the file.
var magics = [][]byte{
	{0xd4, 0xc3, 0xb2, 0xa1}, // pcap, microseconds, little endian
	{0xa1, 0xb2, 0xc3, 0xd4}, // pcap, microseconds, big endian
	{0x4d, 0x3c, 0xb2, 0xa1}, // pcap, nanoseconds, little endian
	{0xa1, 0xb2, 0x3c, 0x4d}, // pcap, nanoseconds, big endian
	{0x0a, 0x0d, 0x0d, 0x0a}, // pcapng section header block
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// magicPrefix reports whether b, shorter than a magic number, could be the
// start of one: such input is a capture cut short, not garbage.
func magicPrefix(b []byte, withGzip bool) bool {
	if len(b) == 0 {
		return false
	}
	if withGzip && bytes.HasPrefix(gzipMagic, b) {
		return true
	}
	for _, m := range magics {
		if bytes.HasPrefix(m, b) {
			return true
		}
	}
	return false
}

// isEOF reports whether err means the input ran out.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// NewReader reads a capture from r. Gzip compression is detected and
// removed; the remaining stream must be a classic pcap file (any byte order,
// microsecond or nanosecond timestamps) or a pcapng file. The file header
// is read before NewReader returns. Close does not close r.
//
// A pcap file with a link type that cannot be converted to Ethernet is
// rejected. In pcapng the link type is per interface, so records of
// unsupported interfaces are skipped and counted instead.
func NewReader(r io.Reader) (*Reader, error) {
	rd, err := newReader(r)
	if err != nil && !errors.Is(err, ErrTruncated) {
		err = fmt.Errorf("capture: %w", err)
	}
	return rd, err
}

// newReader is NewReader with errors that do not say "capture" yet, so
// that Open can add the path.
func newReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	rd := &Reader{}

	head, err := br.Peek(len(gzipMagic))
	if err != nil && !isEOF(err) {
		return nil, err
	}
	if bytes.Equal(head, gzipMagic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			if isEOF(err) {
				return nil, fmt.Errorf("%w: gzip header: %w", ErrTruncated, err)
			}
			return nil, err // gzip errors say "gzip: ..."
		}
		rd.gz = &gzipSource{zr: gz}
		br = bufio.NewReader(rd.gz)
	}

	head, err = br.Peek(4)
	switch {
	case err != nil && !isEOF(err):
		return nil, err
	case len(head) < 4 && rd.gz != nil && rd.gz.cut:
		return nil, fmt.Errorf("%w: file header: %w", ErrTruncated, io.ErrUnexpectedEOF)
	case len(head) == 0:
		return nil, fmt.Errorf("empty input: %w", errNotCapture)
	case len(head) < 4:
		if magicPrefix(head, rd.gz == nil) {
			return nil, fmt.Errorf("%w: file header: %w", ErrTruncated, io.ErrUnexpectedEOF)
		}
		return nil, errNotCapture
	}

	in := &input{br: br}
	if bytes.Equal(head, magics[len(magics)-1]) {
		err = rd.openNg(in)
	} else if magicPrefix(head, false) {
		err = rd.openPcap(in)
	} else {
		err = fmt.Errorf("%w (starts with % x)", errNotCapture, head)
	}
	if err != nil {
		return nil, err
	}
	return rd, nil
}

// openPcap reads the header of a classic pcap file.
func (r *Reader) openPcap(in *input) error {
	p, err := openPcap(in)
	if err != nil {
		if isEOF(err) || r.inputCut() {
			return fmt.Errorf("%w: pcap file header: %w", ErrTruncated, err)
		}
		return fmt.Errorf("pcap file header: %w", err)
	}
	if p.kind == kindUnsupported {
		return fmt.Errorf("unsupported link type %d (%s): cannot convert to Ethernet", uint32(p.lt), p.lt)
	}
	r.src = p
	return nil
}

// openNg reads the first section header of a pcapng file. The link type
// is per interface, so records of unsupported ones are counted later.
func (r *Reader) openNg(in *input) error {
	ng, err := openNg(in)
	if err != nil {
		if isEOF(err) || r.inputCut() {
			return fmt.Errorf("%w: pcapng section header: %w", ErrTruncated, err)
		}
		return fmt.Errorf("pcapng section header: %w", err)
	}
	r.src = ng
	return nil
}

// Next returns the next frame. It returns io.EOF at the clean end of the
// capture, and an error wrapping ErrTruncated when the capture is cut in
// the middle of a record; every whole record before the cut has been
// returned by then. Records that cannot be converted to Ethernet are
// skipped and counted in Stats. Errors are sticky: once Next has failed it
// keeps returning the same error.
func (r *Reader) Next() (Frame, error) {
	if r.err != nil {
		return Frame{}, r.err
	}
	for {
		pk, err := r.src.next()
		if err != nil {
			r.err = r.fail(err)
			return Frame{}, r.err
		}
		r.records++
		f, why := r.convert(&pk)
		if why == skipNone {
			r.stats.Frames++
			return f, nil
		}
		r.count(why)
	}
}

// fail turns a read error into the error Next returns.
func (r *Reader) fail(err error) error {
	switch {
	case r.inputCut():
		// The compressed stream was cut, maybe exactly between two
		// records of the capture inside: report that as truncation too.
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	case err == io.EOF:
		return io.EOF
	case !isEOF(err):
		return fmt.Errorf("capture: frame %d: %w", r.records+1, err)
	}
	r.stats.Truncated = true
	return fmt.Errorf("%w: frame %d: %w", ErrTruncated, r.records+1, err)
}

// inputCut reports whether the gzip stream under the capture ended early.
func (r *Reader) inputCut() bool {
	return r.gz != nil && r.gz.cut
}

// gzipSource is the decompressed stream of a gzip-compressed capture. A
// compressed stream that ends early makes gzip.Reader fail with
// io.ErrUnexpectedEOF, which the pcap readers do not always pass on
// recognizably. gzipSource notes the cut and reports a plain io.EOF
// instead, so the pcap readers see the same end of input as for an
// uncompressed file cut at that point.
type gzipSource struct {
	zr  *gzip.Reader
	cut bool
}

func (g *gzipSource) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		g.cut = true
		err = io.EOF
	}
	return n, err
}

// convert turns one record into an Ethernet frame.
func (r *Reader) convert(pk *packet) (Frame, skipReason) {
	if pk.oversized {
		return Frame{}, skipOversized
	}
	data, kind := pk.data, pk.kind
	if len(data) == 0 {
		return Frame{}, skipEmpty
	}
	wire := max(pk.wire, len(data))
	if kind == kindEthernet {
		if len(data) < ethHeaderLen {
			return Frame{}, skipShort
		}
		return Frame{Time: pk.ts, Data: data, OrigLen: wire}, skipNone
	}
	etherType, hdrLen, why := unwrap(kind, data)
	if why != skipNone {
		return Frame{}, why
	}
	payload := data[hdrLen:]
	n := ethHeaderLen + len(payload)
	if cap(r.buf) < n {
		r.buf = make([]byte, n, max(n, 2*cap(r.buf)))
	}
	b := r.buf[:n]
	clear(b[:12]) // destination and source MAC
	binary.BigEndian.PutUint16(b[12:14], etherType)
	copy(b[ethHeaderLen:], payload)
	return Frame{Time: pk.ts, Data: b, OrigLen: wire - hdrLen + ethHeaderLen}, skipNone
}

// count records a skipped record.
func (r *Reader) count(why skipReason) {
	s := &r.stats.Skipped
	switch why {
	case skipEmpty:
		s.Empty++
	case skipShort:
		s.Short++
	case skipUnknownProtocol:
		s.UnknownProtocol++
	case skipUnsupportedLinkType:
		s.UnsupportedLinkType++
	case skipOversized:
		s.Oversized++
	}
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	return r.stats
}

// Close releases the Reader and closes the file if it came from Open.
// Later calls to Next return an error.
func (r *Reader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("capture: reader closed")
	}
	var err error
	if r.gz != nil {
		err = r.gz.zr.Close()
		r.gz = nil
	}
	if r.file != nil {
		if cerr := r.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("capture: %w", cerr)
		}
		r.file = nil
	}
	return err
}
