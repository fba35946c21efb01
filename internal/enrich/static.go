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

	"github.com/miekg/dns"
)

// PTRTable is a static map from addresses to reverse names, read from a
// file of "address name" lines (# comments, blank lines allowed): reverse
// DNS collected when the capture was made, for offline analysis.
type PTRTable struct {
	names    map[netip.Addr]string
	bad      int
	lineErrs []LineError
}

// LoadPTRTable reads a PTR table file.
func LoadPTRTable(path string) (*PTRTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ptr table: %w", err)
	}
	defer f.Close()
	t, err := ReadPTRTable(f)
	if err != nil {
		return nil, fmt.Errorf("ptr table %s: %w", path, err)
	}
	return t, nil
}

// ReadPTRTable reads a PTR table. Bad lines are skipped and counted (the
// first few kept in LineErrors); a table with bad lines only is an error.
func ReadPTRTable(r io.Reader) (*PTRTable, error) {
	t := &PTRTable{names: map[netip.Addr]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := t.parseLine(line); err != nil {
			t.bad++
			if len(t.lineErrs) < maxLineErrors {
				t.lineErrs = append(t.lineErrs, LineError{Line: n, Err: err})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.names) == 0 && t.bad > 0 {
		return nil, fmt.Errorf("no valid line (%d bad; first: %v)", t.bad, t.lineErrs[0])
	}
	return t, nil
}

func (t *PTRTable) parseLine(line string) error {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return errors.New("want: address name")
	}
	a, err := netip.ParseAddr(fields[0])
	if err != nil {
		return err
	}
	if a.Zone() != "" {
		return fmt.Errorf("address %q has a zone", fields[0])
	}
	name := strings.TrimSuffix(fields[1], ".")
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return fmt.Errorf("bad name %q", fields[1])
	}
	t.names[a.Unmap()] = name
	return nil
}

// Lookup returns the name of ip.
func (t *PTRTable) Lookup(ip netip.Addr) (string, bool) {
	n, ok := t.names[ip.Unmap()]
	return n, ok
}

// Len is the number of addresses named.
func (t *PTRTable) Len() int { return len(t.names) }

// BadLines is the number of lines skipped.
func (t *PTRTable) BadLines() int { return t.bad }

// LineErrors returns the first errors of skipped lines.
func (t *PTRTable) LineErrors() []LineError { return slices.Clone(t.lineErrs) }

// StaticNames answers origin AS and reverse-name questions from tables
// (either may be nil), at once and without the network.
type StaticNames struct {
	ASNs *ASNTable
	PTRs *PTRTable
}

// Origin returns the origin AS of ip from the ASN table.
func (s StaticNames) Origin(ip netip.Addr) (uint32, bool) {
	if s.ASNs == nil {
		return 0, false
	}
	e, ok := s.ASNs.Lookup(ip)
	if !ok || e.ASN == 0 {
		return 0, false
	}
	return e.ASN, true
}

// PTR returns the reverse name of ip from the PTR table.
func (s StaticNames) PTR(ip netip.Addr) (string, bool) {
	if s.PTRs == nil {
		return "", false
	}
	return s.PTRs.Lookup(ip)
}
