package dataplane

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// ErrClosed is returned by RingReader.Next after Close.
var ErrClosed = ringbuf.ErrClosed

// ErrTimeout is returned by RingReader.Next when the deadline passes.
var ErrTimeout = os.ErrDeadlineExceeded

// RingReader drains SYN records from the ring buffer without allocating per
// record: Next decodes into a Record owned by the reader.
type RingReader struct {
	rd  *ringbuf.Reader
	raw ringbuf.Record
	rec Record
	// Short counts samples too small to be a record (never expected: the
	// program only submits full records). They are skipped, not fatal.
	Short uint64
}

// NewRingReader opens a reader on the events ring. Only one reader should
// consume a ring: records read here are gone for everyone else.
func NewRingReader(events *ebpf.Map) (*RingReader, error) {
	rd, err := ringbuf.NewReader(events)
	if err != nil {
		return nil, fmt.Errorf("opening ring buffer reader: %w", err)
	}
	return &RingReader{rd: rd}, nil
}

// Next blocks until a record arrives (or the deadline passes, or the reader
// is closed) and returns it. The record is valid until the next call.
func (r *RingReader) Next() (*Record, error) {
	for {
		if err := r.rd.ReadInto(&r.raw); err != nil {
			return nil, err
		}
		if len(r.raw.RawSample) < RecordSize {
			r.Short++
			continue
		}
		// The sample is a struct mxs_syn_event in host byte order: copy it
		// out in place rather than decoding field by field.
		r.rec = *(*Record)(unsafe.Pointer(&r.raw.RawSample[0]))
		return &r.rec, nil
	}
}

// Remaining reports bytes still in the ring after the last Next.
func (r *RingReader) Remaining() int { return r.raw.Remaining }

// SetDeadline makes Next return ErrTimeout once t passes with no record;
// the zero time means no deadline.
func (r *RingReader) SetDeadline(t time.Time) { r.rd.SetDeadline(t) }

// Pending is the number of bytes written by the program and not yet consumed.
func (r *RingReader) Pending() int { return r.rd.AvailableBytes() }

// Size is the ring's data size in bytes.
func (r *RingReader) Size() int { return r.rd.BufferSize() }

// Close interrupts a blocked Next and releases the reader.
func (r *RingReader) Close() error { return r.rd.Close() }

// IsTimeout reports whether err is a Next deadline.
func IsTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// ReadCounters sums the counters of m, one slot per possible CPU, returning
// the total and the per-CPU values. m is the program's counters map: an array
// indexed by CPU, whose packets counter is the sum of the outcomes (the
// program does not bump it), or the per-CPU array that sensors before it
// pinned, which has its own.
func ReadCounters(m *ebpf.Map) (Counters, []Counters, error) {
	var per []Counters
	switch m.Type() {
	case ebpf.Array:
		per = make([]Counters, m.MaxEntries())
		var v mxsensorMxsCounters
		for cpu := range per {
			if err := m.Lookup(uint32(cpu), &v); err != nil {
				return Counters{}, nil, fmt.Errorf("reading counters of CPU %d: %w", cpu, err)
			}
			per[cpu] = Counters(v.C)
			per[cpu].fillPackets()
		}
	case ebpf.PerCPUArray:
		if err := m.Lookup(uint32(0), &per); err != nil {
			return Counters{}, nil, fmt.Errorf("reading counters: %w", err)
		}
	default:
		return Counters{}, nil, fmt.Errorf("reading counters: unexpected map type %v", m.Type())
	}
	var total Counters
	for i := range per {
		total.Add(&per[i])
	}
	return total, per, nil
}

// ReadCounters reads the program's counters.
func (o *Objects) ReadCounters() (Counters, []Counters, error) {
	return ReadCounters(o.objs.Counters)
}
