package rejectlog

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// refNow is the reference time of the parser tests: classic timestamps in
// November read as 2026.
var refNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testParser() *Parser {
	return NewParser(Options{Location: time.UTC, Now: func() time.Time { return refNow }})
}

// The envelope parts Postfix appends.
const (
	smtpdEnv      = "from=<spammer@example.net> to=<user@example.org> proto=ESMTP helo=<bulk.example.net>"
	postscreenEnv = "from=<spammer@example.net>, to=<user@example.org>, proto=ESMTP, helo=<bulk.example.net>"
)

type matchCase struct {
	name   string
	line   string
	time   time.Time
	ip     string
	zone   string
	mta    string
	rank   int
	reason string
}

var t1000 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

var matchCases = []matchCase{
	// Postfix smtpd, reject_rbl_client.
	{
		name: "smtpd basic",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd with reason",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.7; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "bl.spamcop.net", mta: MTAPostfixSMTPD,
		reason: "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.7",
	},
	{
		name: "smtpd spamhaus reason with semicolon-free URL",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; Listed by XBL, see https://check.spamhaus.org/query/ip/192.0.2.7; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
		reason: "Listed by XBL, see https://check.spamhaus.org/query/ip/192.0.2.7",
	},
	{
		name: "smtpd client hostname",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from mail.example.com[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using b.barracudacentral.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "b.barracudacentral.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd long queue id",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: 4XyZ1k2Lm3zNq8: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd short queue id",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: 3F2A81C0D12: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "submission smtpd",
		line: "Nov 26 10:00:00 mx1 postfix/submission/smtpd[456]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "multi-instance smtpd",
		line: "Nov 26 10:00:00 mx1 postfix-foo/smtpd[789]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd IPv6",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[2001:db8::7]: 554 5.7.1 Service unavailable; Client host [2001:db8::7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "2001:db8::7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd CONNECT stage without helo",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: CONNECT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; proto=SMTP",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd zone upper case with trailing dot",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using ZEN.Spamhaus.ORG.; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd soft_bounce 450",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 4.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd client port logging",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]:54321: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd without host name in the syslog header",
		line: "Nov 26 10:00:00 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd day padded with space",
		line: "Nov  6 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: time.Date(2026, 11, 6, 10, 0, 0, 0, time.UTC), ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "smtpd IPv4-mapped address is unmapped",
		line: "Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[::ffff:192.0.2.7]: 554 5.7.1 Service unavailable; Client host [::ffff:192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "rsyslog RFC 3339 with fraction",
		line: "2026-11-26T10:00:00.123456+00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000.Add(123456 * time.Microsecond), ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "RFC 3339 Z",
		line: "2026-11-26T10:00:00Z mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "journald short-iso",
		line: "2026-11-26T11:00:00+0100 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "journald short-iso with colon offset",
		line: "2026-11-26T11:00:00+01:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},
	{
		name: "journald short-iso-precise",
		line: "2026-11-26T05:00:00.000042-0500 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
		time: t1000.Add(42 * time.Microsecond), ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixSMTPD,
	},

	// Postfix postscreen.
	{
		name: "postscreen rank",
		line: "Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 3 for [192.0.2.7]:54321",
		time: t1000, ip: "192.0.2.7", mta: MTAPostfixPostscreen, rank: 3,
	},
	{
		name: "postscreen rank IPv6",
		line: "Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 5 for [2001:db8::7]:54321",
		time: t1000, ip: "2001:db8::7", mta: MTAPostfixPostscreen, rank: 5,
	},
	{
		name: "postscreen reject 550",
		line: "Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 550 5.7.1 Service unavailable; client [192.0.2.7] blocked using zen.spamhaus.org; " + postscreenEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixPostscreen,
	},
	{
		name: "postscreen reject 521",
		line: "Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 521 5.7.1 Service unavailable; client [192.0.2.7] blocked using zen.spamhaus.org; " + postscreenEnv,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAPostfixPostscreen,
	},
	{
		name: "postscreen reject IPv6",
		line: "Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [2001:db8::7]:54321: 550 5.7.1 Service unavailable; client [2001:db8::7] blocked using zen.spamhaus.org; " + postscreenEnv,
		time: t1000, ip: "2001:db8::7", zone: "zen.spamhaus.org", mta: MTAPostfixPostscreen,
	},
	{
		name: "postscreen multi-instance, null sender",
		line: "2026-11-26T10:00:00.000000+00:00 mx1 postfix-in/postscreen[99]: NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 550 5.7.1 Service unavailable; client [192.0.2.7] blocked using dnsbl.sorbs.net; from=<>, to=<user@example.org>, proto=SMTP, helo=<x>",
		time: t1000, ip: "192.0.2.7", zone: "dnsbl.sorbs.net", mta: MTAPostfixPostscreen,
	},

	// Exim.
	{
		name: "exim main log is listed at",
		line: "2026-11-26 10:00:00 H=(bulk.example.net) [192.0.2.7] F=<spammer@example.net> rejected RCPT <user@example.org>: 192.0.2.7 is listed at zen.spamhaus.org (127.0.0.2: https://www.spamhaus.org/query/ip/192.0.2.7)",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
		reason: "127.0.0.2: https://www.spamhaus.org/query/ip/192.0.2.7",
	},
	{
		name: "exim default black list message with trailing space",
		line: "2026-11-26 10:00:00 H=(ZTZUWWCRQY) [192.0.2.7] F=<spammer@example.net> rejected RCPT <user@example.org>: rejected because 192.0.2.7 is in a black list at zen.spamhaus.org ",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim black list with escaped newline text",
		line: `2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: rejected because 192.0.2.7 is in a black list at zen.spamhaus.org\nListed by CSS, see https://check.spamhaus.org/query/ip/192.0.2.7`,
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
		reason: "Listed by CSS, see https://check.spamhaus.org/query/ip/192.0.2.7",
	},
	{
		name: "exim host name, helo and port",
		line: "2026-11-26 10:00:00 H=host.example (helo.example) [192.0.2.7]:52301 F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at bl.spamcop.net",
		time: t1000, ip: "192.0.2.7", zone: "bl.spamcop.net", mta: MTAExim,
	},
	{
		name: "exim incoming interface and sender in because clause",
		line: "2026-11-26 10:00:00 H=adsl.example.net [192.0.2.7]:1905 I=[198.51.100.1]:25 F=<a@example.net> rejected RCPT <b@example.org>: rejected (sender: a@example.net) because 192.0.2.7 is in a black list at bl.example.net",
		time: t1000, ip: "192.0.2.7", zone: "bl.example.net", mta: MTAExim,
	},
	{
		name: "exim message id",
		line: "2026-11-26 10:00:00 1abcD-000123-AB H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org (127.0.0.4: https://www.spamhaus.org/query/ip/192.0.2.7)",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
		reason: "127.0.0.4: https://www.spamhaus.org/query/ip/192.0.2.7",
	},
	{
		name: "exim 4.97 message id and pid",
		line: "2026-11-26 10:00:00 [4321] 1tQ2aB-00000000Xy1-0AbC H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim IPv6",
		line: "2026-11-26 10:00:00 H=(helo) [2001:db8::7]:40001 F=<a@example.net> rejected RCPT <b@example.org>: 2001:db8::7 is listed at zen.spamhaus.org",
		time: t1000, ip: "2001:db8::7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim bare address",
		line: "2026-11-26 10:00:00 H=[192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: rejected because 192.0.2.7 is in a black list at dnsbl.example.net",
		time: t1000, ip: "192.0.2.7", zone: "dnsbl.example.net", mta: MTAExim,
	},
	{
		name: "exim milliseconds and log_timezone",
		line: "2026-11-26 11:00:00.250 +0100 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
		time: t1000.Add(250 * time.Millisecond), ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim connect ACL, subject without address",
		line: `2026-11-26 10:00:00 H=(helo) [192.0.2.7] rejected connection in "connect" ACL: Your host is listed at dnsbl.example.net`,
		time: t1000, ip: "192.0.2.7", zone: "dnsbl.example.net", mta: MTAExim,
	},
	{
		name: "exim deferred by list",
		line: "2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> temporarily rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim through syslog with its own timestamp",
		line: "Nov 26 10:00:00 mx1 exim[123]: 2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim4 through syslog without timestamp",
		line: "Nov 26 10:00:00 mx1 exim4[123]: H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTAExim,
	},
	{
		name: "exim reason after colon",
		line: "2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: JunkMail rejected - 192.0.2.7 is listed at bl.spamcop.net: Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.7",
		time: t1000, ip: "192.0.2.7", zone: "bl.spamcop.net", mta: MTAExim,
		reason: "Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.7",
	},

	// Sendmail FEATURE(dnsbl).
	{
		name: "sendmail check_relay",
		line: "Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTASendmail,
	},
	{
		name: "sendmail 554",
		line: "Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=554 5.7.1 Rejected: 192.0.2.7 listed at bl.spamcop.net",
		time: t1000, ip: "192.0.2.7", zone: "bl.spamcop.net", mta: MTASendmail,
	},
	{
		name: "sendmail bare relay",
		line: "Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=[192.0.2.7], arg2=192.0.2.7, relay=[192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTASendmail,
	},
	{
		name: "sendmail IPv6",
		line: "Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=[IPv6:2001:db8::7], arg2=IPv6:2001:db8::7, relay=[IPv6:2001:db8::7], reject=550 5.7.1 Rejected: IPv6:2001:db8::7 listed at zen.spamhaus.org",
		time: t1000, ip: "2001:db8::7", zone: "zen.spamhaus.org", mta: MTASendmail,
	},
	{
		name: "sendmail Debian sm-mta without queue id",
		line: "Nov 26 10:00:00 mx1 sm-mta[123]: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7] (may be forged), reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTASendmail,
	},
	{
		name: "sendmail delay_checks at rcpt",
		line: "2026-11-26T10:00:00+00:00 mx1 sendmail[123]: 5AQA0abc012345: ruleset=check_rcpt, arg1=<user@example.org>, relay=host.example [192.0.2.7], reject=550 5.7.1 <user@example.org>... Rejected: 192.0.2.7 listed at zen.spamhaus.org",
		time: t1000, ip: "192.0.2.7", zone: "zen.spamhaus.org", mta: MTASendmail,
	},
}

func TestParseMatches(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			p := testParser()
			r, ok, err := p.Parse(tc.line + "\n")
			if err != nil || !ok {
				t.Fatalf("Parse = ok %v, err %v; want a rejection", ok, err)
			}
			if !r.Time.Equal(tc.time) {
				t.Errorf("Time = %v, want %v", r.Time, tc.time)
			}
			if want := netip.MustParseAddr(tc.ip); r.IP != want {
				t.Errorf("IP = %v, want %v", r.IP, want)
			}
			if r.Zone != tc.zone || r.MTA != tc.mta || r.Rank != tc.rank || r.Reason != tc.reason {
				t.Errorf("got zone %q mta %q rank %d reason %q; want %q %q %d %q",
					r.Zone, r.MTA, r.Rank, r.Reason, tc.zone, tc.mta, tc.rank, tc.reason)
			}
			if r.Raw != tc.line {
				t.Errorf("Raw = %q, want the line without its newline", r.Raw)
			}
			if c := p.Counters(); c.Lines != 1 || c.Matched != 1 {
				t.Errorf("counters %+v", c)
			}
		})
	}
}

// nearMisses are well-formed log lines that are not DNSBL rejections of a
// client address; every one must be counted as not matching.
var nearMisses = []string{
	// Postfix smtpd: other rejections.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 <user@example.org>: Relay access denied; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 <user@example.org>: Recipient address rejected: User unknown in local recipient table; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 504 5.5.2 <bulk>: Helo command rejected: need fully-qualified hostname; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 4.2.0 <user@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.7]; " + smtpdEnv,
	// warn_if_reject: logged, not rejected.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject_warning: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
	// RHSBL: the list names a domain, not the client address.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from mail.example.com[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [mail.example.com] blocked using dbl.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Sender address [spammer@example.net] blocked using dbl.spamhaus.org; " + smtpdEnv,
	// Bracket variants that are not addresses.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[unknown]: 554 5.7.1 Service unavailable; Client host [unknown] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.256]: 554 5.7.1 Service unavailable; Client host [192.0.2.256] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7: 554 5.7.1 Service unavailable; Client host [192.0.2.7 blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.07]: 554 5.7.1 Service unavailable; Client host [192.0.2.07] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[fe80::1%eth0]: 554 5.7.1 Service unavailable; Client host [fe80::1%eth0] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[0.0.0.0]: 554 5.7.1 Service unavailable; Client host [0.0.0.0] blocked using zen.spamhaus.org; " + smtpdEnv,
	// The two addresses disagree.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.8] blocked using zen.spamhaus.org; " + smtpdEnv,
	// Truncated lines.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; from=<spammer@example.net> to=<user@exa",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; from=<spammer@example.net> to=<user@example.org> proto=ESMTP helo=<bulk.exa",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; Listed by XBL, see https://check.spamhaus",
	// Zones that are not zones.
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using localbl; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen..spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using 127.0.0.2; " + smtpdEnv,
	// Not smtpd, or not Postfix.
	"Nov 26 10:00:00 mx1 smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 postfix/cleanup[321]: 4XyZ1k2Lm3zNq8: reject: header Subject: cheap pills from unknown[192.0.2.7]; " + smtpdEnv + ": Message content rejected",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.7]",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: lost connection after RCPT from unknown[192.0.2.7]",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: warning: hostname bulk.example.net does not resolve to address 192.0.2.7: Name or service not known",
	"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 250 2.0.0 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,

	// Postscreen.
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: PASS NEW [192.0.2.7]:54321",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: CONNECT from [192.0.2.7]:54321 to [198.51.100.1]:25",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: PREGREET 11 after 0.1 from [192.0.2.7]:54321: EHLO bulk\\r\\n",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 550 5.5.1 Protocol error; " + postscreenEnv,
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from [192.0.2.7]:54321: 450 4.3.2 Service currently unavailable; " + postscreenEnv,
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: HANGUP after 0.5 from [192.0.2.7]:54321 in tests after SMTP handshake",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 3 for [192.0.2.7",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 3 for [192.0.2.7]:54321 extra",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank x for [192.0.2.7]:54321",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 3 for [unknown]:54321",
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: DNSBL rank 3 for [192.0.2.7]:654321",
	// The smtpd marker in a postscreen line and vice versa.
	"Nov 26 10:00:00 mx1 postfix/postscreen[99]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,

	// Exim.
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] Warning: 192.0.2.7 is listed at zen.spamhaus.org (127.0.0.2: https://www.spamhaus.org/query/ip/192.0.2.7)",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: sender domain example.net is listed at dbl.spamhaus.org",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: rejected because 192.0.2.8 is in a black list at zen.spamhaus.org",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.8 is listed at zen.spamhaus.org",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: Unknown user",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] sender verify fail for <a@example.net>: Unrouteable address",
	"2026-11-26 10:00:00 1abcD-000123-AB <= a@example.net H=host.example [192.0.2.7] P=esmtp S=1234",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org (127.0.0.2: https://www.spam",
	"2026-11-26 10:00:00 H=(helo) 192.0.2.7 F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.256] F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.256 is listed at zen.spamhaus.org",
	"2026-11-26 10:00:00 H=(helo) [192.0.2.7 F=<a@example.net> rejected RCPT <b@example.org>: 192.0.2.7 is listed at zen.spamhaus.org",
	"2026-11-26 10:00:00 unexpected disconnection while reading SMTP command from (helo) [192.0.2.7] (error: Connection reset by peer)",
	"2026-11-26 10:00:00 no host name found for IP address 192.0.2.7",

	// Sendmail.
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=451 4.7.1 Temporary lookup failure of 192.0.2.7 at zen.spamhaus.org",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_rcpt, arg1=<user@example.org>, relay=host.example [192.0.2.7], reject=550 5.1.1 <user@example.org>... User unknown",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_rcpt, arg1=<user@example.org>, relay=host.example [192.0.2.7], reject=550 5.7.1 <user@example.org>... Relaying denied",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.8 listed at zen.spamhaus.org",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.8, relay=host.example [192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_rcpt, arg1=<user@example.org>, relay=localhost, reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spamhaus.org",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: from=<a@example.net>, size=1234, class=0, nrcpts=1, relay=host.example [192.0.2.7]",
	"Nov 26 10:00:00 mx1 sendmail[123]: xAB12345: ruleset=check_relay, arg1=host.example, arg2=192.0.2.7, relay=host.example [192.0.2.7], reject=550 5.7.1 Rejected: 192.0.2.7 listed at zen.spam/haus",

	// Other programs and syslog noise.
	"Nov 26 10:00:00 mx1 CRON[1]: (root) CMD (run-parts /etc/cron.hourly)",
	"Nov 26 10:00:00 mx1 last message repeated 3 times",
	"Nov 26 10:00:00 mx1 opendkim[77]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " + smtpdEnv,
	"Nov 26 10:00:00 mx1 kernel: [12345.678] eth0: link up",
	"Nov 26 10:00:00",
	"Nov 26 10:00:00 mx1",
	"2026-11-26T10:00:00+00:00 mx1 systemd[1]: Started postfix.service.",
}

func TestParseNearMisses(t *testing.T) {
	if len(nearMisses) < 40 {
		t.Fatalf("only %d near misses", len(nearMisses))
	}
	for _, line := range nearMisses {
		p := testParser()
		r, ok, err := p.Parse(line)
		if ok || err != nil {
			t.Errorf("Parse(%q) = %+v, ok %v, err %v; want not matching", line, r, ok, err)
		}
		if c := p.Counters(); c.NotMatching != 1 {
			t.Errorf("Parse(%q): counters %+v", line, c)
		}
	}
}

func TestParseGarbage(t *testing.T) {
	good := matchCases[0].line
	cases := []struct {
		name string
		line string
		want error
	}{
		{"over-long", good + "; " + strings.Repeat("x", MaxLineLength), ErrLineTooLong},
		{"invalid UTF-8", strings.Replace(good, "mx1", "mx\xff1", 1), ErrInvalidUTF8},
		{"NUL", strings.Replace(good, "mx1", "mx\x001", 1), ErrControlChar},
		{"escape", "\x1b[31m" + good, ErrControlChar},
		{"C1 control", strings.Replace(good, "mx1", "mx\u00851", 1), ErrControlChar},
		{"DEL", good + "\x7f", ErrControlChar},
		{"no timestamp", "postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]", ErrBadTimestamp},
		{"empty", "", ErrBadTimestamp},
		{"bad month", strings.Replace(good, "Nov", "Nox", 1), ErrBadTimestamp},
		{"day 32", strings.Replace(good, "Nov 26", "Nov 32", 1), ErrBadTimestamp},
		{"hour 25", strings.Replace(good, "10:00:00", "25:00:00", 1), ErrBadTimestamp},
		{"no space after", strings.Replace(good, "10:00:00 ", "10:00:00x", 1), ErrBadTimestamp},
		{"month 13", "2026-13-26T10:00:00+00:00 mx1 x: y", ErrBadTimestamp},
		{"Feb 30", "2026-02-30T10:00:00+00:00 mx1 x: y", ErrBadTimestamp},
		{"bad offset", "2026-11-26T10:00:00+2500 mx1 x: y", ErrBadTimestamp},
		{"fraction without digits", "2026-11-26T10:00:00.+00:00 mx1 x: y", ErrBadTimestamp},
		{"journal header", "-- Boot 0123456789abcdef --", ErrBadTimestamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testParser()
			_, ok, err := p.Parse(tc.line)
			if ok || !errors.Is(err, tc.want) || !errors.Is(err, ErrGarbage) {
				t.Fatalf("Parse = ok %v, err %v; want %v", ok, err, tc.want)
			}
			c := p.Counters()
			if c.Garbage != 1 || c.Lines != 1 || c.TooLong+c.InvalidUTF8+c.ControlChars+c.BadTimestamp != 1 {
				t.Errorf("counters %+v", c)
			}
		})
	}
	// A tab is not a control character worth rejecting.
	p := testParser()
	if _, ok, err := p.Parse(strings.Replace(good, "Service unavailable", "Service\tunavailable", 1)); !ok || err != nil {
		t.Errorf("line with a tab: ok %v err %v", ok, err)
	}
}

func TestParseCountersAddUp(t *testing.T) {
	p := testParser()
	var lines []string
	for _, tc := range matchCases {
		lines = append(lines, tc.line)
	}
	lines = append(lines, nearMisses...)
	lines = append(lines, "garbage", "\xff\xfe", strings.Repeat("a", MaxLineLength+1))
	for _, l := range lines {
		p.Parse(l)
	}
	c := p.Counters()
	if c.Lines != uint64(len(lines)) || c.Matched != uint64(len(matchCases)) ||
		c.NotMatching != uint64(len(nearMisses)) || c.Garbage != 3 ||
		c.Lines != c.Matched+c.NotMatching+c.Garbage {
		t.Fatalf("counters %+v for %d lines", c, len(lines))
	}
	if c.TooLong != 1 || c.InvalidUTF8 != 1 || c.BadTimestamp != 1 {
		t.Fatalf("garbage kinds %+v", c)
	}
}

func TestParseCRLF(t *testing.T) {
	p := testParser()
	r, ok, err := p.Parse(matchCases[0].line + "\r\n")
	if !ok || err != nil || r.Raw != matchCases[0].line {
		t.Fatalf("CRLF line: ok %v err %v raw %q", ok, err, r.Raw)
	}
}
