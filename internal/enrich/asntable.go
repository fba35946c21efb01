package enrich

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// TableEntry is one prefix of an offline ASN table.
type TableEntry struct {
	Prefix netip.Prefix
	ASN    uint32
	Name   string
}

// LineError is a line of an ASN table that could not be used.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e LineError) Unwrap() error { return e.Err }

// maxLineErrors bounds the line errors an ASNTable keeps; all are counted.
const maxLineErrors = 100

// ASNTable maps prefixes to origin ASNs for sensors that cannot ask Team
// Cymru. Lookups find the longest matching prefix. It is read-only once
// built and safe for concurrent use.
type ASNTable struct {
	// Per family: entries by (masked) prefix, and the prefix lengths in
	// use, longest first. A lookup tries each length once.
	v4, v6       map[netip.Prefix]TableEntry
	lens4, lens6 []int
	badLines
}

// badLines counts the lines of a table file that did not parse, keeping
// the first maxLineErrors of them with their line numbers.
type badLines struct {
	bad      int
	lineErrs []LineError
}

func (b *badLines) note(line int, err error) {
	b.bad++
	if len(b.lineErrs) < maxLineErrors {
		b.lineErrs = append(b.lineErrs, LineError{Line: line, Err: err})
	}
}

// BadLines returns the number of lines that could not be parsed.
func (b *badLines) BadLines() int { return b.bad }

// LineErrors returns the first (up to 100) unparsable lines.
func (b *badLines) LineErrors() []LineError { return slices.Clone(b.lineErrs) }

// readLines calls fn with every line of r (its 1-based number, and the
// line without its newline). Lines have no length limit.
func readLines(r io.Reader, fn func(n int, line string)) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if line != "" {
			fn(n, strings.TrimRight(line, "\r\n"))
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// LoadASNTable reads an ASN table file; see [ReadASNTable].
func LoadASNTable(path string) (*ASNTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("asn table: %w", err)
	}
	defer f.Close()
	t, err := ReadASNTable(f)
	if err != nil {
		return nil, fmt.Errorf("asn table %s: %w", path, err)
	}
	return t, nil
}

// ReadASNTable reads lines "prefix<TAB>asn<TAB>name" (the name is
// optional; the AS number may be written AS64500). IPv4 and IPv6 prefixes
// may be mixed; blank lines and lines starting with # are skipped. Lines
// that cannot be parsed are counted ([ASNTable.BadLines]) and the first
// of them kept with their line numbers ([ASNTable.LineErrors]); they are
// not fatal. A later line for the same prefix replaces an earlier one.
// Only a read error fails.
func ReadASNTable(r io.Reader) (*ASNTable, error) {
	t := &ASNTable{
		v4: make(map[netip.Prefix]TableEntry),
		v6: make(map[netip.Prefix]TableEntry),
	}
	err := readLines(r, func(n int, line string) {
		e, skip, perr := parseTableLine(line)
		switch {
		case perr != nil:
			t.note(n, perr)
		case !skip:
			t.add(e)
		}
	})
	if err != nil {
		return nil, err
	}
	t.lens4 = prefixLengths(t.v4)
	t.lens6 = prefixLengths(t.v6)
	return t, nil
}

func (t *ASNTable) add(e TableEntry) {
	if e.Prefix.Addr().Is4() {
		t.v4[e.Prefix] = e
	} else {
		t.v6[e.Prefix] = e
	}
}

func prefixLengths(m map[netip.Prefix]TableEntry) []int {
	var seen [129]bool
	for p := range m {
		seen[p.Bits()] = true
	}
	var lens []int
	for l := len(seen) - 1; l >= 0; l-- {
		if seen[l] {
			lens = append(lens, l)
		}
	}
	return lens
}

// parseTableLine parses one line of an ASN table. skip is true for blank
// lines and comments.
func parseTableLine(line string) (e TableEntry, skip bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	trimmed := strings.TrimSpace(line)
	if trimmed == "" || trimmed[0] == '#' {
		return TableEntry{}, true, nil
	}
	fields := strings.SplitN(trimmed, "\t", 3)
	if len(fields) < 2 {
		return TableEntry{}, false, errors.New("want prefix<TAB>asn<TAB>name")
	}
	p, err := parseTablePrefix(strings.TrimSpace(fields[0]))
	if err != nil {
		return TableEntry{}, false, err
	}
	asn, err := parseASN(strings.TrimSpace(fields[1]))
	if err != nil {
		return TableEntry{}, false, err
	}
	e = TableEntry{Prefix: p, ASN: asn}
	if len(fields) == 3 {
		e.Name = strings.TrimSpace(fields[2])
	}
	return e, false, nil
}

// parseTablePrefix parses a prefix or a bare address (a host prefix),
// masks it, and writes IPv4-mapped IPv6 prefixes of length 96 or more as
// IPv4 prefixes, since lookups unmap addresses.
func parseTablePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Lookup returns the entry of the longest prefix containing ip.
func (t *ASNTable) Lookup(ip netip.Addr) (TableEntry, bool) {
	if t == nil || !ip.IsValid() {
		return TableEntry{}, false
	}
	ip = ip.Unmap().WithZone("")
	m, lens := t.v6, t.lens6
	if ip.Is4() {
		m, lens = t.v4, t.lens4
	}
	for _, l := range lens {
		p, err := ip.Prefix(l)
		if err != nil {
			continue
		}
		if e, ok := m[p]; ok {
			return e, true
		}
	}
	return TableEntry{}, false
}

// Len returns the number of prefixes in the table.
func (t *ASNTable) Len() int { return len(t.v4) + len(t.v6) }
