package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/linefile"
	"github.com/mxsensor/mxsensor/internal/record"
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Append opens the files for appending instead of truncating them (a
	// restarted agent that replays its journal).
	Append bool
	// ReplayFrom, with Append, is the start of the journal to be replayed:
	// the files' lines of attempts that began after it are read back at
	// open, and a replayed attempt or association already in a file is not
	// written to it again.
	ReplayFrom time.Time
	// Live: a file that cannot be written drops and counts its lines and
	// the Writer's methods return no error (the agent never stops for an
	// output); offline, they return the file's error (analyze stops).
	Live bool
	// Log gets the warnings of failing files (nil: none).
	Log *zap.Logger
}

// Writer writes a measurement's results to DIR/attempts.jsonl and
// DIR/associations.jsonl, as the pipeline decides them (it is one of the
// pipeline's sinks). Appended to by the agent: a torn last line (a crash, a
// full disk) is cut off at open, and a full disk drops lines (counted),
// never stops it. It is not safe for concurrent use, except for Outputs.
type Writer struct {
	attempts, assoc *linefile.File
	// Keys of the lines the files held at open, back to
	// WriterConfig.ReplayFrom: what a replay must not write again.
	attemptKeys, assocKeys map[lineKey]struct{}
	live                   bool
	buf                    []byte
}

// OpenWriter creates dir and the two files in it (truncating earlier ones
// unless cfg.Append).
func OpenWriter(dir string, cfg WriterConfig) (*Writer, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	w := &Writer{live: cfg.Live}
	for _, name := range []string{record.AttemptsFile, record.AssociationsFile} {
		path := filepath.Join(dir, name)
		f, err := linefile.Open(path, linefile.Config{Name: strings.TrimSuffix(name, ".jsonl"), Truncate: !cfg.Append,
			BufSize: 256 << 10, Log: cfg.Log})
		if err != nil {
			w.closeFiles()
			return nil, fmt.Errorf("creating %s: %w", name, err)
		}
		var keys map[lineKey]struct{}
		if cfg.Append && !cfg.ReplayFrom.IsZero() {
			var skipped int
			keys, skipped, err = tailKeys(path, cfg.ReplayFrom)
			if err != nil {
				f.Close()
				w.closeFiles()
				return nil, err
			}
			if skipped > 0 {
				log.Warn("lines that are not results skipped while reading back for the replay",
					zap.String("file", path), zap.Int("skipped", skipped))
			}
		}
		if name == record.AttemptsFile {
			w.attempts, w.attemptKeys = f, keys
		} else {
			w.assoc, w.assocKeys = f, keys
		}
	}
	return w, nil
}

// WriteAttempt appends a's line, unless the file held it at open (a replay).
func (w *Writer) WriteAttempt(a *record.Attempt) error {
	if _, ok := w.attemptKeys[lineKey{a.Src, a.SrcPort, a.FirstSeen.UnixNano()}]; !ok {
		w.buf = a.AppendJSON(w.buf[:0])
		w.attempts.Write(w.buf)
	}
	return w.err()
}

// WriteAssociation appends a's line, unless the file held it at open.
func (w *Writer) WriteAssociation(a *record.Association) error {
	if _, ok := w.assocKeys[lineKey{a.Src, a.SrcPort, a.FirstSeen.UnixNano()}]; !ok {
		w.buf = a.AppendJSON(w.buf[:0])
		w.assoc.Write(w.buf)
	}
	return w.err()
}

// Flush writes the buffered lines out; a file that cannot be written
// drops and counts them.
func (w *Writer) Flush() error {
	w.attempts.Flush()
	w.assoc.Flush()
	return w.err()
}

// Close flushes and closes the files.
func (w *Writer) Close() error {
	err := w.Flush()
	return errors.Join(err, w.closeFiles())
}

func (w *Writer) closeFiles() error {
	var err error
	for _, f := range []*linefile.File{w.attempts, w.assoc} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	return err
}

// err is the error of a file that failed, offline only: the agent drops
// and counts (see Outputs), analyze stops.
func (w *Writer) err() error {
	if w.live {
		return nil
	}
	if err := errors.Join(w.attempts.Err(), w.assoc.Err()); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// Outputs reports the files' drops (for the metrics). Safe from any
// goroutine.
func (w *Writer) Outputs(fn func(name string, dropped uint64, failing bool)) {
	for _, f := range []*linefile.File{w.attempts, w.assoc} {
		fn(f.Name(), f.Dropped(), f.Failing())
	}
}

// lineKey identifies an attempt (or the IPv6 attempt of an association)
// in the results files.
type lineKey struct {
	src   netip.Addr
	sport uint16
	first int64 // first_seen, ns
}

// maxTailKeys bounds the keys read back at open.
const maxTailKeys = 1 << 20

// tailKeys reads path from its end back to the lines of attempts that
// began before from (closing order is nearly first_seen order) and returns
// their keys, and how many lines it skipped (not lines of ours, or over
// linefile.MaxTailLine).
func tailKeys(path string, from time.Time) (map[lineKey]struct{}, int, error) {
	keys := map[lineKey]struct{}{}
	cut := from.UnixNano()
	var l struct {
		FirstSeen time.Time  `json:"first_seen"`
		Src       netip.Addr `json:"src"`
		Sport     uint16     `json:"sport"`
	}
	bad := 0
	long, err := linefile.Tail(path, func(line []byte) bool {
		l.FirstSeen, l.Src, l.Sport = time.Time{}, netip.Addr{}, 0
		if json.Unmarshal(line, &l) != nil || !l.Src.IsValid() {
			bad++
			return true
		}
		t := l.FirstSeen.UnixNano()
		if t < cut {
			return false
		}
		keys[lineKey{l.Src, l.Sport, t}] = struct{}{}
		return len(keys) < maxTailKeys
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading back %s: %w", path, err)
	}
	return keys, bad + long, nil
}
