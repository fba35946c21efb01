package sensor

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// JSONLines writes events as JSON lines, buffered.
type JSONLines struct {
	w      *bufio.Writer
	closer io.Closer // nil for stdout
	buf    []byte
	name   string
}

// NewJSONLines writes to path, "-" meaning standard output. Existing files are appended to.
func NewJSONLines(path string) (*JSONLines, error) {
	if path == "-" {
		return &JSONLines{w: bufio.NewWriterSize(os.Stdout, 64<<10), name: "stdout"}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening events file: %w", err)
	}
	return &JSONLines{w: bufio.NewWriterSize(f, 64<<10), closer: f, name: path}, nil
}

// NewJSONLinesWriter writes to w (not closed by Close).
func NewJSONLinesWriter(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), name: "writer"}
}

// Write implements Sink.
func (j *JSONLines) Write(ev *synevent.Event) error {
	j.buf = ev.AppendJSON(j.buf[:0])
	j.buf = append(j.buf, '\n')
	if _, err := j.w.Write(j.buf); err != nil {
		return fmt.Errorf("writing events to %s: %w", j.name, err)
	}
	return nil
}

// Flush implements Sink.
func (j *JSONLines) Flush() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flushing events to %s: %w", j.name, err)
	}
	return nil
}

// Close implements Sink.
func (j *JSONLines) Close() error {
	err := j.Flush()
	if j.closer != nil {
		if cerr := j.closer.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// PcapSink writes each SYN, rebuilt from its record, to a rotating pcap file.
type PcapSink struct {
	w *capture.RotatingWriter
}

// NewPcapSink opens path; files rotate at maxBytes keeping keep old generations.
func NewPcapSink(path string, maxBytes int64, keep int) (*PcapSink, error) {
	w, err := capture.NewRotatingWriter(path, maxBytes, keep, 0)
	if err != nil {
		return nil, err
	}
	return &PcapSink{w: w}, nil
}

// Write implements Sink.
func (p *PcapSink) Write(ev *synevent.Event) error { return p.w.WriteFrame(ev.Time, ev.Frame()) }

// Flush implements Sink.
func (p *PcapSink) Flush() error { return p.w.Flush() }

// Close implements Sink.
func (p *PcapSink) Close() error { return p.w.Close() }
