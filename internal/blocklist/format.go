package blocklist

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// Format is an output format.
type Format string

// Output formats.
const (
	// FormatRbldnsd is a data file for rbldnsd's ip6trie dataset.
	FormatRbldnsd Format = "rbldnsd"
	// FormatPlain is one prefix per line in CIDR form.
	FormatPlain Format = "plain"
	// FormatJSON is one JSON object (an Entry) per line.
	FormatJSON Format = "json"
)

// ParseFormat parses a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatRbldnsd, FormatPlain, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("format %q: %w", s, ErrFormat)
}

// ListedA is the A record of listed entries.
var ListedA = netip.AddrFrom4([4]byte{127, 0, 0, 2})

// Write writes l in format f; now is the generation time in the rbldnsd
// header.
func Write(w io.Writer, l *List, f Format, now time.Time) error {
	bw := bufio.NewWriter(w)
	switch f {
	case FormatRbldnsd:
		writeRbldnsd(bw, l, now)
	case FormatPlain:
		for _, e := range l.Entries {
			bw.WriteString(e.Prefix.String())
			bw.WriteByte('\n')
		}
	case FormatJSON:
		enc := json.NewEncoder(bw)
		for _, e := range l.Entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("format %q: %w", f, ErrFormat)
	}
	return bw.Flush()
}

func fmtBound(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// writeRbldnsd writes the ip6trie data: a comment header, the default
// value, the RFC 5782 test point and one line per entry with its own A and
// TXT value.
func writeRbldnsd(w *bufio.Writer, l *List, now time.Time) {
	st := l.Stats
	fmt.Fprintf(w, "# mxsensor blocklist: IPv6 prefixes from which connect() attempts labelled spammer were seen\n")
	fmt.Fprintf(w, "# rbldnsd ip6trie dataset, e.g. rbldnsd ... bl6.example:ip6trie:FILE\n")
	fmt.Fprintf(w, "# generated %s\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "# parameters: prefix /%d, min-score %s, since %s, until %s\n",
		l.Options.PrefixLen, strconv.FormatFloat(l.Options.MinScore, 'g', -1, 64), fmtBound(l.Options.Window.Since), fmtBound(l.Options.Window.Until))
	fmt.Fprintf(w, "# %d entries from %d spammer attempts; %d lines read, %d bad lines skipped, %d outside the window, %d spammer attempts under the score, %d not listable\n",
		len(l.Entries), st.Spammer, st.Lines, st.Bad, st.Filtered, st.BelowScore, st.Ignored)
	fmt.Fprintf(w, ":%s:%s\n", ListedA, Reason(Entry{}))
	fmt.Fprintf(w, "# RFC 5782: %s must be listed, %s must not\n", hex6(TestPointListed), hex6(TestPointUnlisted))
	fmt.Fprintf(w, "%s :%s:%s\n", hex6(TestPointListed), ListedA, TestPointReason)
	for _, e := range l.Entries {
		fmt.Fprintf(w, "%s/%d :%s:%s\n", hex6(e.Prefix.Addr()), e.Prefix.Bits(), ListedA, Reason(e))
	}
}

// hex6 formats an IPv6 address in hex groups only: netip writes
// IPv4-mapped addresses with a dotted quad, which rbldnsd's ip6trie
// parser does not take.
func hex6(a netip.Addr) string {
	if !a.Is4In6() {
		return a.String()
	}
	b := a.As16()
	return fmt.Sprintf("::ffff:%x:%x", uint16(b[12])<<8|uint16(b[13]), uint16(b[14])<<8|uint16(b[15]))
}

// ReadList reads a list in the plain or JSON form (the forms may be mixed,
// one per line): '#' comments and empty lines are skipped; a line starting
// with '{' is an Entry; any other line is an IPv6 prefix or address. Lines
// that do not parse, and prefixes that are not IPv6 or hold the RFC 5782
// negative test point, are skipped and counted in Stats.Bad, as are lines
// longer than record.MaxLine (also in Stats.TooLong). Prefix lengths may
// differ; entries are returned sorted.
func ReadList(r io.Reader) (*List, error) {
	l := &List{}
	lr := record.NewLineReader(r, record.MaxLine)
	seen := make(map[netip.Prefix]bool)
	bad := func(format string, args ...any) {
		l.Stats.Bad++
		if l.Stats.FirstBad == "" {
			l.Stats.FirstBad = fmt.Sprintf("line %d: ", l.Stats.Lines) + fmt.Sprintf(format, args...)
		}
	}
	for {
		b, err := lr.Next()
		if err == io.EOF {
			break
		}
		l.Stats.Lines++
		if errors.Is(err, record.ErrLineTooLong) {
			l.Stats.TooLong++
			bad("%v", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.Stats.Lines, err)
		}
		line := strings.TrimSpace(string(b))
		if line == "" || line[0] == '#' {
			continue
		}
		var e Entry
		if line[0] == '{' {
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				bad("%v", err)
				continue
			}
		} else {
			p, err := parsePrefix(line)
			if err != nil {
				bad("%v", err)
				continue
			}
			e.Prefix = p
		}
		p := e.Prefix
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Contains(TestPointUnlisted) {
			bad("%q is not a listable IPv6 prefix", line)
			continue
		}
		e.Prefix = p.Masked()
		if seen[e.Prefix] {
			continue
		}
		seen[e.Prefix] = true
		if e.IPv4 == nil {
			e.IPv4 = []netip.Addr{}
		}
		if e.Evidence == nil {
			e.Evidence = []string{}
		}
		l.Entries = append(l.Entries, e)
		l.Stats.Spammer += e.Attempts
	}
	SortEntries(l.Entries)
	return l, nil
}

// parsePrefix parses a CIDR prefix or a single address (/128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
