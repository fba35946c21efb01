package rejectlog

import (
	"net/netip"
	"strconv"
	"strings"
)

// matchRspamd matches the line rspamd writes for each message it scanned
// (rspamd_task_write_log, in its default log_format) when the action is
// reject and an RBL symbol on the connecting address fired, after the
// timestamp of rspamd's own log file or the syslog header:
//
//	#1234(rspamd_proxy) <4c1a2b>; proxy; rspamd_task_write_log: id: <m@x>, qid: <4XyZ1a>, ip: 192.0.2.7, from: <a@b>, (default: T (reject): [17.42/15.00] [RBL_SPAMHAUS_XBL(4.00){7.2.0.192.zen.spamhaus.org:127.0.0.4;},BAYES_SPAM(5.10){99.99%;}]), len: 2345, ...
//
// The address is the ip: field (the client the MTA passed to rspamd). The
// symbol names the list (see rbl Symbol); Received-header checks
// (RECEIVED_*), whitelists (RWL_*, RCVD_IN_DNSWL_*), refused queries
// (*_BLOCKED*) and symbols with a score of zero or less do not count.
// "soft reject" does not count either: rspamd uses it for rate limits,
// greylisting and scan timeouts, and the message comes back.
//
// The message id, the sender and the symbols' options are the sender's to
// choose, so a line is accepted only when it holds one "ip: " field and
// one "(default: " part: a sender cannot make it name another address.
func matchRspamd(msg string) (Rejection, bool) {
	body, ok := rspamdBody(msg)
	if !ok {
		return Rejection{}, false
	}
	const result = "(default: "
	i := strings.Index(body, result)
	if i < 0 || strings.LastIndex(body, result) != i {
		return Rejection{}, false
	}
	ip, ok := rspamdIP(body, i)
	if !ok {
		return Rejection{}, false
	}
	rest := body[i+len(result):]
	if len(rest) < 3 || !strings.Contains("TFS", rest[:1]) || rest[1] != ' ' {
		return Rejection{}, false
	}
	if rest, ok = strings.CutPrefix(rest[2:], "(reject): ["); !ok {
		return Rejection{}, false
	}
	if _, rest, ok = strings.Cut(rest, "] ["); !ok {
		return Rejection{}, false
	}
	sym, opts, ok := rspamdRBLSymbol(rest)
	if !ok {
		return Rejection{}, false
	}
	return Rejection{IP: ip, Zone: sym, ZoneKind: ZoneKindSymbol, MTA: MTARspamd, Reason: opts}, true
}

// rspamdBody strips what precedes the log_format text: an optional
// "#pid(worker) " or "(worker) ", the task's "<tag>; ", the module and
// "rspamd_task_write_log: ".
func rspamdBody(msg string) (string, bool) {
	if strings.HasPrefix(msg, "#") {
		_, n := leadingDigits(msg[1:], 10)
		if n == 0 {
			return "", false
		}
		msg = msg[1+n:]
	}
	if strings.HasPrefix(msg, "(") {
		end := strings.Index(msg, ") ")
		if end < 0 || end > 64 {
			return "", false
		}
		msg = msg[end+2:]
	}
	tag, rest, ok := strings.Cut(msg, "; ")
	if !ok || len(tag) < 2 || len(tag) > 66 || tag[0] != '<' || tag[len(tag)-1] != '>' || !validTag(tag[1:len(tag)-1]) {
		return "", false
	}
	module, rest, ok := strings.Cut(rest, "; ")
	if !ok || !validTag(module) {
		return "", false
	}
	return strings.CutPrefix(rest, "rspamd_task_write_log: ")
}

// validTag accepts rspamd's task tags and module names: up to 64 letters,
// digits and '_'.
func validTag(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) || s[i] == '-' {
			return false
		}
	}
	return true
}

// rspamdIP finds the one "ip: " field, which must come before the result
// part at end.
func rspamdIP(body string, end int) (netip.Addr, bool) {
	at := -1
	for i := 0; ; {
		j := strings.Index(body[i:], "ip: ")
		if j < 0 {
			break
		}
		k := i + j
		if k == 0 || strings.HasSuffix(body[:k], ", ") {
			if at >= 0 {
				return netip.Addr{}, false
			}
			at = k
		}
		i = k + len("ip: ")
	}
	if at < 0 || at > end {
		return netip.Addr{}, false
	}
	v, _, ok := strings.Cut(body[at+len("ip: "):], ", ")
	if !ok {
		return netip.Addr{}, false
	}
	return parseIP(strings.Trim(v, "[]")) // log_format may write it bracketed
}

// rspamdRBLSymbol reads the symbols of the result, as $symbols,
// $symbols_scores or $symbols_scores_params write them
// ("NAME(score){opt;opt;}", joined with ','), up to the closing ']', and
// returns the first that is an RBL listing of the client with its options.
func rspamdRBLSymbol(s string) (name, opts string, found bool) {
	for s != "" && s[0] != ']' {
		n := 0
		for n < len(s) && n < 128 && (isNameByte(s[n]) && s[n] != '-') {
			n++
		}
		if n == 0 {
			return "", "", false
		}
		sym := s[:n]
		s = s[n:]
		score, scored := 0.0, false
		if strings.HasPrefix(s, "(") {
			end := strings.IndexByte(s, ')')
			if end < 0 {
				return "", "", false
			}
			v, err := strconv.ParseFloat(s[1:end], 64)
			if err != nil {
				return "", "", false
			}
			score, scored = v, true
			s = s[end+1:]
		}
		var o string
		if strings.HasPrefix(s, "{") {
			// Options may hold anything but end with "}," or "}]".
			end := -1
			for i := 1; i < len(s); i++ {
				if s[i] == '}' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == ']') {
					end = i
					break
				}
			}
			if end < 0 {
				return "", "", false
			}
			o = strings.TrimRight(s[1:end], ";")
			s = s[end+1:]
		}
		if rblSymbol(sym) && (!scored || score > 0) && !found {
			name, opts, found = sym, o, true
		}
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "]"):
		default:
			return "", "", false
		}
	}
	return name, opts, found && s != ""
}

// rblSymbol reports whether an rspamd symbol is one of the rbl module's
// checks of the connecting address: RBL_* (RBL_SPAMHAUS_XBL,
// RBL_MAILSPIKE_BAD, RBL_SENDERSCORE_REPUT_0, ...), but not the
// *_BLOCKED* symbols of a list that refused to answer nor the *_FAIL ones
// of a query that failed (RBL_SEM_FAIL). RECEIVED_* (the
// addresses in Received headers), RWL_* and RCVD_IN_DNSWL_* (whitelists)
// and the URI lists (URIBL_*, DBL_*, SURBL_*) are other prefixes.
func rblSymbol(s string) bool {
	return strings.HasPrefix(s, "RBL_") && len(s) > len("RBL_") && !strings.Contains(s, "_BLOCKED") && !strings.HasSuffix(s, "_FAIL")
}
