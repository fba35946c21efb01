package rejectlog

import (
	"net/netip"
	"strings"
)

// parseIP parses a client address as MTAs log it. Zones, the unspecified
// address and anything netip rejects (such as 192.0.2.256 or leading zeros)
// fail; IPv4-mapped IPv6 addresses are unmapped.
func parseIP(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseTaggedIP parses an address that Sendmail may prefix with "IPv6:".
func parseTaggedIP(s string) (netip.Addr, bool) {
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		a, ok := parseIP(s[5:])
		if !ok || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
	return parseIP(s)
}

// bracketAddr parses "[addr]" at the start of s, followed by ":port" when
// withPort allows it, and returns the address and the text after it.
func bracketAddr(s string, withPort bool) (netip.Addr, string, bool) {
	if len(s) < 3 || s[0] != '[' {
		return netip.Addr{}, "", false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return netip.Addr{}, "", false
	}
	a, ok := parseIP(s[1:end])
	if !ok {
		return netip.Addr{}, "", false
	}
	rest := s[end+1:]
	if withPort && len(rest) > 1 && rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9' {
		port, n := leadingDigits(rest[1:], 6)
		if n > 5 || port > 65535 {
			return netip.Addr{}, "", false
		}
		rest = rest[1+n:]
	}
	return a, rest, true
}

// readZone reads a DNS name at the start of s and returns it lower-cased
// without its trailing dot, together with the text after it. The name
// needs at least two labels of letters, digits, '-' or '_', none longer
// than 63 bytes, no label may start or end with '-', and the last label
// must not be all digits (an address is not a zone).
func readZone(s string) (zone, rest string, ok bool) {
	n := 0
	for n < len(s) && isZoneByte(s[n]) {
		n++
	}
	zone, rest = s[:n], s[n:]
	zone = strings.TrimSuffix(zone, ".")
	if zone == "" || len(zone) > 253 {
		return "", "", false
	}
	labels := 0
	allDigitLabel := false
	for label := range strings.SplitSeq(zone, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", "", false
		}
		allDigitLabel = allDigits(label)
		labels++
	}
	if labels < 2 || allDigitLabel {
		return "", "", false
	}
	return strings.ToLower(zone), rest, true
}

func isZoneByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// validHostname accepts the client names MTAs log before the address:
// "unknown" or a DNS name.
func validHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isZoneByte(s[i]) {
			return false
		}
	}
	return true
}

// validQueueID accepts Postfix and Sendmail queue ids (and Postfix's
// NOQUEUE): 1 to 32 letters and digits.
func validQueueID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// replyCode strips an SMTP reply code of class 4 or 5 and an optional
// enhanced status code of the same class ("554 5.7.1 ") from s.
func replyCode(s string) (string, bool) {
	if len(s) < 4 || (s[0] != '4' && s[0] != '5') || s[3] != ' ' {
		return "", false
	}
	if _, n := leadingDigits(s, 3); n != 3 {
		return "", false
	}
	class := s[0]
	s = s[4:]
	// Enhanced status code: class "." 1-3 digits "." 1-3 digits.
	if len(s) > 5 && s[0] == class && s[1] == '.' {
		_, n1 := leadingDigits(s[2:], 4)
		if n1 >= 1 && n1 <= 3 && 2+n1 < len(s) && s[2+n1] == '.' {
			_, n2 := leadingDigits(s[3+n1:], 4)
			end := 3 + n1 + n2
			if n2 >= 1 && n2 <= 3 && (end == len(s) || s[end] == ' ') {
				return strings.TrimPrefix(s[end:], " "), true
			}
		}
	}
	return s, true
}

// lastToken returns the text after the last space of s (all of s when it
// has none).
func lastToken(s string) string {
	return s[strings.LastIndexByte(s, ' ')+1:]
}
