package rejectlog

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
)

// Bounds of operators' patterns: each is tried on every line no built-in
// parser matched, so their number and compiled size bound the work per
// line (Go's regexp runs in time linear in the line times the program's
// size, and lines are at most MaxLineLength long). The program, not the
// source, is what costs: `.{0,1000}` is 9 bytes and 1,000 instructions.
const (
	MaxPatterns      = 32
	MaxPatternLength = 4096
	MaxPatternInsts  = 2000
)

// Pattern is an operator's regular expression for DNSBL rejections the
// built-in parsers do not know, as fail2ban's failregex: it is matched
// against the whole line (without its line ending) and names the client's
// address with the group (?P<ip>...), and optionally the list with
// (?P<zone>...) and the time with (?P<ts>...).
type Pattern struct {
	src          string
	re           *regexp.Regexp
	ip, zone, ts int // group indexes; 0 = none
}

// CompilePattern compiles an operator's pattern. It must compile and have
// a group named ip; groups named zone and ts are optional.
func CompilePattern(src string) (*Pattern, error) {
	if len(src) > MaxPatternLength {
		return nil, fmt.Errorf("reject pattern %.40q...: longer than %d bytes", src, MaxPatternLength)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("reject pattern %q: %w", src, err)
	}
	// Compiled as regexp compiles it, to count its instructions.
	if tree, err := syntax.Parse(src, syntax.Perl); err == nil {
		if prog, err := syntax.Compile(tree.Simplify()); err == nil && len(prog.Inst) > MaxPatternInsts {
			return nil, fmt.Errorf("reject pattern %.60q: %d instructions compiled, at most %d (bounded repeats such as .{0,1000} cost one each)", src, len(prog.Inst), MaxPatternInsts)
		}
	}
	p := &Pattern{src: src, re: re, ip: re.SubexpIndex("ip"), zone: re.SubexpIndex("zone"), ts: re.SubexpIndex("ts")}
	if p.ip < 0 {
		return nil, fmt.Errorf("reject pattern %q: no group named ip, as in (?P<ip>[0-9a-fA-F.:]+)", src)
	}
	p.zone, p.ts = max(p.zone, 0), max(p.ts, 0)
	return p, nil
}

// CompilePatterns compiles every pattern (see CompilePattern); the error
// names each one that is wrong.
func CompilePatterns(srcs []string) ([]*Pattern, error) {
	if len(srcs) > MaxPatterns {
		return nil, fmt.Errorf("%d reject patterns: at most %d", len(srcs), MaxPatterns)
	}
	var (
		out  []*Pattern
		errs []error
	)
	for _, s := range srcs {
		p, err := CompilePattern(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// String returns the pattern's source.
func (p *Pattern) String() string { return p.src }

// matchPatterns tries the operator's patterns in order on line. t is the
// time of the line's timestamp, zero when it has none that the parser
// knows: then only a pattern with a ts group can match.
func (p *Parser) matchPatterns(line string, t time.Time) (Rejection, bool) {
	for _, pat := range p.patterns {
		if pat.ts == 0 && t.IsZero() {
			continue
		}
		m := pat.re.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		group := func(i int) string {
			if i == 0 || m[2*i] < 0 {
				return ""
			}
			return line[m[2*i]:m[2*i+1]]
		}
		ip, ok := parseTaggedIP(strings.Trim(group(pat.ip), "[]"))
		if !ok {
			continue
		}
		at := t
		if pat.ts != 0 {
			if at, ok = p.patternTime(group(pat.ts)); !ok {
				continue
			}
		}
		r := Rejection{IP: ip, Time: at, MTA: MTAPattern}
		if z := strings.TrimSpace(group(pat.zone)); z != "" {
			if zone, rest, ok := readZone(z); ok && rest == "" {
				r.Zone = zone
			} else if len(z) <= 253 {
				r.Zone, r.ZoneKind = z, ZoneKindName
			}
		}
		return r, true
	}
	return Rejection{}, false
}

// The Unix times a ts group may give: 1990 to 2100 (a later time would
// hold the parser's clock in the future for the rest of the run).
const minUnixTS, maxUnixTS = 631152000, 4102444800

// patternTime reads a ts group: a timestamp in a form the parser knows
// (classic syslog, RFC 3339, Exim's), or Unix seconds with an optional
// fraction.
func (p *Parser) patternTime(s string) (time.Time, bool) {
	if t, rest, kind := p.parseTimestamp(s); kind != tsNone && rest == "" {
		return t, true
	}
	sec, frac, _ := strings.Cut(s, ".")
	if len(sec) < 9 || len(sec) > 11 || !allDigits(sec) || (frac != "" && (len(frac) > 9 || !allDigits(frac))) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < minUnixTS || n > maxUnixTS {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		nsec, _ = strconv.ParseInt((frac + "00000000")[:9], 10, 64)
	}
	t := time.Unix(n, nsec).In(p.loc)
	p.observe(t)
	return t, true
}
