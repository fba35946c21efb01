package rejectlog

import (
	"net/netip"
	"strings"
)

// matchPostfixReject matches the reject line Postfix smtpd writes for
// reject_rbl_client and the one postscreen writes after a failed DNSBL test:
//
//	NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>
//	NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 550 5.7.1 Service unavailable; client [192.0.2.7] blocked using zen.spamhaus.org; from=<a@b>, to=<c@d>, proto=ESMTP, helo=<x>
//
// A queue id may stand for NOQUEUE, any SMTP stage for RCPT, a "; reason"
// may follow the zone, and the envelope part must be present and end like
// Postfix ends it, which catches most truncated lines.
func matchPostfixReject(msg string, postscreen bool) (Rejection, bool) {
	qid, rest, ok := strings.Cut(msg, ": reject: ")
	if !ok || !validQueueID(qid) {
		return Rejection{}, false
	}
	stage, rest, ok := strings.Cut(rest, " from ")
	if !ok || !validStage(stage) {
		return Rejection{}, false
	}
	var ip netip.Addr
	if postscreen {
		ip, rest, ok = bracketAddr(rest, true)
	} else {
		open := strings.IndexByte(rest, '[')
		if open <= 0 || !validHostname(rest[:open]) {
			return Rejection{}, false
		}
		ip, rest, ok = bracketAddr(rest[open:], true)
	}
	if !ok {
		return Rejection{}, false
	}
	if rest, ok = strings.CutPrefix(rest, ": "); !ok {
		return Rejection{}, false
	}
	if rest, ok = replyCode(rest); !ok {
		return Rejection{}, false
	}
	marker, mta := "Client host [", MTAPostfixSMTPD
	if postscreen {
		marker, mta = "client [", MTAPostfixPostscreen
	}
	i := strings.Index(rest, marker)
	if i < 0 {
		return Rejection{}, false
	}
	listed, rest, ok := bracketAddr(rest[i+len(marker)-1:], false)
	if !ok || listed != ip {
		return Rejection{}, false
	}
	if rest, ok = strings.CutPrefix(rest, " blocked using "); !ok {
		return Rejection{}, false
	}
	zone, rest, ok := readZone(rest)
	if !ok {
		return Rejection{}, false
	}
	if rest, ok = strings.CutPrefix(rest, "; "); !ok {
		return Rejection{}, false
	}
	reason, envelope := splitEnvelope(rest)
	if !validEnvelope(envelope) {
		return Rejection{}, false
	}
	return Rejection{IP: ip, Zone: zone, MTA: mta, Reason: reason}, true
}

// matchPostscreenRank matches "DNSBL rank 3 for [192.0.2.7]:54321". The
// line names no list: Zone stays empty and Rank holds the score.
func matchPostscreenRank(msg string) (Rejection, bool) {
	rest, ok := strings.CutPrefix(msg, "DNSBL rank ")
	if !ok {
		return Rejection{}, false
	}
	neg := false
	if rest != "" && rest[0] == '-' {
		neg, rest = true, rest[1:]
	}
	rank, n := leadingDigits(rest, 7)
	if n == 0 || n > 6 {
		return Rejection{}, false
	}
	if neg {
		rank = -rank
	}
	if rest, ok = strings.CutPrefix(rest[n:], " for "); !ok {
		return Rejection{}, false
	}
	ip, rest, ok := bracketAddr(rest, true)
	if !ok || rest != "" {
		return Rejection{}, false
	}
	return Rejection{IP: ip, MTA: MTAPostfixPostscreen, Rank: rank}, true
}

// validStage accepts SMTP stage names as Postfix logs them: RCPT, CONNECT,
// END-OF-MESSAGE.
func validStage(s string) bool {
	if s == "" || len(s) > 20 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '-' {
			return false
		}
	}
	return true
}

// envelopeKeys start the envelope part Postfix appends to a reject line.
var envelopeKeys = [...]string{"from=<", "to=<", "proto=", "helo=<"}

// splitEnvelope separates the optional DNSBL reason from the envelope part
// ("from=<a@b> to=<c@d> proto=ESMTP helo=<x>") that follows it.
func splitEnvelope(s string) (reason, envelope string) {
	for _, k := range envelopeKeys {
		if strings.HasPrefix(s, k) {
			return "", s
		}
	}
	best := -1
	for _, k := range envelopeKeys {
		if j := strings.Index(s, "; "+k); j >= 0 && (best < 0 || j < best) {
			best = j
		}
	}
	if best < 0 {
		return "", ""
	}
	return strings.TrimSpace(s[:best]), s[best+2:]
}

// validEnvelope checks that the envelope part holds proto= and ends as
// Postfix ends it: with helo=<...> or with proto=NAME.
func validEnvelope(env string) bool {
	i := strings.LastIndex(env, "proto=")
	if i < 0 || (i > 0 && env[i-1] != ' ') {
		return false
	}
	if strings.HasSuffix(env, ">") {
		return strings.Contains(env[i:], "helo=<")
	}
	name := env[i+len("proto="):]
	if name == "" {
		return false
	}
	for j := 0; j < len(name); j++ {
		if name[j] < 'A' || name[j] > 'Z' {
			return false
		}
	}
	return true
}
