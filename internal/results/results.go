// Package results reads the measurement's output files (attempts.jsonl and
// associations.jsonl, as analyze and run write them) for the report, the
// blocklist and the DNSBL server.
package results

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside a results directory.
const (
	AttemptsFile     = "attempts.jsonl"
	AssociationsFile = "associations.jsonl"
)

// Attempt is one line of attempts.jsonl.
type Attempt struct {
	FirstSeen   time.Time  `json:"first_seen"`
	LastSeen    time.Time  `json:"last_seen"`
	Family      string     `json:"family"` // "ipv4" or "ipv6"
	Src         netip.Addr `json:"src"`
	SrcPort     uint16     `json:"sport"`
	Dst         netip.Addr `json:"dst"`
	DstPort     uint16     `json:"dport"`
	SYNs        int        `json:"syns"`
	OS          string     `json:"os"`
	OSClass     string     `json:"os_class"`
	Dist        int        `json:"dist"`
	RawSig      string     `json:"raw_sig"`
	AddrType    string     `json:"addr_type"`   // IPv6 only
	Blocklisted bool       `json:"blocklisted"` // IPv4 only
}

// IPv4Ref is the IPv4 side of an association. SrcPort and FirstSeen are
// zero when the association is to the address only.
type IPv4Ref struct {
	Src         netip.Addr `json:"src"`
	SrcPort     *uint16    `json:"sport"`
	FirstSeen   *time.Time `json:"first_seen"`
	Blocklisted bool       `json:"blocklisted"`
}

// AddressOnly reports an association with an IPv4 address but no attempt.
func (r *IPv4Ref) AddressOnly() bool { return r.FirstSeen == nil }

// Association is one line of associations.jsonl: the decision for one IPv6
// connect() attempt.
type Association struct {
	FirstSeen time.Time  `json:"first_seen"`
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"sport"`
	SYNs      int        `json:"syns"`
	OSClass   string     `json:"os_class"`
	AddrType  string     `json:"addr_type"`
	IPv4      *IPv4Ref   `json:"ipv4"`
	Score     float64    `json:"score"`
	Evidence  []string   `json:"evidence"`
	Spammer   bool       `json:"spammer"`
}

// Associated reports whether the attempt was associated (with an attempt
// or an address).
func (a *Association) Associated() bool { return a.IPv4 != nil }

// Window selects records by FirstSeen: Since <= t < Until; a zero bound is
// open.
type Window struct {
	Since, Until time.Time
}

// Contains reports whether t is inside w.
func (w Window) Contains(t time.Time) bool {
	return (w.Since.IsZero() || !t.Before(w.Since)) && (w.Until.IsZero() || t.Before(w.Until))
}

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

// Stats counts what a scan read and skipped.
type Stats struct {
	Lines    int // lines read
	Bad      int // lines that did not parse (skipped)
	TooLong  int // of Bad: lines longer than MaxLine (skipped unread)
	Filtered int // lines outside the window
	// FirstBad describes the first bad line.
	FirstBad string
}

// scan decodes each line of r into a fresh T and calls fn for those inside w.
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
			st.Bad++
			st.TooLong++
			if st.FirstBad == "" {
				st.FirstBad = fmt.Sprintf("%s line %d: %v", name, st.Lines, err)
			}
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
			st.Bad++
			if st.FirstBad == "" {
				st.FirstBad = fmt.Sprintf("%s line %d: %v", name, st.Lines, err)
			}
			continue
		}
		if !w.Contains(at(&v)) {
			st.Filtered++
			continue
		}
		if err := fn(&v); err != nil {
			return st, err
		}
	}
}

// ScanAttempts calls fn for each attempt of r inside w. Lines that do not
// parse are skipped and counted.
func ScanAttempts(r io.Reader, w Window, fn func(*Attempt) error) (Stats, error) {
	return scan(r, AttemptsFile, w, func(a *Attempt) time.Time { return a.FirstSeen }, fn)
}

// ScanAssociations calls fn for each association of r inside w. Lines that
// do not parse are skipped and counted.
func ScanAssociations(r io.Reader, w Window, fn func(*Association) error) (Stats, error) {
	return scan(r, AssociationsFile, w, func(a *Association) time.Time { return a.FirstSeen }, fn)
}

// Source is where results are read from: a directory of JSON-lines files
// (Dir) or a store (internal/store).
type Source interface {
	// Open returns the content of AttemptsFile or AssociationsFile as
	// JSON lines.
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
func Scan(src Source, name string, scanFile func(io.Reader) (Stats, error)) (Stats, error) {
	r, err := src.Open(name)
	if err != nil {
		return Stats{}, err
	}
	defer r.Close()
	st, err := scanFile(r)
	if err != nil {
		return st, fmt.Errorf("%s: %s: %w", src, name, err)
	}
	return st, nil
}

// ScanDir scans the named file of a results directory with scanFile.
func ScanDir(dir, name string, scanFile func(io.Reader) (Stats, error)) (Stats, error) {
	return Scan(Dir(dir), name, scanFile)
}

// teredo is 2001::/32: the bits after it name a Teredo server, flags and a
// NAT port shared by unrelated clients, not a site.
var teredo = netip.MustParsePrefix("2001::/32")

// HostPrefix returns the /bits prefix of an IPv6 source for grouping by
// site (report, blocklist): a Teredo address is its own prefix.
func HostPrefix(ip netip.Addr, bits int) netip.Prefix {
	if teredo.Contains(ip) {
		bits = 128
	}
	return Prefix(ip, bits)
}

// Prefix returns the prefix of length bits containing ip.
func Prefix(ip netip.Addr, bits int) netip.Prefix {
	p, _ := ip.Prefix(bits)
	return p
}
