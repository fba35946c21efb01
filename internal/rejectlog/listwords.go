package rejectlog

import (
	"net/netip"
	"strings"
)

// Operators write their own rejection messages for DNS lists (Sendmail's
// per-list FEATURE(dnsbl) message, an Exim ACL's message =). The helpers
// here read such a text: does it say the client is on a DNS list, which
// list does it name, and does it name anybody but the client.

// listPhrases say that something is on a list; "not found in" and "not
// listed in" say the opposite and are skipped.
var listPhrases = []string{"found in ", "listed in ", "listed at ", "listed on ", "listed by "}

// weakPhrases say a blacklist, but so do rejections for content, rates and
// local lists ("you are blacklisted"): they count only when the message
// also names the list or points to its page (namedList).
var weakPhrases = []string{"blacklist", "blocklist", "black list", "block list"}

// listWords are words (not parts of words) that name DNS lists.
var listWords = []string{"dnsbl", "dnsbls", "rbl", "rbls"}

// notAboutClient are words of rejections that concern a domain, a sender
// or recipient address or a local list, not the client's address on a DNS
// list (RHSBL and URI lists, access maps, sender verification).
var notAboutClient = []string{"domain", "sender", "recipient", "helo", "rhsbl", "uribl", "surbl", "dbl.", "local", "@",
	"content", "url", "too many", "temporar", "fail"}

// listWording reports whether lower (an ASCII-lower-cased message) says
// that the client is on a DNS list, and nothing says it is about a domain
// or an address instead.
func listWording(lower string) bool {
	for _, w := range notAboutClient {
		if strings.Contains(lower, w) {
			return false
		}
	}
	if nameListed(lower) {
		return false
	}
	for _, ph := range listPhrases {
		for i := 0; ; {
			j := strings.Index(lower[i:], ph)
			if j < 0 {
				break
			}
			if !strings.HasSuffix(lower[:i+j], "not ") {
				return true
			}
			i += j + len(ph)
		}
	}
	for w := range strings.FieldsFuncSeq(lower, notWordByte) {
		for _, lw := range listWords {
			if w == lw {
				return true
			}
		}
	}
	for _, ph := range weakPhrases {
		if strings.Contains(lower, ph) {
			zone, _ := namedList(lower, lower)
			return zone != ""
		}
	}
	return false
}

// nameListed reports whether what the text says is listed is a name
// ("example.net is listed in ..."): a domain, not the client's address.
func nameListed(lower string) bool {
	for _, verb := range []string{" listed ", " found "} {
		for i := 0; ; {
			j := strings.Index(lower[i:], verb)
			if j < 0 {
				break
			}
			before := strings.Fields(lower[:i+j])
			i += j + len(verb)
			for len(before) > 0 && (before[len(before)-1] == "is" || before[len(before)-1] == "was" || before[len(before)-1] == "been" || before[len(before)-1] == "are") {
				before = before[:len(before)-1]
			}
			if len(before) == 0 {
				continue
			}
			subject := strings.Trim(before[len(before)-1], "[]()<>\"',:;")
			if strings.Contains(subject, ".") {
				if _, ok := parseTaggedIP(subject); !ok {
					return true
				}
			}
		}
	}
	return false
}

func notWordByte(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
}

// asciiLower lower-cases ASCII letters only, so that offsets into the
// result are offsets into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// fillers may stand between "listed in" and the list's name.
var fillers = map[string]bool{"the": true, "a": true, "an": true, "dns": true, "dnsbl": true, "rbl": true,
	"blacklist": true, "blocklist": true, "list": true, "zone": true}

// listNouns end "in <Name> blacklist".
var listNouns = map[string]bool{"blacklist": true, "blocklist": true, "rbl": true, "dnsbl": true, "list": true}

// namedList returns the list a message names and how: a DNS name after
// "listed in/at/on/by" or "found in" (kind ""), a word there or before
// "blacklist" ("in Spamhaus blacklist", kind name), or else the host of
// the URL it points to (kind url). Empty when it names none.
func namedList(text, lower string) (zone, kind string) {
	for _, m := range []string{"listed ", "found "} {
		for i := 0; ; {
			j := strings.Index(lower[i:], m)
			if j < 0 {
				break
			}
			k := i + j + len(m)
			i = k
			prep, rest, ok := strings.Cut(lower[k:], " ")
			if !ok || (prep != "in" && prep != "at" && prep != "on" && prep != "by") {
				continue
			}
			if z, kd, ok := listAt(text[len(text)-len(rest):]); ok {
				return z, kd
			}
		}
	}
	words := strings.Fields(text)
	for i := 1; i < len(words); i++ {
		noun := strings.TrimRight(asciiLower(words[i]), ".,;:")
		if noun == "black" || noun == "block" {
			noun += "list"
		}
		if !listNouns[noun] {
			continue
		}
		// "in <Name> blacklist", "by the <Name> RBL"
		j := i - 2
		for j >= 0 && (asciiLower(words[j]) == "the" || asciiLower(words[j]) == "a" || asciiLower(words[j]) == "an") {
			j--
		}
		if j < 0 || j == i-1 {
			continue
		}
		if prep := asciiLower(words[j]); prep == "in" || prep == "on" || prep == "by" || prep == "at" {
			if name, ok := listWord(words[i-1]); ok && !fillers[asciiLower(name)] {
				return name, ZoneKindName
			}
		}
	}
	for _, scheme := range []string{"https://", "http://"} {
		if j := strings.Index(lower, scheme); j >= 0 {
			if host, _, ok := readZone(text[j+len(scheme):]); ok {
				return host, ZoneKindURL
			}
		}
	}
	return "", ""
}

// listAt reads the list's name at the start of s, after fillers.
func listAt(s string) (zone, kind string, ok bool) {
	for range 4 {
		w, rest, _ := strings.Cut(s, " ")
		if !fillers[asciiLower(w)] {
			break
		}
		s = rest
	}
	if s == "" {
		return "", "", false
	}
	if z, rest, ok := readZone(s); ok && (rest == "" || !isZoneByte(rest[0])) {
		return z, "", true
	}
	w, _, _ := strings.Cut(s, " ")
	name, ok := listWord(w)
	return name, ZoneKindName, ok && !fillers[asciiLower(name)]
}

// listWord accepts a list's name: a proper noun ("Spamhaus", "SpamCop",
// "UCEPROTECT") of letters, digits, '-' and '_', starting with a capital
// letter, up to 63 bytes, trailing punctuation removed.
func listWord(w string) (string, bool) {
	w = strings.TrimRight(w, ".,;:!)")
	if w == "" || len(w) > 63 || w[0] < 'A' || w[0] > 'Z' {
		return "", false
	}
	for i := 0; i < len(w); i++ {
		if !isZoneByte(w[i]) || w[i] == '.' {
			return "", false
		}
	}
	return w, true
}

// otherAddress reports whether text holds a literal address that is not
// ip. Loopback addresses (a list's 127.0.0.x answers) and digits inside a
// name (a reversed address in a query name) do not count.
func otherAddress(text string, ip netip.Addr) bool {
	for i := 0; i < len(text); {
		if !isAddrByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isAddrByte(text[j]) {
			j++
		}
		tok := strings.TrimRight(text[i:j], ".:")
		inName := (i > 0 && isNameByte(text[i-1])) || (j < len(text) && isNameByte(text[j]))
		if i >= 3 && strings.EqualFold(text[i-3:i], "IPv") && strings.HasPrefix(tok, "6:") {
			tok, inName = tok[2:], false // Sendmail's "IPv6:" tag
		}
		if a, ok := parseIP(tok); ok && !inName && !a.IsLoopback() && a != ip {
			return true
		}
		i = j
	}
	return false
}

func isAddrByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
