// Package results is about a measurement's results directory (or store):
// where its attempts.jsonl and associations.jsonl are read from, and the
// rules the report and the blocklist share. The lines themselves are
// package record's.
package results

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// ParseTime parses a --since/--until bound: RFC 3339 (with or without
// fractional seconds) or a date (2006-01-02, midnight UTC). The empty
// string is the zero time (an open bound).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2006-01-02T15:04:05Z) or a date (2006-01-02)", s)
}

// SpammerHost is the rule the report and the blocklist share: an IPv6
// source is a spammer host when most of its associations (with an IPv4
// attempt or address) point to a listed IPv4. One wrong association of a
// busy host, a misbehaving MTA trying every few seconds, does not make it
// one; a tie does not either.
func SpammerHost(associated, spammer int) bool { return 2*spammer > associated }

// Source is where results are read from: a directory of JSON-lines files
// (Dir) or a store (internal/store).
type Source interface {
	// Open returns the content of record.AttemptsFile or
	// record.AssociationsFile as JSON lines.
	Open(name string) (io.ReadCloser, error)
	String() string
}

// Dir is a results directory written by analyze or run --out.
type Dir string

// Open opens dir/name.
func (d Dir) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(d), name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: not a results directory (no %s; write one with mxsensor analyze or run --out)", d, name)
		}
		return nil, err
	}
	return f, nil
}

func (d Dir) String() string { return string(d) }

// Scan scans the named results of src with scanFile.
func Scan(src Source, name string, scanFile func(io.Reader) (record.Stats, error)) (record.Stats, error) {
	r, err := src.Open(name)
	if err != nil {
		return record.Stats{}, err
	}
	defer r.Close()
	st, err := scanFile(r)
	if err != nil {
		return st, fmt.Errorf("%s: %s: %w", src, name, err)
	}
	return st, nil
}

// ScanDir scans the named file of a results directory with scanFile.
func ScanDir(dir, name string, scanFile func(io.Reader) (record.Stats, error)) (record.Stats, error) {
	return Scan(Dir(dir), name, scanFile)
}

// teredo is 2001::/32: the bits after it name a Teredo server, flags and a
// NAT port shared by unrelated clients, not a site.
var teredo = netip.MustParsePrefix("2001::/32")

// Teredo reports whether ip is a Teredo address (2001::/32).
func Teredo(ip netip.Addr) bool { return teredo.Contains(ip) }

// HostPrefix returns the /bits prefix of an IPv6 source for grouping by
// site (report, blocklist): a Teredo address is its own prefix.
func HostPrefix(ip netip.Addr, bits int) netip.Prefix {
	if Teredo(ip) {
		bits = 128
	}
	return Prefix(ip, bits)
}

// Prefix returns the prefix of length bits containing ip.
func Prefix(ip netip.Addr, bits int) netip.Prefix {
	p, _ := ip.Prefix(bits)
	return p
}
