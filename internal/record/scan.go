package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Window selects records by time (an attempt's or association's
// FirstSeen, a rejection's Time): Since <= t < Until; a zero bound is open.
type Window struct {
	Since, Until time.Time
}

// Contains reports whether t is inside w.
func (w Window) Contains(t time.Time) bool {
	return (w.Since.IsZero() || !t.Before(w.Since)) && (w.Until.IsZero() || t.Before(w.Until))
}

// Stats counts what a scan read and skipped.
type Stats struct {
	Lines    int // lines read
	Bad      int // lines that did not parse (skipped)
	TooLong  int // of Bad: lines longer than MaxLine (skipped unread)
	Filtered int // lines outside the window
	// FirstBad describes the first bad line.
	FirstBad string
}

func (st *Stats) bad(name string, err error) {
	st.Bad++
	if st.FirstBad == "" {
		st.FirstBad = fmt.Sprintf("%s line %d: %v", name, st.Lines, err)
	}
}

// scan decodes each line of r into a fresh T and calls fn for those inside
// w (all of them when at is nil). Empty lines are passed over; lines that
// do not parse are skipped and counted, and so are lines over MaxLine,
// which are never held whole.
func scan[T any](r io.Reader, name string, w Window, at func(*T) time.Time, fn func(*T) error) (Stats, error) {
	var st Stats
	lr := NewLineReader(r, MaxLine)
	for {
		line, err := lr.Next()
		if err == io.EOF {
			return st, nil
		}
		st.Lines++
		if errors.Is(err, ErrLineTooLong) {
			st.TooLong++
			st.bad(name, err)
			continue
		}
		if err != nil {
			return st, fmt.Errorf("%s line %d: %w", name, st.Lines, err)
		}
		if len(line) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			st.bad(name, err)
			continue
		}
		if at != nil && !w.Contains(at(&v)) {
			st.Filtered++
			continue
		}
		if err := fn(&v); err != nil {
			return st, err
		}
	}
}

// ScanAttempts calls fn for each attempt of r (attempts.jsonl) inside w.
// Lines that do not parse are skipped and counted.
func ScanAttempts(r io.Reader, w Window, fn func(*Attempt) error) (Stats, error) {
	return scan(r, AttemptsFile, w, func(a *Attempt) time.Time { return a.FirstSeen }, fn)
}

// ScanAssociations calls fn for each association of r (associations.jsonl)
// inside w. Lines that do not parse are skipped and counted.
func ScanAssociations(r io.Reader, w Window, fn func(*Association) error) (Stats, error) {
	return scan(r, AssociationsFile, w, func(a *Association) time.Time { return a.FirstSeen }, fn)
}
