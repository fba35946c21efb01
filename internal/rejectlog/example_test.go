package rejectlog_test

import (
	"fmt"
	"time"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

func ExampleParser_Parse() {
	p := rejectlog.NewParser(rejectlog.Options{
		Location: time.UTC,
		Now:      func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) },
	})
	for _, line := range []string{
		"Nov 26 10:00:00 mx1 postfix/smtpd[123]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; from=<a@example.net> to=<b@example.org> proto=ESMTP helo=<x>",
		"Nov 26 10:00:01 mx1 postfix/postscreen[99]: DNSBL rank 3 for [2001:db8::7]:54321",
		"Nov 26 10:00:02 mx1 postfix/smtpd[123]: connect from unknown[192.0.2.8]",
		"not a log line",
	} {
		r, ok, err := p.Parse(line)
		switch {
		case err != nil:
			fmt.Println("garbage:", err)
		case ok:
			fmt.Print(string(r.AppendJSON(nil)))
		default:
			fmt.Println("not a DNSBL rejection")
		}
	}
	fmt.Printf("%+v\n", p.Counters())
	// Output:
	// {"ts":"2026-11-26T10:00:00Z","ip":"192.0.2.7","zone":"zen.spamhaus.org","mta":"postfix-smtpd"}
	// {"ts":"2026-11-26T10:00:01Z","ip":"2001:db8::7","zone":"","mta":"postfix-postscreen","rank":3}
	// not a DNSBL rejection
	// garbage: garbage log line: no valid timestamp
	// {Lines:4 Matched:2 Pattern:0 NotMatching:1 Garbage:1 TooLong:0 InvalidUTF8:0 ControlChars:0 BadTimestamp:1 NULRuns:0 DamagedFiles:0}
}
