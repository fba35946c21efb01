package rejectlog

import (
	"net/netip"
	"strings"
)

// matchSendmail matches the line Sendmail logs when FEATURE(dnsbl) refuses
// a client:
//
//	xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org
//
// The queue id is optional and IPv6 addresses carry Sendmail's "IPv6:"
// prefix. The client address is taken from relay= (or arg2= of
// check_relay) and must be the address named in the reply. Temporary
// lookup failures ("451 4.7.1 Temporary lookup failure of ... at ...") do
// not match.
func matchSendmail(msg string) (Rejection, bool) {
	ip, text, _, ok := sendmailRejected(msg)
	if !ok {
		return Rejection{}, false
	}
	k := strings.Index(text, " listed at ")
	if k < 0 {
		return Rejection{}, false
	}
	listed, ok := parseTaggedIP(lastToken(text[:k]))
	if !ok || listed != ip {
		return Rejection{}, false
	}
	zone, tail, ok := readZone(text[k+len(" listed at "):])
	if !ok {
		return Rejection{}, false
	}
	if tail != "" && tail[0] != ' ' && !strings.ContainsRune(":;,-", rune(tail[0])) {
		return Rejection{}, false
	}
	reason := strings.TrimSpace(strings.TrimLeft(tail, " :;,-"))
	return Rejection{IP: ip, Zone: zone, MTA: MTASendmail, Reason: reason}, true
}

// sendmailRejected reads a Sendmail ruleset rejection up to its reply
// text: the optional queue id, ruleset=check_*, the client's address from
// relay= (or arg2= of check_relay, which must agree) and the reply code,
// and whether the reply is permanent (5xx).
func sendmailRejected(msg string) (netip.Addr, string, bool, bool) {
	if !strings.HasPrefix(msg, "ruleset=") {
		qid, after, ok := strings.Cut(msg, ": ")
		if !ok || !validQueueID(qid) {
			return netip.Addr{}, "", false, false
		}
		msg = after
	}
	if !strings.HasPrefix(msg, "ruleset=check_") {
		return netip.Addr{}, "", false, false
	}
	// arg1= (the address the client gave) comes first and is printed as
	// given: a line whose fields appear twice may have been written by the
	// client, and names no address for sure.
	if strings.Count(msg, ", reject=") != 1 || strings.Count(msg, ", relay=") > 1 {
		return netip.Addr{}, "", false, false
	}
	head, reply, ok := strings.Cut(msg, ", reject=")
	if !ok {
		return netip.Addr{}, "", false, false
	}
	ruleset, _, _ := strings.Cut(head[len("ruleset="):], ", ")

	var ip netip.Addr
	if relay, ok := sendmailField(head, "relay="); ok {
		open, end := strings.IndexByte(relay, '['), strings.IndexByte(relay, ']')
		if open < 0 || end < open {
			return netip.Addr{}, "", false, false
		}
		if ip, ok = parseTaggedIP(relay[open+1 : end]); !ok {
			return netip.Addr{}, "", false, false
		}
	}
	if ruleset == "check_relay" {
		if arg2, ok := sendmailField(head, "arg2="); ok {
			a, ok := parseTaggedIP(arg2)
			if !ok || (ip.IsValid() && a != ip) {
				return netip.Addr{}, "", false, false
			}
			ip = a
		}
	}
	if !ip.IsValid() {
		return netip.Addr{}, "", false, false
	}

	text, ok := replyCode(reply)
	if !ok {
		return netip.Addr{}, "", false, false
	}
	return ip, text, reply[0] == '5', true
}

// matchSendmailList matches the line of a FEATURE(dnsbl) or
// FEATURE(enhdnsbl) whose message was set per list, so that it names the
// list rather than the zone:
//
//	xAB12345: ruleset=check_rcpt, arg1=<c@d>, relay=host.example [192.0.2.7], reject=550 5.7.1 <c@d>... Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=192.0.2.7
//
// The address is relay='s (or arg2='s). The reply must be permanent and
// its text must say the client is on a DNS list; it must not be about a domain, a sender or recipient
// address or a local list (an access map's own message), and every other
// address it holds must be the client's. The zone is the list's name or
// the URL's host (see namedList). Replies in FEATURE(dnsbl)'s own wording
// ("listed at") are left to matchSendmail.
func matchSendmailList(msg string) (Rejection, bool) {
	ip, text, perm, ok := sendmailRejected(msg)
	if !ok || !perm || strings.Contains(text, " listed at ") {
		return Rejection{}, false
	}
	// With delay_checks the reply starts with the recipient.
	if strings.HasPrefix(text, "<") {
		if end := strings.Index(text, ">... "); end > 0 {
			text = text[end+len(">... "):]
		}
	}
	lower := asciiLower(text)
	if !listWording(lower) || otherAddress(text, ip) {
		return Rejection{}, false
	}
	zone, kind := namedList(text, lower)
	return Rejection{IP: ip, Zone: zone, ZoneKind: kind, MTA: MTASendmail, Reason: strings.TrimSpace(text)}, true
}

// sendmailField returns the value of key in a ", "-separated field list.
func sendmailField(fields, key string) (string, bool) {
	i := 0
	if !strings.HasPrefix(fields, key) {
		j := strings.Index(fields, ", "+key)
		if j < 0 {
			return "", false
		}
		i = j + 2
	}
	v := fields[i+len(key):]
	v, _, _ = strings.Cut(v, ", ")
	return v, true
}
