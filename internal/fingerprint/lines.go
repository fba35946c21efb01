package fingerprint

import (
	"io"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Record is the fingerprint record of the SYN ev that r is the verdict on.
func (r *Result) Record(ev *synevent.Event) record.Fingerprint {
	return record.Fingerprint{Time: ev.Time, Src: ev.Src, SrcPort: ev.SrcPort, Dst: ev.Dst, DstPort: ev.DstPort,
		Label: r.Label, OSClass: r.Class, Generic: r.Generic, Fuzzy: r.Fuzzy, Dist: r.Dist, RawSig: r.RawSig()}
}

// LineWriter writes the fingerprint of each SYN it is given to w as a
// line: p0f-like text or JSON (see [record.Fingerprint]).
type LineWriter struct {
	db   *DB
	w    io.Writer
	json bool
	buf  []byte
}

// NewLineWriter matches SYNs against db and writes their lines to w.
func NewLineWriter(w io.Writer, db *DB, asJSON bool) *LineWriter {
	return &LineWriter{db: db, w: w, json: asJSON}
}

// Write writes the line of ev.
func (l *LineWriter) Write(ev *synevent.Event) error {
	res := l.db.Match(ev)
	f := res.Record(ev)
	if l.json {
		l.buf = f.AppendJSON(l.buf[:0])
	} else {
		l.buf = f.AppendText(l.buf[:0])
	}
	_, err := l.w.Write(l.buf)
	return err
}
