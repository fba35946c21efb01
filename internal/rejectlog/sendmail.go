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
	if !strings.HasPrefix(msg, "ruleset=") {
		qid, after, ok := strings.Cut(msg, ": ")
		if !ok || !validQueueID(qid) {
			return Rejection{}, false
		}
		msg = after
	}
	if !strings.HasPrefix(msg, "ruleset=check_") {
		return Rejection{}, false
	}
	head, reply, ok := strings.Cut(msg, ", reject=")
	if !ok {
		return Rejection{}, false
	}
	ruleset, _, _ := strings.Cut(head[len("ruleset="):], ", ")

	var ip netip.Addr
	if relay, ok := sendmailField(head, "relay="); ok {
		open, end := strings.IndexByte(relay, '['), strings.IndexByte(relay, ']')
		if open < 0 || end < open {
			return Rejection{}, false
		}
		if ip, ok = parseTaggedIP(relay[open+1 : end]); !ok {
			return Rejection{}, false
		}
	}
	if ruleset == "check_relay" {
		if arg2, ok := sendmailField(head, "arg2="); ok {
			a, ok := parseTaggedIP(arg2)
			if !ok || (ip.IsValid() && a != ip) {
				return Rejection{}, false
			}
			ip = a
		}
	}
	if !ip.IsValid() {
		return Rejection{}, false
	}

	text, ok := replyCode(reply)
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
