package fingerprint

import (
	"fmt"
	"strconv"
	"strings"
)

// The parser follows the grammar p0f 3.09b accepts: ';' comments, a
// "classes" line before the first section, then sections of "label",
// optional "sys" (required after an application label) and "sig" lines.
// Lines are trimmed of surrounding blanks (p0f only trims leading ones).

type parseState uint8

const (
	needSection parseState = iota // before the first section header
	needLabel                     // just after a section header
	needSys                       // after an application ("!") label
	needSig                       // after a label, sys or sig line
)

type section uint8

const (
	secNone section = iota
	secMTU
	secTCPRequest
	secTCPResponse
	secHTTPRequest
	secHTTPResponse
)

// nameChars are the characters besides letters and digits allowed in an OS
// or application name.
const nameChars = " ./-_!?()"

type parser struct {
	file  string
	line  int
	state parseState
	sec   section

	classes []string          // declared classes, lower case
	names   map[string]string // lower-case name -> spelling first seen

	// The current label.
	generic bool
	tool    bool
	label   string
	family  string

	req, resp *DB
	warnings  []Warning
}

func newParser(file string) *parser {
	return &parser{file: file, names: make(map[string]string), req: &DB{}, resp: &DB{}}
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
func isNameChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte(nameChars, c) >= 0
}

func trimBlanks(s string) string { return strings.TrimLeft(s, " \t") }

func (p *parser) parseLine(s string) error {
	if s == "" || s[0] == ';' {
		return nil
	}
	if s[0] == '[' {
		return p.parseSection(s[1:])
	}
	k := 0
	for k < len(s) && (isAlpha(s[k]) || s[k] == '_') {
		k++
	}
	key, rest := s[:k], trimBlanks(s[k:])
	if k == 0 || rest == "" || rest[0] != '=' {
		return p.errorf("expected \"name = value\", got %q", s)
	}
	val := trimBlanks(rest[1:])
	switch key {
	case "classes":
		if p.state != needSection {
			return p.errorf("'classes' must come before the first section")
		}
		return p.parseClasses(val)
	case "ua_os":
		if p.state != needLabel || p.sec != secHTTPRequest {
			return p.errorf("misplaced 'ua_os'")
		}
		return nil // HTTP data: not used here
	case "label":
		if p.state != needLabel && p.state != needSig {
			return p.errorf("misplaced 'label'")
		}
		return p.parseLabel(val)
	case "sys":
		if p.state != needSys {
			return p.errorf("misplaced 'sys' (only application labels take one)")
		}
		p.state = needSig
		return p.parseSys(val)
	case "sig":
		if p.state != needSig {
			if p.state == needSys {
				return p.errorf("misplaced 'sig': an application label needs a 'sys' line first")
			}
			return p.errorf("misplaced 'sig': no label before it")
		}
		return p.parseSig(val)
	}
	return p.errorf("unknown field %q", key)
}

func (p *parser) parseSection(s string) error {
	if s == "mtu]" {
		p.sec, p.state = secMTU, needLabel
		return nil
	}
	mod, dir, ok := strings.Cut(s, ":")
	if !ok {
		return p.errorf("malformed section header %q", "["+s)
	}
	var req bool
	switch dir {
	case "request]":
		req = true
	case "response]":
	default:
		return p.errorf("unknown traffic direction %q", strings.TrimSuffix(dir, "]"))
	}
	switch mod {
	case "tcp":
		p.sec = secTCPResponse
		if req {
			p.sec = secTCPRequest
		}
	case "http":
		p.sec = secHTTPResponse
		if req {
			p.sec = secHTTPRequest
		}
	default:
		return p.errorf("unknown module %q", mod)
	}
	p.state = needLabel
	return nil
}

func (p *parser) parseClasses(val string) error {
	for val != "" {
		val = strings.TrimLeft(val, " \t,")
		n := 0
		for n < len(val) && isAlnum(val[n]) {
			n++
		}
		if n == 0 || n < len(val) && val[n] != ',' {
			return p.errorf("malformed class list")
		}
		p.classes = append(p.classes, strings.ToLower(val[:n]))
		val = val[n:]
	}
	return nil
}

func (p *parser) knownClass(c string) bool {
	c = strings.ToLower(c)
	for _, k := range p.classes {
		if k == c {
			return true
		}
	}
	return false
}

// internName returns the spelling under which a name was first seen
// (names compare without case, and p0f prints the first spelling).
func (p *parser) internName(n string) string {
	k := strings.ToLower(n)
	if s, ok := p.names[k]; ok {
		return s
	}
	p.names[k] = n
	return n
}

func (p *parser) parseLabel(val string) error {
	if p.sec == secMTU {
		if val == "" {
			return p.errorf("empty MTU label")
		}
		p.state = needSig
		return nil
	}
	if len(val) < 2 || (val[0] != 'g' && val[0] != 's') || val[1] != ':' {
		return p.errorf("malformed label %q: want s|g:class:name:flavor", val)
	}
	p.generic = val[0] == 'g'
	rest := val[2:]
	n := 0
	for n < len(rest) && (isAlnum(rest[n]) || rest[n] == '!') {
		n++
	}
	if n == 0 || n == len(rest) || rest[n] != ':' {
		return p.errorf("malformed label %q: bad class", val)
	}
	class := rest[:n]
	p.tool = class == "!"
	if !p.tool && !p.knownClass(class) {
		return p.errorf("unknown class %q", class)
	}
	rest = rest[n+1:]
	n = 0
	for n < len(rest) && isNameChar(rest[n]) {
		n++
	}
	if n == 0 || n == len(rest) || rest[n] != ':' {
		return p.errorf("malformed label %q: bad name", val)
	}
	name := p.internName(rest[:n])
	flavor := rest[n+1:]
	p.label = name
	if flavor != "" {
		p.label = name + " " + flavor
	}
	p.family = familyOf(name, p.tool)
	if p.tool {
		p.state = needSys
	} else {
		p.state = needSig
	}
	return nil
}

func (p *parser) parseSys(val string) error {
	for val != "" {
		val = strings.TrimLeft(val, " \t,")
		class := false
		if val != "" && val[0] == '@' {
			class = true
			val = val[1:]
		}
		n := 0
		for n < len(val) && isNameChar(val[n]) {
			n++
		}
		if n == 0 || n < len(val) && val[n] != ',' {
			return p.errorf("malformed sys entry in %q", val)
		}
		if class {
			if !p.knownClass(val[:n]) {
				return p.errorf("unknown class %q", val[:n])
			}
		} else {
			p.internName(val[:n])
		}
		val = val[n:]
	}
	return nil
}

func (p *parser) parseSig(val string) error {
	switch p.sec {
	case secTCPRequest, secTCPResponse:
		s, err := p.parseTCPSig(val)
		if err != nil {
			return err
		}
		db := p.req
		if p.sec == secTCPResponse {
			db = p.resp
		}
		if prev := db.covering(&s); prev != nil {
			p.warnings = append(p.warnings, Warning{File: p.file, Line: p.line,
				Msg: "signature already covered by " + prev.source})
		}
		db.add(s)
	case secMTU:
		n := 0
		for n < len(val) && isDigit(val[n]) {
			n++
		}
		mtu, err := strconv.Atoi(val)
		if n == 0 || n != len(val) || err != nil || mtu < 1 || mtu > 65535 {
			return p.errorf("malformed MTU %q", val)
		}
	}
	// HTTP signatures are not used here and are not checked.
	return nil
}

// sigScanner walks a signature value field by field.
type sigScanner struct {
	s string
	i int
}

func (c *sigScanner) peek() byte {
	if c.i < len(c.s) {
		return c.s[c.i]
	}
	return 0
}

func (c *sigScanner) eat(prefix string) bool {
	if strings.HasPrefix(c.s[c.i:], prefix) {
		c.i += len(prefix)
		return true
	}
	return false
}

// number reads a run of digits; like p0f's atol, an empty run is 0. Values
// saturate well above any valid field.
func (c *sigScanner) number() int {
	v := 0
	for c.i < len(c.s) && isDigit(c.s[c.i]) {
		if v < 1<<20 {
			v = v*10 + int(c.s[c.i]-'0')
		}
		c.i++
	}
	return v
}

// field reads a number that must be followed by sep, within [lo, hi].
func (p *parser) field(c *sigScanner, sep byte, lo, hi int, what string) (int, error) {
	v := c.number()
	if c.peek() != sep {
		return 0, p.errorf("malformed %s in signature", what)
	}
	c.i++
	if v < lo || v > hi {
		return 0, p.errorf("%s %d out of range %d..%d", what, v, lo, hi)
	}
	return v, nil
}

var quirkByName = func() map[string]Quirks {
	m := make(map[string]Quirks, numQuirks)
	for i, n := range quirkNames {
		m[n] = 1 << i
	}
	return m
}()

// parseTCPSig parses "ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass".
func (p *parser) parseTCPSig(val string) (signature, error) {
	s := signature{generic: p.generic, tool: p.tool, label: p.label, class: p.family,
		source: p.file + ":" + strconv.Itoa(p.line)}
	c := &sigScanner{s: val}

	switch c.peek() {
	case '4':
		s.ver = 4
	case '6':
		s.ver = 6
	case '*':
		s.ver = -1
	default:
		return s, p.errorf("bad IP version in signature %q", val)
	}
	c.i++
	if c.peek() != ':' {
		return s, p.errorf("malformed signature %q", val)
	}
	c.i++

	// Initial TTL: "64", "64+10" (distance already included) or "64-".
	ttl := c.number()
	switch c.peek() {
	case ':', '+', '-':
	default:
		return s, p.errorf("malformed initial TTL in signature %q", val)
	}
	if ttl < 1 || ttl > 255 {
		return s, p.errorf("initial TTL %d out of range 1..255", ttl)
	}
	switch c.s[c.i] {
	case '-':
		if !c.eat("-:") {
			return s, p.errorf("malformed initial TTL in signature %q", val)
		}
		s.badTTL = true
	case '+':
		c.i++
		add, err := p.field(c, ':', 0, 255, "TTL distance")
		if err != nil {
			return s, err
		}
		if ttl+add > 255 {
			return s, p.errorf("initial TTL %d+%d above 255", ttl, add)
		}
		ttl += add
	default:
		c.i++
	}
	s.ttl = uint8(ttl)

	olen, err := p.field(c, ':', 0, 255, "IP option length")
	if err != nil {
		return s, err
	}
	s.olen = uint8(olen)

	if c.eat("*:") {
		s.mss = -1
	} else {
		v, err := p.field(c, ':', 0, 65535, "MSS")
		if err != nil {
			return s, err
		}
		s.mss = int32(v)
	}

	var win int
	switch {
	case c.eat("*,"):
		s.winKind = winAny
	case c.eat("%"):
		s.winKind = winMod
		win, err = p.field(c, ',', 2, 65535, "window modulus")
	case c.eat("mss*"):
		s.winKind = winMSS
		win, err = p.field(c, ',', 1, 1000, "window multiplier")
	case c.eat("mtu*"):
		s.winKind = winMTU
		win, err = p.field(c, ',', 1, 1000, "window multiplier")
	default:
		win, err = p.field(c, ',', 0, 65535, "window size")
	}
	if err != nil {
		return s, err
	}
	s.win = uint16(win)

	if c.eat("*:") {
		s.wscale = -1
	} else {
		v, err := p.field(c, ':', 0, 255, "window scale")
		if err != nil {
			return s, err
		}
		s.wscale = int16(v)
	}

	if err := p.parseLayout(c, &s); err != nil {
		return s, err
	}
	if err := p.parseQuirks(c, &s); err != nil {
		return s, err
	}

	switch c.s[c.i:] {
	case "*":
		s.pclass = -1
	case "0":
		s.pclass = 0
	case "+":
		s.pclass = 1
	default:
		return s, p.errorf("bad payload class %q (want 0, + or *)", c.s[c.i:])
	}
	return s, nil
}

// token returns the text up to the next ',' or ':' for messages.
func (c *sigScanner) token() string {
	rest := c.s[c.i:]
	if j := strings.IndexAny(rest, ",:"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func (p *parser) parseLayout(c *sigScanner, s *signature) error {
	var opts []uint8
	for c.peek() != ':' {
		if c.peek() == 0 {
			return p.errorf("signature ends in the option layout")
		}
		if len(opts) >= MaxOptions {
			return p.errorf("more than %d TCP options", MaxOptions)
		}
		switch {
		case c.eat("eol"):
			if !c.eat("+") {
				return p.errorf("malformed EOL option: want eol+N")
			}
			n := c.number()
			switch c.peek() {
			case ':':
			case 0:
				return p.errorf("signature ends in the option layout")
			default:
				return p.errorf("EOL must be the last option")
			}
			if n > 255 {
				return p.errorf("EOL padding %d above 255", n)
			}
			s.eolPad = uint8(n)
			opts = append(opts, optEOL)
		case c.eat("nop"):
			opts = append(opts, optNOP)
		case c.eat("mss"):
			opts = append(opts, optMSS)
		case c.eat("ws"):
			opts = append(opts, optWS)
		case c.eat("sok"):
			opts = append(opts, optSACKOK)
		case c.eat("sack"):
			opts = append(opts, optSACK)
		case c.eat("ts"):
			opts = append(opts, optTS)
		case c.eat("?"):
			n := c.number()
			if b := c.peek(); b != ':' && b != ',' {
				return p.errorf("malformed '?' option")
			}
			if n > 255 {
				return p.errorf("option kind %d above 255", n)
			}
			opts = append(opts, uint8(n))
		default:
			return p.errorf("unknown TCP option %q", c.token())
		}
		if c.peek() == ':' {
			break
		}
		if c.peek() != ',' {
			return p.errorf("malformed TCP option list")
		}
		c.i++
	}
	c.i++ // the ':'
	s.layout = makeKey(opts)
	return nil
}

func (p *parser) parseQuirks(c *sigScanner, s *signature) error {
	for c.peek() != ':' {
		tok := c.token()
		q, ok := quirkByName[tok]
		if !ok {
			if tok == "" && c.peek() == 0 {
				return p.errorf("signature ends in the quirks")
			}
			return p.errorf("unknown quirk %q", tok)
		}
		if s.ver == 6 && q&ipv4OnlyQuirks != 0 {
			return p.errorf("quirk %q is not valid for IPv6", tok)
		}
		if s.ver == 4 && q&ipv6OnlyQuirks != 0 {
			return p.errorf("quirk %q is not valid for IPv4", tok)
		}
		s.quirks |= q
		c.i += len(tok)
		if c.peek() == ':' {
			break
		}
		if c.peek() != ',' {
			return p.errorf("signature ends in the quirks")
		}
		c.i++
	}
	c.i++ // the ':'
	return nil
}
