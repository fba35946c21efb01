package blocklist

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/mxsensor/mxsensor/internal/record"
)

// MaxAllowlist bounds the prefixes of an allowlist file.
const MaxAllowlist = 1 << 20

// Allowlist is a set of IPv6 prefixes never to list. The zero value and
// nil allow nothing.
type Allowlist struct {
	// sorted by address, then length: the prefixes inside a listed prefix
	// are found by one binary search.
	prefixes []netip.Prefix
	// lens are the lengths present, so the allowlisted prefixes holding a
	// listed prefix are found with one probe of byPrefix per length.
	lens     []int
	byPrefix map[netip.Prefix]struct{}
	// IPv4 counts the IPv4 lines: accepted, so that one file can serve an
	// IPv4 tool too, and without effect on an IPv6 list.
	IPv4 int
}

// NewAllowlist returns the allowlist of ps (IPv4 prefixes are counted and
// have no effect).
func NewAllowlist(ps []netip.Prefix) *Allowlist {
	a := &Allowlist{byPrefix: make(map[netip.Prefix]struct{}, len(ps))}
	for _, p := range ps {
		a.add(p)
	}
	a.finish()
	return a
}

func (a *Allowlist) add(p netip.Prefix) {
	if p.Addr().Is4() {
		a.IPv4++
		return
	}
	p = p.Masked()
	if _, dup := a.byPrefix[p]; dup {
		return
	}
	a.byPrefix[p] = struct{}{}
	a.prefixes = append(a.prefixes, p)
	if !slices.Contains(a.lens, p.Bits()) {
		a.lens = append(a.lens, p.Bits())
	}
}

func (a *Allowlist) finish() {
	slices.SortFunc(a.prefixes, comparePrefix)
	slices.Sort(a.lens)
}

// Len returns the number of IPv6 prefixes.
func (a *Allowlist) Len() int {
	if a == nil {
		return 0
	}
	return len(a.prefixes)
}

// Overlaps reports whether p holds an allowlisted prefix or is held by
// one.
func (a *Allowlist) Overlaps(p netip.Prefix) bool {
	if a.Len() == 0 || !p.IsValid() {
		return false
	}
	p = p.Masked()
	for _, bits := range a.lens {
		if bits > p.Bits() {
			break
		}
		q, err := p.Addr().Prefix(bits)
		if err != nil {
			continue
		}
		if _, ok := a.byPrefix[q]; ok {
			return true
		}
	}
	// An allowlisted prefix inside p starts at or after p's first address,
	// and the first such one in address order is inside p if any is.
	i, _ := slices.BinarySearchFunc(a.prefixes, p, comparePrefix)
	return i < len(a.prefixes) && p.Contains(a.prefixes[i].Addr())
}

// ReadAllowlist reads an allowlist: one IPv6 or IPv4 prefix or address a
// line, '#' starting a comment, blank lines skipped. Anything else is an
// error naming name and the line: a typo must not list a network the
// operator meant to protect.
func ReadAllowlist(r io.Reader, name string) (*Allowlist, error) {
	a := &Allowlist{byPrefix: make(map[netip.Prefix]struct{})}
	lr := record.NewLineReader(r, record.MaxLine)
	for n := 1; ; n++ {
		b, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		line, _, _ := strings.Cut(string(b), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, err := parsePrefix(line)
		if strings.Contains(line, "%") {
			err = errors.New("a zone has no place in a prefix")
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a prefix or an address: %w", name, n, line, err)
		}
		if len(a.prefixes) >= MaxAllowlist {
			return nil, fmt.Errorf("%s:%d: more than %d prefixes", name, n, MaxAllowlist)
		}
		a.add(p)
	}
	a.finish()
	return a, nil
}

// LoadAllowlist reads the allowlist file path.
func LoadAllowlist(path string) (*Allowlist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the allowlist: %w", err)
	}
	defer f.Close()
	return ReadAllowlist(f, path)
}
