package rejectlog

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// An rspamd result in its default log_format, with the given action and
// symbols.
func rspamdResult(ip, action, symbols string) string {
	return "id: <20261126095959.ABC@bulk.example.net>, qid: <4XyZ1k2Lm3zNq8>, ip: " + ip +
		", from: <spammer@example.net>, (default: T (" + action + "): [17.42/15.00] [" + symbols +
		"]), len: 2345, time: 152.3ms, dns req: 42, digest: <0123456789abcdef0123456789abcdef>, rcpts: <user@example.org>, mime_rcpt: <user@example.org>"
}

const (
	rspamdFile   = "2026-11-26 10:00:00 #1234(rspamd_proxy) <4c1a2b>; proxy; rspamd_task_write_log: "
	rspamdSyslog = "Nov 26 10:00:00 mx1 rspamd[1234]: <4c1a2b>; task; rspamd_task_write_log: "
	eximHead     = "2026-11-26 10:00:00 1vAbCd-000Ab1-Xy H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected RCPT <user@example.org>: "
	smRcpt       = "Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_rcpt, arg1=<user@example.org>, relay=bulk.example.net [192.0.2.7], reject="
	smRelay      = "Nov 26 10:00:00 mx1 sendmail[2345]: ruleset=check_relay, arg1=bulk.example.net, arg2=192.0.2.7, relay=bulk.example.net [192.0.2.7], reject="
)

type customCase struct {
	name, line, ip, zone, kind, mta string
}

// customCases are the operators' own messages and rspamd's results.
var customCases = []customCase{
	// Sendmail FEATURE(dnsbl)/FEATURE(enhdnsbl) with a message per list.
	{"sendmail list name and URL", smRcpt + "550 5.7.1 <user@example.org>... Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=192.0.2.7",
		"192.0.2.7", "Spamhaus", ZoneKindName, MTASendmail},
	{"sendmail check_relay by the list RBL", "Nov 26 10:00:00 mx1 sendmail[2345]: ruleset=check_relay, arg1=bulk.example.net, arg2=IPv6:2001:db8::7, relay=bulk.example.net [IPv6:2001:db8::7], reject=550 5.7.1 Rejected: IPv6:2001:db8::7 blocked by the SpamCop RBL, see http://www.spamcop.net/bl.shtml?2001:db8::7",
		"2001:db8::7", "SpamCop", ZoneKindName, MTASendmail},
	{"sendmail URL only", smRelay + "550 5.7.1 Rejected: listed in a DNS blocklist, see https://www.barracudacentral.org/lookups?ip=192.0.2.7",
		"192.0.2.7", "www.barracudacentral.org", ZoneKindURL, MTASendmail},
	{"sendmail zone named", smRcpt + "554 5.7.1 <user@example.org>... Spam blocked: found in bl.spamcop.net",
		"192.0.2.7", "bl.spamcop.net", "", MTASendmail},
	// Exim ACLs with message = for dnslists.
	{"exim found in dnsbl zone", eximHead + "rejected found in dnsbl zen.spamhaus.org",
		"192.0.2.7", "zen.spamhaus.org", "", MTAExim},
	{"exim syslog blacklisted at name", "Nov 26 10:00:00 mx1 exim[3456]: 2026-11-26 10:00:00 H=(bulk.example.net) [2001:db8::7]:41234 F=<spammer@example.net> rejected RCPT <user@example.org>: Your IP is blacklisted at Spamhaus, see https://check.spamhaus.org/",
		"2001:db8::7", "Spamhaus", ZoneKindName, MTAExim},
	{"exim connect ACL on the RBL", "2026-11-26 10:00:00 H=[192.0.2.7]:41234 rejected connection in \"connect\" ACL: Blocked: 192.0.2.7 is on the UCEPROTECT RBL",
		"192.0.2.7", "UCEPROTECT", ZoneKindName, MTAExim},
	{"exim no list named", eximHead + "Message rejected because your IP is in an RBL",
		"192.0.2.7", "", "", MTAExim},
	{"exim address listed in zone", eximHead + "[192.0.2.7] is listed in bl.spamcop.net",
		"192.0.2.7", "bl.spamcop.net", "", MTAExim},
	{"exim listed in zone with answer", eximHead + "JunkMail rejected - listed in b.barracudacentral.org (127.0.0.2)",
		"192.0.2.7", "b.barracudacentral.org", "", MTAExim},
	// rspamd.
	{"rspamd file log", rspamdFile + rspamdResult("192.0.2.7", "reject",
		"BAYES_SPAM(5.10){99.99%;},RBL_SPAMHAUS_XBL(4.00){7.2.0.192.zen.spamhaus.org:127.0.0.4;},RBL_MAILSPIKE_BAD(1.00){7.2.0.192.bl.mailspike.net:127.0.0.12;},R_SPF_FAIL(1.00){-all;}"),
		"192.0.2.7", "RBL_SPAMHAUS_XBL", ZoneKindSymbol, MTARspamd},
	{"rspamd syslog symbols only", rspamdSyslog + rspamdResult("2001:db8::7", "reject", "RBL_SPAMCOP,RBL_SEM_IPV6,BAYES_SPAM"),
		"2001:db8::7", "RBL_SPAMCOP", ZoneKindSymbol, MTARspamd},
	{"rspamd ip bracketed (a log_format of its FAQ)", rspamdFile + strings.Replace(rspamdResult("192.0.2.7", "reject", "RBL_SPAMCOP(2.00){}"), "ip: 192.0.2.7", "ip: [192.0.2.7]", 1),
		"192.0.2.7", "RBL_SPAMCOP", ZoneKindSymbol, MTARspamd},
	{"rspamd journald", "2026-11-26T10:00:00+0000 mx1 rspamd[1234]: (rspamd_proxy) <4c1a2b>; proxy; rspamd_task_write_log: " +
		rspamdResult("192.0.2.7", "reject", "RECEIVED_SPAMHAUS_XBL(3.00){7.2.0.192.xbl.spamhaus.org;},RBL_SENDERSCORE_REPUT_0(4.00){7.2.0.192.score.senderscore.com;},RWL_MAILSPIKE_GOOD(-0.10){}"),
		"192.0.2.7", "RBL_SENDERSCORE_REPUT_0", ZoneKindSymbol, MTARspamd},
}

// customNearMisses look like the forms above but are rejections for other
// reasons, listings of something else than the client, or results that
// are no rejection.
var customNearMisses = []string{
	// Sendmail.
	smRcpt + "550 5.7.1 <user@example.org>... Relaying denied",
	smRelay + "550 5.7.1 Access denied",
	"Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_mail, arg1=<spammer@example.net>, relay=bulk.example.net [192.0.2.7], reject=553 5.1.8 <spammer@example.net>... Domain of sender address spammer@example.net does not exist",
	"Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_mail, arg1=<spammer@example.net>, relay=bulk.example.net [192.0.2.7], reject=550 5.7.1 <spammer@example.net>... Sender domain blacklisted at Spamhaus DBL",
	smRelay + "550 5.7.1 Your host is on our local blacklist",
	smRelay + "451 4.7.1 Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=192.0.2.7",
	smRelay + "550 5.7.1 Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=198.51.100.9",
	smRcpt + "550 5.1.1 <nobody@example.org>... User unknown",
	"Nov 26 10:00:00 mx1 sendmail[2345]: ruleset=check_relay, arg1=bulk.example.net, arg2=IPv6:2001:db8::7, relay=bulk.example.net [IPv6:2001:db8::7], reject=550 5.7.1 Rejected: IPv6:2001:db8::9 blocked by the SpamCop RBL",
	smRelay + "550 5.7.1 Rejected: example.net listed at rhs.example.org",
	// A recipient (arg1, printed as given) that writes a relay= and a
	// reject= of its own.
	`Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_rcpt, arg1=<"x, relay=a [198.51.100.9], reject=550 5.7.1 Rejected: 198.51.100.9 listed at zen.spamhaus.org "@d.org>, relay=bulk.example.net [192.0.2.7], reject=550 5.7.1 <"x@d.org>... Relaying denied`,
	`Nov 26 10:00:00 mx1 sm-mta[2345]: 5AQA0a1b002345: ruleset=check_rcpt, arg1=<"x, relay=a [198.51.100.9], reject=550 5.7.1 Rejected: IP in Spamhaus blacklist, see: https://check.spamhaus.org/listed/?searchterm=198.51.100.9 "@d.org>, relay=bulk.example.net [192.0.2.7], reject=550 5.7.1 Relaying denied`,
	smRelay + "550 5.7.1 Access denied: you are blacklisted",
	// Exim.
	eximHead + "You are blacklisted",
	eximHead + "Message rejected by spam filter: blacklisted content",
	eximHead + "Too many connections, your IP is temporarily blocklisted",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected after DATA: Message contains blacklisted URL",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> temporarily rejected RCPT <c@example.org>: DNSBL lookup failed, try later",
	eximHead + "Sender verify failed",
	eximHead + "sender verify fail for <spammer@example.net>: Unrouteable address",
	eximHead + "relay not permitted",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected RCPT <nobody@example.org>: User not found in LDAP",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected RCPT <nobody@example.org>: Address not listed in the valid recipients",
	eximHead + "example.net is listed at dbl.spamhaus.org",
	eximHead + "example.net is listed at rhs.example.org",
	eximHead + "Sender domain found in dbl.spamhaus.org",
	eximHead + "example.net is listed in black.example.org",
	smRelay + "550 5.7.1 Rejected: bulk.example.net listed in rhs.example.org",
	eximHead + "198.51.100.9 found in zen.spamhaus.org",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected after DATA: Your message scored 20.5 spam points",
	"2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] Warning: listed in zen.spamhaus.org",
	// rspamd.
	rspamdFile + rspamdResult("192.0.2.7", "reject", "BAYES_SPAM(5.10){99.99%;},RECEIVED_SPAMHAUS_XBL(3.00){7.2.0.192.xbl.spamhaus.org;}"),
	rspamdFile + rspamdResult("192.0.2.7", "no action", "RBL_SPAMCOP(2.00){7.2.0.192.bl.spamcop.net;}"),
	rspamdFile + rspamdResult("192.0.2.7", "soft reject", "RBL_SPAMHAUS_XBL(4.00){7.2.0.192.zen.spamhaus.org;}"),
	rspamdFile + rspamdResult("192.0.2.7", "add header", "RBL_SPAMHAUS_XBL(4.00){7.2.0.192.zen.spamhaus.org;}"),
	rspamdFile + rspamdResult("192.0.2.7", "reject", "RBL_SPAMHAUS_BLOCKED_OPENRESOLVER(0.00){7.2.0.192.zen.spamhaus.org;},BAYES_SPAM(5.10){99.99%;}"),
	rspamdFile + rspamdResult("192.0.2.7", "reject", "RBL_SENDERSCORE_REPUT_9(-1.00){},RWL_MAILSPIKE_GOOD(-0.10){},BAYES_SPAM(5.10){}"),
	// Queries that failed, as $symbols writes them (no score to go by).
	rspamdSyslog + rspamdResult("192.0.2.7", "reject", "BAYES_SPAM,RBL_SEM_FAIL,RBL_VIRUSFREE_UNKNOWN_FAIL,RECEIVED_SPAMHAUS_XBL"),
	// A sender's message id that adds an ip: field must not be believed.
	rspamdFile + strings.Replace(rspamdResult("192.0.2.7", "reject", "RBL_SPAMCOP(2.00){}"), "ABC@", "x>, ip: 198.51.100.9, <y@", 1),
	rspamdFile + strings.Replace(rspamdResult("192.0.2.7", "reject", "RBL_SPAMCOP(2.00){}"), "ip: 192.0.2.7, ", "", 1),
	strings.Replace(rspamdFile+rspamdResult("192.0.2.7", "reject", "RBL_SPAMCOP(2.00){}"), "rspamd_task_write_log", "rspamd_task_log", 1),
}

func TestParseCustomForms(t *testing.T) {
	for _, tc := range customCases {
		t.Run(tc.name, func(t *testing.T) {
			p := testParser()
			r, ok, err := p.Parse(tc.line)
			if err != nil || !ok {
				t.Fatalf("Parse = ok %v, err %v; want a rejection", ok, err)
			}
			if !r.Time.Equal(t1000) {
				t.Errorf("Time = %v", r.Time)
			}
			if want := netip.MustParseAddr(tc.ip); r.IP != want {
				t.Errorf("IP = %v, want %v", r.IP, want)
			}
			if r.Zone != tc.zone || r.ZoneKind != tc.kind || r.MTA != tc.mta {
				t.Errorf("zone %q (%q) mta %q; want %q (%q) %q", r.Zone, r.ZoneKind, r.MTA, tc.zone, tc.kind, tc.mta)
			}
			checkRejection(t, tc.line, r)
		})
	}
}

func TestParseCustomNearMisses(t *testing.T) {
	for _, line := range customNearMisses {
		p := testParser()
		r, ok, err := p.Parse(line)
		if ok || err != nil {
			t.Errorf("%q\n  = %+v, %v, %v; want no match, no error", line, r, ok, err)
		}
	}
}

func TestRspamdReason(t *testing.T) {
	line := rspamdFile + rspamdResult("192.0.2.7", "reject", "BAYES_SPAM(5.10){99.99%;},RBL_SPAMHAUS_XBL(4.00){7.2.0.192.zen.spamhaus.org:127.0.0.4;}")
	r, ok, _ := testParser().Parse(line)
	if !ok || r.Reason != "7.2.0.192.zen.spamhaus.org:127.0.0.4" {
		t.Errorf("reason %q, ok %v", r.Reason, ok)
	}
}

func mustPatterns(t *testing.T, srcs ...string) []*Pattern {
	t.Helper()
	ps, err := CompilePatterns(srcs)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParsePatterns(t *testing.T) {
	pats := mustPatterns(t,
		`haraka\[\d+\]: \[dnsbl\] (?P<ip>\S+) listed on (?P<zone>.+)$`,
		`^(?P<ts>\S+) smtp-gw: blocked \[(?P<ip>[^]]+)\] by (?P<zone>\S+)$`,
		`postfix/smtpd\[\d+\]: .*Client host \[(?P<ip>[^]]+)\]`,
	)
	p := NewParser(Options{Location: time.UTC, Now: func() time.Time { return refNow }, Patterns: pats})
	cases := []struct {
		line, ip, zone, kind, mta string
		time                      time.Time
	}{
		{"Nov 26 10:00:00 mx1 haraka[99]: [dnsbl] 192.0.2.7 listed on Spamhaus ZEN", "192.0.2.7", "Spamhaus ZEN", ZoneKindName, MTAPattern, t1000},
		// No timestamp the parser knows: the ts group gives the time.
		{"1795687200.5 smtp-gw: blocked [2001:db8::7] by ZEN.Spamhaus.org.", "2001:db8::7", "zen.spamhaus.org", "", MTAPattern, time.Unix(1795687200, 5e8)},
		// A built-in parser comes first.
		{matchCases[0].line, "192.0.2.7", "zen.spamhaus.org", "", MTAPostfixSMTPD, t1000},
	}
	for _, tc := range cases {
		r, ok, err := p.Parse(tc.line)
		if !ok || err != nil {
			t.Errorf("%q: ok %v err %v", tc.line, ok, err)
			continue
		}
		if r.IP != netip.MustParseAddr(tc.ip) || r.Zone != tc.zone || r.ZoneKind != tc.kind || r.MTA != tc.mta || !r.Time.Equal(tc.time) || r.Raw != tc.line {
			t.Errorf("%q: got %+v", tc.line, r)
		}
	}
	misses := []string{
		"Nov 26 10:00:00 mx1 haraka[99]: [dnsbl] not-an-address listed on Spamhaus", // ip does not parse
		"Nov 26 10:00:00 mx1 haraka[99]: [spf] 192.0.2.7 failed",                    // no pattern
	}
	for _, l := range misses {
		if r, ok, err := p.Parse(l); ok || err != nil {
			t.Errorf("%q: %+v %v %v", l, r, ok, err)
		}
	}
	// A ts in year 5138 is no time: the line is counted, not matched.
	if r, ok, _ := p.Parse("99999999999 smtp-gw: blocked [2001:db8::7] by zen.spamhaus.org"); ok {
		t.Errorf("a ts of 99999999999: %+v", r)
	}
	// Without a timestamp only a pattern with a ts group may match.
	if _, ok, err := p.Parse("haraka[99]: [dnsbl] 192.0.2.7 listed on X"); ok || err != ErrBadTimestamp {
		t.Errorf("no timestamp: ok %v err %v", ok, err)
	}
	c := p.Counters()
	if c.Lines != 7 || c.Matched != 3 || c.Pattern != 2 || c.NotMatching != 2 || c.Garbage != 2 {
		t.Errorf("counters %+v", c)
	}
}

func TestCompilePatternsErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`blocked (\S+)`, `reject pattern "blocked (\\S+)": no group named ip`},
		{`blocked (?P<ip>\S+`, `reject pattern "blocked (?P<ip>\\S+": error parsing regexp: missing closing )`},
		{`(?P<addr>\S+)`, `no group named ip`},
	}
	for _, tc := range cases {
		_, err := CompilePatterns([]string{`ok (?P<ip>\S+)`, tc.src})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
	many := make([]string, MaxPatterns+1)
	for i := range many {
		many[i] = `(?P<ip>\S+)`
	}
	if _, err := CompilePatterns(many); err == nil {
		t.Errorf("%d patterns accepted", len(many))
	}
	if _, err := CompilePattern(`(?P<ip>\S+)` + strings.Repeat("x", MaxPatternLength)); err == nil {
		t.Error("over-long pattern accepted")
	}
	// Short to write, long to run: refused by its compiled size.
	if _, err := CompilePattern(`(?P<ip>\S+).{0,1000}MARK.{0,1000}`); err == nil || !strings.Contains(err.Error(), "instructions") {
		t.Errorf("a 2,000-instruction pattern: %v", err)
	}
}
