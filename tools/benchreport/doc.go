package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/mxsensor/mxsensor/internal/atomicfile"
)

// The region of the benchmarks document that a run rewrites lies between
// these two markers; everything outside them is hand-written and kept.
const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceRegion returns doc with the text between the markers replaced by
// body. The markers and every byte outside them are kept as they are.
func replaceRegion(doc []byte, body string) ([]byte, error) {
	for _, m := range []string{beginMarker, endMarker} {
		switch n := bytes.Count(doc, []byte(m)); n {
		case 0:
			return nil, fmt.Errorf("marker %s not found: add %s and %s on lines of their own where the figures go",
				m, beginMarker, endMarker)
		case 1:
		default:
			return nil, fmt.Errorf("marker %s found %d times, want once", m, n)
		}
	}
	b := bytes.Index(doc, []byte(beginMarker)) + len(beginMarker)
	e := bytes.Index(doc, []byte(endMarker))
	if e < b {
		return nil, fmt.Errorf("marker %s comes before %s", endMarker, beginMarker)
	}
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	out := make([]byte, 0, len(doc)+len(body))
	out = append(out, doc[:b]...)
	out = append(out, '\n')
	out = append(out, body...)
	return append(out, doc[e:]...), nil
}

// writeRegion rewrites the region of the file at path with body. It writes a
// temporary file beside it and renames it over the original, so a reader
// never sees half a file, and an error leaves the original as it was.
func writeRegion(path, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceRegion(doc, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, fi.Mode().Perm(), func(f *os.File) error {
		if _, err := f.Write(out); err != nil {
			return err
		}
		// make bench runs as root: keep the file its owner's.
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			return f.Chown(int(st.Uid), int(st.Gid))
		}
		return nil
	})
}
