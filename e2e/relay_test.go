//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// sendRelay submits two messages to relay s's Postfix (p, in h) with its
// sendmail, one after the other:
//
//  1. to example.test: delivered to mx1 (MX 10), which rejects a listed
//     relay by DNSBL (the label the sensor reads) and accepts the other;
//  2. to fallback.test: MX 10 refuses, so the relay falls back to MX 20
//     and tries the sensor's two addresses in its smtp_address_preference
//     order; the sensor refuses both, and the message stays deferred.
//
// It waits, bounded, for each outcome in the relay's own log. There is no
// `postqueue -f`: new mail is delivered at once, and a flush racing the
// first attempt could make a second one (two more SYNs to the sensor).
func sendRelay(t *testing.T, h *netlab.Host, p *postfixMTA, s sender) {
	t.Helper()
	sendmail := tool(t, "sendmail", "postfix")
	from := "mailer@" + s.ptr
	submit := func(rcpt string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := h.Exec(ctx, sendmail, "-C", p.conf, "-f", from, rcpt)
		cmd.Stdin = strings.NewReader(fmt.Sprintf("From: <%s>\nTo: <%s>\nSubject: mxsensor e2e relay\n\nmxsensor e2e\n",
			from, rcpt))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: sendmail -C %s %s: %v\n%s", s.name, p.conf, rcpt, err, out)
		}
	}
	logHas := func(what string, subs ...string) {
		t.Helper()
		waitFor(t, s.name+": "+what, 30*time.Second, func() error {
			b, err := os.ReadFile(p.log)
			if err != nil {
				return err
			}
			for _, sub := range subs {
				if !strings.Contains(string(b), sub) {
					return fmt.Errorf("no %q in %s yet", sub, p.log)
				}
			}
			return nil
		})
	}

	prod := "postmaster@" + domain
	submit(prod)
	if s.listed {
		logHas("rejected by mx1", "to=<"+prod+">, relay="+mxName, "status=bounced", "blocked using "+blZone)
	} else {
		logHas("delivered to mx1", "to=<"+prod+">, relay="+mxName, "status=sent")
	}
	time.Sleep(time.Second) // keep the production MX and the sensor apart

	refused := func(host, addr string) string {
		return fmt.Sprintf("connect to %s[%s]:25: Connection refused", host, addr)
	}
	submit("postmaster@" + fbDomain)
	logHas("fell back to the sensor", refused(fbDeadName, dnsV4.String()),
		refused(fbSensName, sensorV4.String()), refused(fbSensName, sensorV6.String()),
		"to=<postmaster@"+fbDomain+">")
	b, _ := os.ReadFile(p.log)
	var mine []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "postfix/smtp[") || strings.Contains(l, "status=") {
			mine = append(mine, l)
		}
	}
	t.Logf("%s: relay log (%s), SMTP client lines:\n%s", s.name, p.log, strings.Join(mine, "\n"))
}
