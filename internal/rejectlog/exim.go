package rejectlog

import (
	"net/netip"
	"strings"
)

// matchExim matches an Exim rejection by a dnslists ACL condition, after the
// timestamp of the main log or the syslog header:
//
//	H=(helo) [192.0.2.7] F=<a@b> rejected RCPT <c@d>: 192.0.2.7 is listed at zen.spamhaus.org (127.0.0.2: https://...)
//	H=host.example (helo) [192.0.2.7]:52301 F=<a@b> rejected RCPT <c@d>: rejected because 192.0.2.7 is in a black list at zen.spamhaus.org
//
// An optional "[pid] " and message id may precede H=. The message text is
// whatever the ACL set; it must contain "<x> is listed at <zone>" or Exim's
// default "<address> is in a black list at <zone>", where an address must
// be the client's and <x> must not be a domain (a domain listing is not a
// listing of the client).
func matchExim(msg string) (Rejection, bool) {
	ip, text, ok := eximRejected(msg)
	if !ok {
		return Rejection{}, false
	}
	var zone, tail string
	if k := strings.Index(text, " is in a black list at "); k >= 0 {
		listed, ok := parseIP(lastToken(text[:k]))
		if !ok || listed != ip {
			return Rejection{}, false
		}
		zone, tail, ok = readZone(text[k+len(" is in a black list at "):])
		if !ok {
			return Rejection{}, false
		}
	} else if k := strings.Index(text, " is listed at "); k >= 0 {
		subject := lastToken(text[:k])
		if listed, ok := parseIP(subject); ok {
			if listed != ip {
				return Rejection{}, false
			}
		} else if strings.ContainsAny(subject, ".@:") {
			return Rejection{}, false // a domain or an address that is not the client
		}
		zone, tail, ok = readZone(text[k+len(" is listed at "):])
		if !ok {
			return Rejection{}, false
		}
	} else {
		return Rejection{}, false
	}
	reason, ok := eximReason(tail)
	if !ok {
		return Rejection{}, false
	}
	return Rejection{IP: ip, Zone: zone, MTA: MTAExim, Reason: reason}, true
}

// eximRejected reads an Exim rejection line up to its message text: the
// optional "[pid] " and message id, H= with the client's address, and the
// text after "rejected <what>: ".
func eximRejected(msg string) (netip.Addr, string, bool) {
	if strings.HasPrefix(msg, "[") {
		end := strings.IndexByte(msg, ']')
		if end > 0 && allDigits(msg[1:end]) && strings.HasPrefix(msg[end+1:], " ") {
			msg = msg[end+2:]
		}
	}
	if !strings.HasPrefix(msg, "H=") {
		id, after, ok := strings.Cut(msg, " ")
		if !ok || !validEximID(id) {
			return netip.Addr{}, "", false
		}
		msg = after
	}
	rest, ok := strings.CutPrefix(msg, "H=")
	if !ok {
		return netip.Addr{}, "", false
	}
	ip, rest, ok := eximHost(rest)
	if !ok {
		return netip.Addr{}, "", false
	}
	i := strings.Index(rest, " rejected ")
	if i < 0 {
		return netip.Addr{}, "", false
	}
	j := strings.Index(rest[i:], ": ")
	if j < 0 {
		return netip.Addr{}, "", false
	}
	return ip, rest[i+j+2:], true
}

// matchEximCustom matches an Exim rejection whose ACL set a message of its
// own for a dnslists condition:
//
//	H=(helo) [192.0.2.7] F=<a@b> rejected RCPT <c@d>: rejected found in dnsbl zen.spamhaus.org
//	H=(helo) [192.0.2.7] F=<a@b> rejected RCPT <c@d>: Your IP is blacklisted at Spamhaus, see https://check.spamhaus.org/
//
// The address is H='s. The text must say the client is on a DNS list
// ("found in", "listed in/at/on/by", "blacklist", "blocklist", "RBL",
// "DNSBL"), must not be about a domain, a sender or recipient address or a
// local list, and every other address it holds must be the client's. The
// zone is what the text names (see namedList). Lines in Exim's own wording
// are left to matchExim.
func matchEximCustom(msg string) (Rejection, bool) {
	ip, text, ok := eximRejected(msg)
	if !ok || strings.Contains(text, " is in a black list at ") || strings.Contains(text, " is listed at ") {
		return Rejection{}, false
	}
	lower := asciiLower(text)
	if !listWording(lower) || otherAddress(text, ip) {
		return Rejection{}, false
	}
	zone, kind := namedList(text, lower)
	return Rejection{IP: ip, Zone: zone, ZoneKind: kind, MTA: MTAExim, Reason: strings.TrimSpace(text)}, true
}

// eximHost parses the value of H=: an optional verified host name, an
// optional "(helo)" and the "[address]" with an optional ":port". It
// returns the address and the text after it, which is empty or starts with
// a space.
func eximHost(s string) (netip.Addr, string, bool) {
	if s != "" && s[0] != '[' && s[0] != '(' {
		name, after, ok := strings.Cut(s, " ")
		if !ok || !validHostname(name) {
			return netip.Addr{}, "", false
		}
		s = after
	}
	if strings.HasPrefix(s, "(") {
		end := strings.Index(s, ") [")
		if end < 0 {
			return netip.Addr{}, "", false
		}
		s = s[end+2:]
	}
	ip, rest, ok := bracketAddr(s, true)
	if !ok || (rest != "" && rest[0] != ' ') {
		return netip.Addr{}, "", false
	}
	return ip, rest, true
}

// eximReason reads what follows the zone in an Exim message: nothing, a
// parenthesised "(127.0.0.2: text)", Exim's escaped newline and the list's
// text ("\nListed by ..."), or text after punctuation. An unclosed
// parenthesis means the line was cut.
func eximReason(tail string) (string, bool) {
	tail = strings.TrimRight(tail, " ")
	switch {
	case tail == "":
		return "", true
	case strings.HasPrefix(tail, `\n`):
		return strings.TrimSpace(tail[2:]), true
	}
	trimmed := strings.TrimLeft(tail, " ")
	if strings.HasPrefix(trimmed, "(") {
		if !strings.HasSuffix(trimmed, ")") {
			return "", false
		}
		return strings.TrimSpace(trimmed[1 : len(trimmed)-1]), true
	}
	if tail[0] != ' ' && !strings.ContainsRune(":;,=-/", rune(tail[0])) {
		return "", false
	}
	return strings.TrimSpace(strings.TrimLeft(tail, " :;,=-")), true
}

// validEximID accepts Exim message ids: three groups of letters and digits
// joined by '-' (1abcDe-000123-AB, and the longer ids of Exim 4.97).
func validEximID(s string) bool {
	groups := 0
	for g := range strings.SplitSeq(s, "-") {
		if g == "" || len(g) > 16 || !validQueueID(g) {
			return false
		}
		groups++
	}
	return groups == 3
}
