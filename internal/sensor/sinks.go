package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/linefile"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// OutputRetry is how often an output that failed (a full disk) is tried
// again; what comes in between is dropped and counted.
const OutputRetry = time.Second

// JSONLines writes events as JSON lines, buffered.
type JSONLines struct {
	f      *linefile.File
	buf    []byte
	name   string
	strict bool // return the first failure instead of dropping (tools)
}

// NewJSONLines writes to path, "-" meaning standard output, for tools: the
// first write that fails is returned. Existing files are appended to.
func NewJSONLines(path string) (*JSONLines, error) {
	j, err := OpenEvents(path, nil)
	if j != nil {
		j.strict = true
	}
	return j, err
}

// OpenEvents writes the agent's events to path, "-" meaning standard
// output. Existing files are appended to, after a torn last line is cut
// off. A write that fails (full disk) never stops the agent: the events are
// dropped and counted, and writing resumes when it can.
func OpenEvents(path string, log *zap.Logger) (*JSONLines, error) {
	cfg := linefile.Config{Name: "events", Log: log, Retry: OutputRetry}
	if path == "-" {
		return &JSONLines{f: linefile.New(nopCloser{os.Stdout}, 0, cfg), name: "stdout"}, nil
	}
	f, err := linefile.Open(path, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening events file: %w", err)
	}
	return &JSONLines{f: f, name: path}, nil
}

// NewJSONLinesWriter writes to w (not closed by Close), for tools.
func NewJSONLinesWriter(w io.Writer) *JSONLines {
	return &JSONLines{f: linefile.New(nopCloser{w}, 0, linefile.Config{Name: "events"}), name: "writer", strict: true}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Write implements Sink.
func (j *JSONLines) Write(ev *synevent.Event) error {
	j.buf = ev.AppendJSON(j.buf[:0])
	j.buf = append(j.buf, '\n')
	j.f.Write(j.buf)
	return j.failure("writing")
}

// failure is the error a strict writer returns once its output failed.
func (j *JSONLines) failure(op string) error {
	if err := j.f.Err(); err != nil && j.strict {
		return fmt.Errorf("%s events to %s: %w", op, j.name, err)
	}
	return nil
}

// Flush implements Sink.
func (j *JSONLines) Flush() error {
	j.f.Flush()
	return j.failure("flushing")
}

// Close implements Sink.
func (j *JSONLines) Close() error {
	j.f.Flush()
	err := j.failure("flushing")
	return errors.Join(err, j.f.Close())
}

// Outputs reports the events file's drops (for the metrics).
func (j *JSONLines) Outputs(fn func(name string, dropped uint64, failing bool)) {
	fn("events", j.f.Dropped(), j.f.Failing())
}

// PcapSink writes each SYN, rebuilt from its record, to a rotating pcap
// file. A write that fails (full disk) drops the frames not yet on disk,
// cuts the file back to its last whole record and closes it; once a second
// a new file is tried (the old one rotates out as path.1).
type PcapSink struct {
	path     string
	maxBytes int64
	keep     int
	now      func() time.Time

	w       *capture.RotatingWriter
	pending uint64 // frames written since the last flush that worked
	*linefile.Drops
}

// NewPcapSink opens path; files rotate at maxBytes keeping keep old generations.
func NewPcapSink(path string, maxBytes int64, keep int, log *zap.Logger) (*PcapSink, error) {
	w, err := capture.NewRotatingWriter(path, maxBytes, keep, 0)
	if err != nil {
		return nil, err
	}
	return &PcapSink{path: path, maxBytes: maxBytes, keep: keep, now: time.Now, w: w,
		Drops: linefile.NewDrops("pcap", log, OutputRetry, 10*time.Second)}, nil
}

// Write implements Sink.
func (p *PcapSink) Write(ev *synevent.Event) error {
	if p.w == nil {
		now := p.now()
		if !p.Due(now) {
			p.Drop(1, now)
			return nil
		}
		w, err := capture.NewRotatingWriter(p.path, p.maxBytes, p.keep, 0)
		if err != nil {
			p.Fail(err, 1, now)
			return nil
		}
		p.w = w
		// Written through at once: the disk may still be full.
		if err := p.w.WriteFrame(ev.Time, ev.Frame()); err != nil {
			p.fail(err, 1)
			return nil
		}
		p.pending = 1
		if err := p.w.Flush(); err != nil {
			p.fail(err, 0)
			return nil
		}
		p.pending = 0
		p.Resume()
		return nil
	}
	if err := p.w.WriteFrame(ev.Time, ev.Frame()); err != nil {
		p.fail(err, 1)
		return nil
	}
	p.pending++
	return nil
}

// fail drops the frames not on disk (plus n), closes the broken writer and
// cuts its file back to the last whole record.
func (p *PcapSink) fail(err error, n uint64) {
	_ = p.w.Close()
	p.w = nil
	if _, rerr := repairPcap(p.path); rerr != nil {
		err = errors.Join(err, rerr)
	}
	p.Fail(err, p.pending+n, p.now())
	p.pending = 0
}

// Flush implements Sink.
func (p *PcapSink) Flush() error {
	if p.w == nil {
		return nil
	}
	if err := p.w.Flush(); err != nil {
		p.fail(err, 0)
		return nil
	}
	p.pending = 0
	return nil
}

// Close implements Sink.
func (p *PcapSink) Close() error {
	p.Closing()
	if p.w == nil {
		return nil
	}
	if err := p.w.Flush(); err != nil {
		p.fail(err, 0)
		return nil
	}
	return p.w.Close()
}

// Outputs reports the capture's drops (for the metrics).
func (p *PcapSink) Outputs(fn func(name string, dropped uint64, failing bool)) {
	fn("pcap", p.Dropped(), p.Failing())
}

// repairPcap cuts a pcap file back to its last whole record and returns
// the bytes cut. A file too short for its header is emptied.
func repairPcap(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	const fileHeader, recHeader = 24, 16
	var hdr [recHeader]byte
	good := int64(0)
	if size >= fileHeader {
		if _, err := f.ReadAt(hdr[:4], 0); err != nil {
			return 0, err
		}
		var bo binary.ByteOrder = binary.LittleEndian
		if m := binary.BigEndian.Uint32(hdr[:4]); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
			bo = binary.BigEndian
		}
		good = fileHeader
		for good+recHeader <= size {
			if _, err := f.ReadAt(hdr[:], good); err != nil {
				return 0, err
			}
			end := good + recHeader + int64(bo.Uint32(hdr[8:12]))
			if end > size {
				break
			}
			good = end
		}
	}
	if good == size {
		return 0, nil
	}
	return size - good, f.Truncate(good)
}
