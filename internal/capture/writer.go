package capture

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Sizes of the classic pcap format.
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

// DefaultSnaplen is used by NewRotatingWriter when snaplen is 0.
const DefaultSnaplen = 262144

// fileMode is the permission of the files the RotatingWriter creates.
const fileMode = 0o640

// RotatingWriter writes Ethernet frames to a classic pcap file with
// nanosecond timestamps and rotates it by size. Rotated files are named
// path.1 (newest) to path.keep (oldest). It is safe for concurrent use.
type RotatingWriter struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	keep     int
	snaplen  uint32

	f    *os.File
	bw   *bufio.Writer
	pw   *pcapgo.Writer
	size int64 // bytes written to the current file, header included
	err  error // sticky: set by the first failure and by Close
}

var errWriterClosed = errors.New("writer closed")

// NewRotatingWriter creates the pcap file at path. When writing a frame
// would make the file larger than maxBytes, the file is closed and rotated
// and a new one started; maxBytes 0 never rotates. At most keep rotated
// files are kept. Frames longer than snaplen are cut to snaplen bytes (0
// means DefaultSnaplen).
//
// A file already at path (from an earlier run) is rotated out of the way
// like a full one instead of being overwritten.
//
// A single frame larger than maxBytes still gets written, alone in its file.
func NewRotatingWriter(path string, maxBytes int64, keep int, snaplen uint32) (*RotatingWriter, error) {
	if maxBytes < 0 {
		return nil, fmt.Errorf("capture: %s: negative maxBytes %d", path, maxBytes)
	}
	if keep < 0 {
		return nil, fmt.Errorf("capture: %s: negative keep %d", path, keep)
	}
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	w := &RotatingWriter{path: path, maxBytes: maxBytes, keep: keep, snaplen: snaplen}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		if err := w.shift(); err != nil {
			return nil, err
		}
	}
	if err := w.create(); err != nil {
		return nil, err
	}
	return w, nil
}

// create starts a new file at w.path with a pcap file header.
func (w *RotatingWriter) create() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("capture: create %s: %w", w.path, err)
	}
	w.f = f
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, 64<<10)
	} else {
		w.bw.Reset(f)
	}
	w.pw = pcapgo.NewWriterNanos(w.bw)
	w.size = 0
	if err := w.pw.WriteFileHeader(w.snaplen, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("capture: write %s: %w", w.path, err)
	}
	w.size = pcapFileHeaderLen
	return nil
}

// closeFile flushes and closes the current file.
func (w *RotatingWriter) closeFile() error {
	if w.f == nil {
		return nil
	}
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return fmt.Errorf("capture: close %s: %w", w.path, err)
	}
	return nil
}

// generation returns the name of rotated file n.
func (w *RotatingWriter) generation(n int) string {
	return w.path + "." + strconv.Itoa(n)
}

// shift moves path.N-1 to path.N, ..., path to path.1, which drops the
// oldest generation. With keep 0 the current file is deleted instead.
func (w *RotatingWriter) shift() error {
	if w.keep == 0 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("capture: rotate %s: %w", w.path, err)
		}
		return nil
	}
	for n := w.keep - 1; n >= 1; n-- {
		err := os.Rename(w.generation(n), w.generation(n+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("capture: rotate %s: %w", w.path, err)
		}
	}
	if err := os.Rename(w.path, w.generation(1)); err != nil {
		return fmt.Errorf("capture: rotate %s: %w", w.path, err)
	}
	return nil
}

// rotate closes the current file, shifts the generations and starts a new
// file.
func (w *RotatingWriter) rotate() error {
	if err := w.closeFile(); err != nil {
		return err
	}
	if err := w.shift(); err != nil {
		return err
	}
	return w.create()
}

// WriteFrame appends an Ethernet frame captured at ts, rotating first if the
// record would push the file past maxBytes. A zero ts is written as the
// current time. After an error the writer is unusable; Close it.
func (w *RotatingWriter) WriteFrame(ts time.Time, frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	data := frame
	if uint64(len(data)) > uint64(w.snaplen) {
		data = data[:w.snaplen]
	}
	rec := int64(pcapRecordHeaderLen + len(data))
	if w.maxBytes > 0 && w.size > pcapFileHeaderLen && w.size+rec > w.maxBytes {
		if err := w.rotate(); err != nil {
			w.err = err
			return err
		}
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(frame)}
	if err := w.pw.WritePacket(ci, data); err != nil {
		w.err = fmt.Errorf("capture: write %s: %w", w.path, err)
		return w.err
	}
	w.size += rec
	return nil
}

// Flush writes buffered frames to the current file.
func (w *RotatingWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("capture: flush %s: %w", w.path, err)
		return w.err
	}
	return nil
}

// Close flushes and closes the current file. Closing twice is harmless;
// writing after Close fails.
func (w *RotatingWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.closeFile()
	if w.err == nil {
		w.err = fmt.Errorf("capture: %s: %w", w.path, errWriterClosed)
	}
	return err
}
