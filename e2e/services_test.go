//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/miekg/dns"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// rbldnsdPort is where rbldnsd listens on the dns host's loopback; dnsmasq
// forwards the DNSBL zone to it.
const rbldnsdPort = 5300

// tool finds a program of a Debian package: root's PATH may lack /usr/sbin.
// Outside CI a missing tool skips the test (make e2e installs them).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("needs %s (apt-get install %s, or run `make e2e`)", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip("skipping: " + msg)
	return ""
}

// daemon is a long-running process in a namespace, killed (its whole
// process group) by t.Cleanup.
type daemon struct {
	name string
	log  string
	done chan struct{}
	err  error
}

func startDaemon(t *testing.T, h *netlab.Host, logPath, prog string, args ...string) *daemon {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := h.Exec(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = f, f
	d := &daemon{name: filepath.Base(prog), log: logPath, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		cancel()
		f.Close()
		t.Fatalf("start %s: %v", prog, err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		cancel() // SIGKILL to the process group
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s (pid %d) still running 15s after SIGKILL", d.name, cmd.Process.Pid)
		}
		f.Close()
	})
	return d
}

// check fails the test if the daemon has died.
func (d *daemon) check(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		b, _ := os.ReadFile(d.log)
		t.Fatalf("%s exited (%v):\n%s", d.name, d.err, b)
	default:
	}
}

// waitFor polls fn until it succeeds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, fn func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := fn()
		if err == nil {
			t.Logf("%s: ready after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query asks server a question from inside h.
func query(h *netlab.Host, server netip.AddrPort, name string, qtype uint16) (*dns.Msg, error) {
	var in *dns.Msg
	err := h.Do(func() error {
		c := &dns.Client{Timeout: 2 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		var err error
		in, _, err = c.Exchange(m, server.String())
		return err
	})
	return in, err
}

// cymruName is the Team Cymru origin lookup name of a.
func cymruName(a netip.Addr) string {
	rev, _ := dns.ReverseAddr(a.String())
	if a.Is4() {
		return strings.TrimSuffix(rev, "in-addr.arpa.") + "origin.asn.cymru.com"
	}
	return strings.TrimSuffix(rev, "ip6.arpa.") + "origin6.asn.cymru.com"
}

// startDNS starts rbldnsd (the DNSBL zone on the dns host's loopback) and
// dnsmasq (the test domain, the senders' PTRs, Team Cymru-style TXT
// records, and the DNSBL zone forwarded to rbldnsd) on the dns host, for
// the senders ss. It also serves fallback.test, whose MX 10 (the dns host
// itself, nothing on port 25) refuses connections.
func startDNS(t *testing.T, h *netlab.Host, work string, ss []sender) {
	t.Helper()
	rbldnsd := tool(t, "rbldnsd", "rbldnsd")
	dnsmasq := tool(t, "dnsmasq", "dnsmasq-base")

	var zone strings.Builder
	zone.WriteString(":127.0.0.2:Listed by the mxsensor e2e test: $\n")
	for _, s := range ss {
		if s.listed {
			fmt.Fprintf(&zone, "%s\n", s.v4)
		}
	}
	blDir := filepath.Join(work, "rbldnsd")
	if err := os.Mkdir(blDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blDir, "bl.zone"), []byte(zone.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rbl := startDaemon(t, h, filepath.Join(work, "rbldnsd.log"), rbldnsd, "-n", "-w", blDir,
		"-b", fmt.Sprintf("127.0.0.1/%d", rbldnsdPort), blZone+":ip4set:bl.zone")

	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--bind-interfaces", "--listen-address=" + dnsV4.String(), "--port=53",
		"--pid-file=" + filepath.Join(work, "dnsmasq.pid"), "--log-facility=-", "--log-queries",
		// Answer these zones from local data only (NXDOMAIN otherwise)...
		"--local=/" + domain + "/", "--local=/senders.test/", "--local=/in-addr.arpa/",
		"--local=/ip6.arpa/", "--local=/cymru.com/", "--local=/" + fbDomain + "/",
		// ...except the DNSBL zone, which rbldnsd serves.
		fmt.Sprintf("--server=/%s/127.0.0.1#%d", blZone, rbldnsdPort),
		fmt.Sprintf("--mx-host=%s,%s,10", domain, mxName),
		fmt.Sprintf("--mx-host=%s,%s,20", domain, sensName),
		fmt.Sprintf("--host-record=%s,%s", mxName, mxV4),
		fmt.Sprintf("--host-record=%s,%s,%s", sensName, sensorV4, sensorV6),
		fmt.Sprintf("--mx-host=%s,%s,10", fbDomain, fbDeadName),
		fmt.Sprintf("--mx-host=%s,%s,20", fbDomain, fbSensName),
		fmt.Sprintf("--host-record=%s,%s", fbDeadName, dnsV4),
		fmt.Sprintf("--host-record=%s,%s,%s", fbSensName, sensorV4, sensorV6),
	}
	for _, s := range ss {
		// host-record gives A, AAAA and both PTRs: forward-confirmed names.
		args = append(args, fmt.Sprintf("--host-record=%s,%s,%s", s.ptr, s.v4, s.v6))
		for _, a := range []netip.Addr{s.v4, s.v6} {
			p := lan4
			if a.Is6() {
				p = netip.PrefixFrom(a, 48).Masked()
			}
			args = append(args, fmt.Sprintf("--txt-record=%s,%d | %s | ZZ | test | 2026-01-01",
				cymruName(a), s.asn, p.Masked()))
		}
	}
	dm := startDaemon(t, h, filepath.Join(work, "dnsmasq.log"), dnsmasq, args...)

	server := netip.AddrPortFrom(dnsV4, 53)
	waitFor(t, "dnsmasq (MX "+domain+")", 20*time.Second, func() error {
		dm.check(t)
		in, err := query(h, server, domain, dns.TypeMX)
		if err != nil {
			return err
		}
		if len(in.Answer) != 2 {
			return fmt.Errorf("MX %s: %d answers, want 2", domain, len(in.Answer))
		}
		return nil
	})
	listedName := func(a netip.Addr) string {
		rev, _ := dns.ReverseAddr(a.String())
		return strings.TrimSuffix(rev, "in-addr.arpa.") + blZone
	}
	waitFor(t, "rbldnsd behind dnsmasq", 20*time.Second, func() error {
		rbl.check(t)
		for _, s := range ss {
			in, err := query(h, server, listedName(s.v4), dns.TypeA)
			if err != nil {
				return err
			}
			listed := in.Rcode == dns.RcodeSuccess && len(in.Answer) > 0
			if listed != s.listed {
				return fmt.Errorf("%s: listed=%v (rcode %s), want %v", listedName(s.v4), listed,
					dns.RcodeToString[in.Rcode], s.listed)
			}
		}
		return nil
	})
	// The records the senders and the sensor will use, checked once.
	for _, c := range []struct {
		name  string
		qtype uint16
		want  int
	}{{mxName, dns.TypeA, 1}, {mxName, dns.TypeAAAA, 0}, {sensName, dns.TypeA, 1}, {sensName, dns.TypeAAAA, 1},
		{fbDomain, dns.TypeMX, 2}, {fbDeadName, dns.TypeAAAA, 0}, {fbSensName, dns.TypeAAAA, 1},
		{cymruName(ss[0].v4), dns.TypeTXT, 1}} {
		in, err := query(h, server, c.name, c.qtype)
		if err != nil {
			t.Fatalf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
		}
		if len(in.Answer) != c.want {
			t.Fatalf("%s %s: %d answers, want %d: %v", c.name, dns.TypeToString[c.qtype], len(in.Answer), c.want, in.Answer)
		}
	}
	for _, s := range ss {
		for _, a := range []netip.Addr{s.v4, s.v6} {
			rev, _ := dns.ReverseAddr(a.String())
			in, err := query(h, server, rev, dns.TypePTR)
			if err != nil || len(in.Answer) != 1 {
				t.Fatalf("PTR %s: %v %v", a, err, in)
			}
		}
	}
}

// postfixMTA is a private Postfix instance: the production MTA or a relay.
type postfixMTA struct {
	bin, dir, conf, log string
}

// smtpdInet is master.cf's smtpd listener; the postscreen variant replaces
// it with postscreenInet, and the relays (which only send) drop it.
const (
	smtpdInet      = "smtp      inet  n       -       n       -       -       smtpd\n"
	postscreenInet = `smtp      inet  n       -       n       -       1       postscreen
smtpd     pass  -       -       n       -       -       smtpd
dnsblog   unix  -       -       n       -       0       dnsblog
tlsproxy  unix  -       -       n       -       0       tlsproxy
`
)

// masterCF is testdata/master.cf with its smtpd listener replaced by inet.
func masterCF(t *testing.T, inet string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(smtpdInet)) {
		t.Fatalf("testdata/master.cf has no line %q", smtpdInet)
	}
	return bytes.Replace(b, []byte(smtpdInet), []byte(inet), 1)
}

// startInstance renders the main.cf template tmpl (with vars plus Dir and
// Log), writes it and master under dir/conf, with the queue and data
// directories under dir, and runs `postfix start` in h. t.Cleanup stops
// the instance.
func startInstance(t *testing.T, h *netlab.Host, dir, tmpl string, vars map[string]any, master []byte) *postfixMTA {
	t.Helper()
	p := newInstance(t, h, dir, tmpl, vars, master)
	if err := p.start(h); err != nil {
		t.Fatal(err)
	}
	return p
}

// newInstance writes the instance's configuration (see startInstance) and
// registers its `postfix stop` with t.Cleanup, but does not start it.
func newInstance(t *testing.T, h *netlab.Host, dir, tmpl string, vars map[string]any, master []byte) *postfixMTA {
	t.Helper()
	bin := tool(t, "postfix", "postfix")
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("no postfix user (the postfix package creates it): %v", err)
	}
	p := &postfixMTA{bin: bin, dir: dir, conf: filepath.Join(dir, "conf"), log: filepath.Join(dir, "maillog")}
	for _, d := range []string{p.conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	if err := os.Chown(filepath.Join(dir, "data"), uid, gid); err != nil {
		t.Fatal(err)
	}
	tm, err := template.ParseFiles(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	vars["Dir"], vars["Log"] = dir, p.log
	var main bytes.Buffer
	if err := tm.Execute(&main, vars); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.conf, "main.cf"), main.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.conf, "master.cf"), master, 0o644); err != nil {
		t.Fatal(err)
	}
	// Stop it whatever happens next: a half-started master is killed too.
	t.Cleanup(func() { p.stop(t, h) })
	return p
}

// start runs `postfix start` in h. It may run in its own goroutine.
func (p *postfixMTA) start(h *netlab.Host) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := h.Exec(ctx, p.bin, "-c", p.conf, "start").CombinedOutput(); err != nil {
		logs, _ := os.ReadFile(p.log)
		return fmt.Errorf("postfix -c %s start: %v\n%s\n%s", p.conf, err, out, logs)
	}
	return nil
}

// startPostfix starts the production MTA (mx1) under work/postfix, with
// postscreen in front of smtpd if postscreen is set, and waits until it
// greets TCP connections (dialled from probe).
func startPostfix(t *testing.T, h, probe *netlab.Host, work string, postscreen bool) *postfixMTA {
	t.Helper()
	master := masterCF(t, smtpdInet)
	if postscreen {
		master = masterCF(t, postscreenInet)
	}
	p := startInstance(t, h, filepath.Join(work, "postfix"), "testdata/main.cf.tmpl", map[string]any{
		"Hostname": mxName, "Domain": domain, "Addr": mxV4.String(), "Zone": blZone, "Postscreen": postscreen,
	}, master)
	addr := netip.AddrPortFrom(mxV4, 25).String()
	waitFor(t, "postfix on "+addr, 30*time.Second, func() error {
		return probe.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 256)
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("banner: %w", err)
			}
			// postscreen may begin with a multi-line "220-".
			if !strings.HasPrefix(string(buf[:n]), "220 ") && !strings.HasPrefix(string(buf[:n]), "220-") {
				return fmt.Errorf("banner %q", buf[:n])
			}
			c.Write([]byte("QUIT\r\n"))
			return nil
		})
	})
	return p
}

// startRelays starts the sending Postfix of every relay in ss (in its
// host of tp), under work/relay-NAME: no listener, smtp_address_preference
// = s.relay. The `postfix start`s (a few seconds each) run concurrently.
func startRelays(t *testing.T, tp *topology, work string, ss []sender) map[string]*postfixMTA {
	t.Helper()
	mtas := map[string]*postfixMTA{}
	errs := make(chan error, len(ss))
	var wg sync.WaitGroup
	for _, s := range ss {
		if s.relay == "" {
			continue
		}
		h := tp.senders[s.name]
		p := newInstance(t, h, filepath.Join(work, "relay-"+s.name), "testdata/relay-main.cf.tmpl",
			map[string]any{"Hostname": s.ptr, "Preference": s.relay}, masterCF(t, ""))
		mtas[s.name] = p
		wg.Go(func() { errs <- p.start(h) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return mtas
}

// stop runs `postfix stop` and waits for the master to exit; if it does
// not, it kills it (netlab kills anything left in the namespace anyway).
func (p *postfixMTA) stop(t *testing.T, h *netlab.Host) {
	pid := 0
	if b, err := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid")); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := h.Exec(ctx, p.bin, "-c", p.conf, "stop").CombinedOutput(); err != nil && pid > 0 {
		t.Logf("postfix stop: %v\n%s", err, out)
	}
	if pid <= 0 {
		return
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("postfix master %d still running 15s after postfix stop; killing it", pid)
	syscall.Kill(pid, syscall.SIGKILL)
}
