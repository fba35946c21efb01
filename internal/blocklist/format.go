package blocklist

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
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
	// FormatPostfix is a Postfix cidr: table for check_client_access.
	FormatPostfix Format = "postfix"
	// FormatNft is an nftables script that fills the set NftSet of the
	// table NftTable (family inet) with the listed prefixes.
	FormatNft Format = "nft"
)

// Formats returns the output formats.
func Formats() []Format {
	return []Format{FormatRbldnsd, FormatPlain, FormatJSON, FormatPostfix, FormatNft}
}

// ParseFormat parses a format name.
func ParseFormat(s string) (Format, error) {
	if f := Format(strings.ToLower(strings.TrimSpace(s))); slices.Contains(Formats(), f) {
		return f, nil
	}
	return "", fmt.Errorf("format %q: %w", s, ErrFormat)
}

// The names the nft format defines: operators refer to the set in their
// own rules (ip6 saddr @spammers6 in a chain of table inet mxsensor).
const (
	NftTable = "mxsensor"
	NftSet   = "spammers6"
)

// PostfixAction is the Postfix access action of a listed entry: a
// permanent reject whose text is the entry's Reason (one line, bounded).
func PostfixAction(e Entry) string { return "REJECT 5.7.1 listed by " + Reason(e) }

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
	case FormatPostfix:
		writePostfix(bw, l, now)
	case FormatNft:
		writeNft(bw, l, now)
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

// writeHeader writes the '#' comment lines the rbldnsd, postfix and nft
// formats start with: what the file is, usage (one line), the generation
// time, the parameters and the counts.
func writeHeader(w *bufio.Writer, l *List, usage string, now time.Time) {
	st := l.Stats
	fmt.Fprintf(w, "# mxsensor blocklist: IPv6 prefixes from which connect() attempts labelled spammer were seen\n")
	fmt.Fprintf(w, "# %s\n", usage)
	fmt.Fprintf(w, "# generated %s\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "# parameters: prefix /%d, min-score %s, since %s, until %s\n",
		l.Options.PrefixLen, strconv.FormatFloat(l.Options.MinScore, 'g', -1, 64), fmtBound(l.Options.Window.Since), fmtBound(l.Options.Window.Until))
	fmt.Fprintf(w, "# %d entries from %d spammer attempts; %d lines read, %d bad lines skipped, %d outside the window, %d spammer attempts under the score, %d not listable\n",
		len(l.Entries), st.Spammer, st.Lines, st.Bad, st.Filtered, st.BelowScore, st.Ignored)
	if st.Expired+st.Allowlisted+st.Widened > 0 {
		fmt.Fprintf(w, "# policy: %d entries expired, %d kept out by the allowlist, %d wider prefixes listed for %d prefixes\n",
			st.Expired, st.Allowlisted, st.Widened, st.WidenedFrom)
	}
}

// writeRbldnsd writes the ip6trie data: a comment header, the default
// value, the RFC 5782 test point and one line per entry with its own A and
// TXT value.
func writeRbldnsd(w *bufio.Writer, l *List, now time.Time) {
	writeHeader(w, l, "rbldnsd ip6trie dataset, e.g. rbldnsd ... bl6.example:ip6trie:FILE", now)
	fmt.Fprintf(w, ":%s:%s\n", ListedA, Reason(Entry{}))
	fmt.Fprintf(w, "# RFC 5782: %s must be listed, %s must not\n", hex6(TestPointListed), hex6(TestPointUnlisted))
	fmt.Fprintf(w, "%s :%s:%s\n", hex6(TestPointListed), ListedA, TestPointReason)
	for _, e := range l.Entries {
		fmt.Fprintf(w, "%s/%d :%s:%s\n", hex6(e.Prefix.Addr()), e.Prefix.Bits(), ListedA, Reason(e))
	}
}

// writePostfix writes a cidr: table, one "PREFIX ACTION" line per entry.
// Postfix takes the first pattern that matches, so the longest prefixes
// come first: an address in two listed prefixes gets the reason of the
// narrower one, as the DNSBL answers it.
func writePostfix(w *bufio.Writer, l *List, now time.Time) {
	writeHeader(w, l, "Postfix cidr table, e.g. smtpd_client_restrictions = check_client_access cidr:FILE", now)
	es := slices.Clone(l.Entries)
	slices.SortStableFunc(es, func(a, b Entry) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	for _, e := range es {
		fmt.Fprintf(w, "%s %s\n", e.Prefix, PostfixAction(e))
	}
}

// nftChunk is how many elements one "add element" statement carries, so
// that no line of the file grows with the list.
const nftChunk = 1000

// writeNft writes an nftables script that creates the table and the
// interval set if missing, empties the set and adds the listed prefixes:
// "nft -f FILE" loads it in one transaction, again and again. An interval
// set rejects overlapping elements, so a prefix inside another listed one
// is left out (the wider one blocks its addresses anyway).
func writeNft(w *bufio.Writer, l *List, now time.Time) {
	writeHeader(w, l, fmt.Sprintf("nftables set, load with nft -f FILE; use it as ip6 saddr @%s in a chain of table inet %s", NftSet, NftTable), now)
	es, covered := outermost(l.Entries)
	if covered > 0 {
		fmt.Fprintf(w, "# %d prefixes inside another listed prefix left out (an interval set takes no overlaps)\n", covered)
	}
	fmt.Fprintf(w, "add table inet %s\n", NftTable)
	fmt.Fprintf(w, "add set inet %s %s { type ipv6_addr; flags interval; }\n", NftTable, NftSet)
	fmt.Fprintf(w, "flush set inet %s %s\n", NftTable, NftSet)
	// An empty list adds nothing: nft rejects "elements = { }".
	for i, e := range es {
		if i%nftChunk == 0 {
			fmt.Fprintf(w, "add element inet %s %s {\n", NftTable, NftSet)
		}
		if e.Prefix.IsSingleIP() {
			fmt.Fprintf(w, "\t%s,\n", e.Prefix.Addr())
		} else {
			fmt.Fprintf(w, "\t%s,\n", e.Prefix)
		}
		if i%nftChunk == nftChunk-1 || i == len(es)-1 {
			w.WriteString("}\n")
		}
	}
}

// outermost returns the entries whose prefix lies in no other entry's,
// sorted, and how many it left out. Prefixes that are not IPv6 (the list's
// builders never hold such) are left out and counted too.
func outermost(entries []Entry) ([]Entry, int) {
	es := slices.Clone(entries)
	SortEntries(es)
	out := es[:0]
	for _, e := range es {
		p := e.Prefix
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
			continue
		}
		// Sorted by address, then length: a prefix holding this one comes
		// before it, and the kept prefixes are disjoint, so only the last
		// kept one can hold it.
		if n := len(out); n > 0 && out[n-1].Prefix.Bits() <= p.Bits() && out[n-1].Prefix.Contains(p.Addr()) {
			continue
		}
		out = append(out, e)
	}
	return out, len(entries) - len(out)
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
