package rejectlog

import "bytes"

// nulLine is the line the readers deliver for a run of NUL bytes: the run
// cut to one byte, as an over-long line is cut to MaxLineLength+1 bytes,
// so that the parser counts it as garbage ([ErrNULRun]).
const nulLine = "\x00"

// splitter cuts a byte stream into lines, for [Scan] and the follower.
//
// A line ends at "\n". A run of NUL bytes, what a crash leaves of blocks
// the file system had allocated but not written, ends a line too (with a
// newline right after it) and is delivered as [nulLine]: the line after
// the run is read whole instead of being glued to the run and dropped as
// too long. Lines are cut at MaxLineLength+1 bytes, enough for the parser
// to count them as too long, so memory does not grow with a line or a run.
type splitter struct {
	pending []byte // the incomplete line, at most MaxLineLength+1 bytes
	inNUL   bool   // the stream is in a NUL run
	lines   []string
	ends    []int64 // offset after each line (its newline, or its run)
}

// feed splits data, which starts at offset base of the stream.
func (s *splitter) feed(data []byte, base int64) {
	for len(data) > 0 {
		if s.inNUL {
			i := 0
			for i < len(data) && data[i] == 0 {
				i++
			}
			if i == len(data) {
				return // the run goes on
			}
			if data[i] == '\n' {
				i++
			}
			s.inNUL = false
			s.emit(nulLine, base+int64(i))
			data, base = data[i:], base+int64(i)
			continue
		}
		nl := bytes.IndexByte(data, '\n')
		seg := data
		if nl >= 0 {
			seg = data[:nl]
		}
		if z := bytes.IndexByte(seg, 0); z >= 0 {
			s.add(seg[:z])
			if len(s.pending) > 0 {
				s.emit(string(s.pending), base+int64(z))
			}
			s.inNUL = true
			data, base = data[z:], base+int64(z)
			continue
		}
		if nl < 0 {
			s.add(data)
			return
		}
		end := base + int64(nl) + 1
		if len(s.pending) == 0 {
			s.emit(string(seg[:min(len(seg), MaxLineLength+1)]), end)
		} else {
			s.add(seg)
			s.emit(string(s.pending), end)
		}
		data, base = data[nl+1:], end
	}
}

// flush ends the stream at offset end: an incomplete last line or a NUL
// run at the end is delivered as it is.
func (s *splitter) flush(end int64) {
	switch {
	case s.inNUL:
		s.inNUL = false
		s.emit(nulLine, end)
	case len(s.pending) > 0:
		s.emit(string(s.pending), end)
	}
}

// holding reports whether an incomplete line or a NUL run is held back.
func (s *splitter) holding() bool { return s.inNUL || len(s.pending) > 0 }

// reset forgets the incomplete line and the run (a new file, or the same
// one read again).
func (s *splitter) reset() {
	s.pending, s.inNUL = s.pending[:0], false
}

// take returns the complete lines so far and forgets them; the slices are
// reused by the next feed.
func (s *splitter) take() ([]string, []int64) {
	lines, ends := s.lines, s.ends
	s.lines, s.ends = s.lines[:0], s.ends[:0]
	return lines, ends
}

// add appends b to the incomplete line, dropping what goes beyond
// MaxLineLength+1 bytes.
func (s *splitter) add(b []byte) {
	if room := MaxLineLength + 1 - len(s.pending); room > 0 {
		s.pending = append(s.pending, b[:min(room, len(b))]...)
	}
}

func (s *splitter) emit(line string, end int64) {
	s.lines = append(s.lines, line)
	s.ends = append(s.ends, end)
	s.pending = s.pending[:0]
}
