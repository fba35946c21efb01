//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/record"
)

// TestE2E runs the measurement end to end: senders deliver mail through
// real DNS to a real Postfix production MX (which rejects the
// DNSBL-listed ones) and to the sensor MX (the real XDP program answers
// every SYN with a RST), and `mxsensor run` must associate the spammers'
// IPv6 attempts with their IPv4 attempts and label them from Postfix's log.
func TestE2E(t *testing.T) {
	runScenario(t, scenario{senders: senders})
}

// TestE2EPostscreen is TestE2E with postscreen in front of the production
// MX's smtpd, reduced to the native-IPv6 spammer and the legitimate
// sender: postscreen's DNSBL test rejects the spammer, and the sensor
// must label it from postscreen's log lines ("DNSBL rank" and its 550
// reject), smtpd having no reject_rbl_client.
func TestE2EPostscreen(t *testing.T) {
	runScenario(t, scenario{senders: []sender{senders[0], senders[1]}, postscreen: true})
}

// TestE2ERelay has two real dual-stack Postfix relays deliver to
// fallback.test, whose MX 10 refuses, so that they fall back to the sensor
// (MX 20) and try its two addresses in the order of their
// smtp_address_preference: ipv6 for the listed rly6, ipv4 for rly4.
// Each relay first delivers to example.test (mx1), which rejects rly6.
func TestE2ERelay(t *testing.T) {
	runScenario(t, scenario{senders: relays})
}

// scenario is what one lab runs: its senders (hosts that send mail, in
// order) and the production MX's configuration.
type scenario struct {
	senders    []sender
	postscreen bool // postscreen in front of smtpd on mx1
}

// runScenario builds the lab for sc, sends the mail, stops the agent and
// checks Postfix's log, the sensor's counters and its results.
func runScenario(t *testing.T, sc scenario) {
	netlab.RequireRoot(t)
	removeLeftovers(t)
	swaks := tool(t, "swaks", "swaks")
	tool(t, "postfix", "postfix")
	tool(t, "dnsmasq", "dnsmasq-base")
	tool(t, "rbldnsd", "rbldnsd")
	start := time.Now()
	ss := sc.senders

	// A private work directory the postfix user can traverse
	// (t.TempDir is 0700).
	work, err := os.MkdirTemp("", workPattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("E2E_KEEP") != "" {
			t.Logf("keeping %s", work)
			return
		}
		os.RemoveAll(work)
	})
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	smtpSend, err := filepath.Abs("testdata/smtp-send.pl")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAgent(t, work)
	pins := mountBPFFS(t, filepath.Join(work, "bpffs"))

	tp := buildTopology(t, ss)
	for _, h := range append([]*netlab.Host{tp.mx}, hostsOf(tp, ss)...) {
		useResolver(t, h)
	}
	startDNS(t, tp.dns, work, ss)
	mta := startPostfix(t, tp.mx, tp.dns, work, sc.postscreen)
	relayMTAs := startRelays(t, tp, work, ss)
	out := filepath.Join(work, "out")
	ag := startAgent(t, tp.sensor, bin, work, out, pins, mta.log)
	sensorMAC := linkMAC(t, tp.sensor, "eth0")
	t.Logf("setup done in %v", time.Since(start).Round(time.Millisecond))

	// The mail. Each sender first delivers to the production MX (MX 10,
	// A only) with swaks, then to the sensor (MX 20) by name with Perl's
	// Net::SMTP: it connects through IO::Socket::IP, which tries every
	// address getaddrinfo returns, in order, so the family order on the
	// wire is glibc's RFC 6724 sort, as for a dual-stack MTA client.
	// (swaks 20201014 connects through IO::Socket::INET6 and tries only
	// the first address.) A relay sends both messages through its own
	// Postfix instead (sendRelay).
	transcripts := map[string]map[string]string{}
	for i, s := range ss {
		if i > 0 {
			time.Sleep(time.Second) // keep the senders' attempts apart
		}
		h := tp.senders[s.name]
		if s.relay != "" {
			sendRelay(t, h, relayMTAs[s.name], s)
			continue
		}
		from := "mailer@" + s.ptr
		prod := runClient(t, h, swaks, "--server", mxName, "--port", "25", "--from", from,
			"--to", "postmaster@"+domain, "--helo", s.ptr, "--timeout", "10", "--header", "Subject: mxsensor e2e")
		var sens string
		if s.windows {
			if err := sendWindowsSYNs(h, s, sensorMAC); err != nil {
				t.Fatal(err)
			}
		} else {
			sens = runClient(t, h, "perl", smtpSend, sensName, from, "postmaster@"+domain)
		}
		transcripts[s.name] = map[string]string{"production": prod, "sensor": sens}
	}

	// The production MTA: accepted the legitimate mail, rejected the
	// listed senders with its DNSBL line (smtpd's 554, or postscreen's
	// 550).
	rejectCode := "<** 554 "
	if sc.postscreen {
		rejectCode = "<** 550 5.7.1 Service unavailable; client ["
	}
	for _, s := range ss {
		if s.relay != "" {
			continue // no transcript: the relay's own log is checked in sendRelay
		}
		prod := transcripts[s.name]["production"]
		if s.listed && !strings.Contains(prod, rejectCode) {
			t.Errorf("%s: production MX did not reject with %q:\n%s", s.name, rejectCode, prod)
		}
		if !s.listed && !strings.Contains(prod, "<-  250 2.0.0 Ok: queued") {
			t.Errorf("%s: production MX did not queue the mail:\n%s", s.name, prod)
		}
	}
	checkMaillog(t, mta.log, ss, sc.postscreen)
	checkParsedLog(t, bin, mta.log, ss, sc.postscreen)

	// The sensor: every connection refused (ECONNREFUSED from the RST, not
	// a timeout), no SMTP session.
	for _, s := range ss {
		if s.windows || s.relay != "" {
			continue // raw frames: no client to see the RST; relays: checked in sendRelay
		}
		sens := transcripts[s.name]["sensor"]
		t.Logf("%s -> %s: %s", s.name, sensName, strings.TrimSpace(sens))
		if strings.Contains(sens, "connected to") || !strings.Contains(sens, "Connection refused") {
			t.Errorf("%s: the sensor did not refuse the connection:\n%s", s.name, sens)
		}
	}

	// Give the agent's log follower (200 ms poll) time to read the last
	// rejection, then read the kernel counters and stop the agent.
	time.Sleep(2 * time.Second)
	counters := sensorCounters(t, tp.sensor, bin, pins)
	t.Logf("kernel counters: %v", counters)
	if counters["syn_matched"] != counters["rst_sent"] {
		t.Errorf("syn_matched %d != rst_sent %d", counters["syn_matched"], counters["rst_sent"])
	}
	if counters["records_lost"] != 0 {
		t.Errorf("records_lost = %d", counters["records_lost"])
	}
	want := uint64(0)
	for _, s := range ss {
		if s.windows {
			want += 2 * windowsSYNs
		} else {
			want += 2
		}
	}
	if counters["syn_matched"] != want {
		t.Errorf("syn_matched = %d, want %d (each sender, both families)", counters["syn_matched"], want)
	}
	ag.stop(t)

	report, err := os.ReadFile(filepath.Join(out, "report.txt"))
	if err != nil {
		t.Fatalf("the agent wrote no report: %v", err)
	}
	t.Logf("==== %s\n%s", filepath.Join(out, "report.txt"), report)

	checkReport(t, filepath.Join(out, "report.json"), ss)
	checkAttempts(t, filepath.Join(out, "attempts.jsonl"), ss)
	checkAssociations(t, filepath.Join(out, "associations.jsonl"), ss)
	if b, err := os.ReadFile(filepath.Join(out, "enrich.jsonl")); err == nil {
		t.Logf("enrichment (%s):\n%s", filepath.Join(out, "enrich.jsonl"), b)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// linkMAC is the MAC address of h's interface name.
func linkMAC(t *testing.T, h *netlab.Host, name string) net.HardwareAddr {
	t.Helper()
	idx, err := h.LinkIndex(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := h.Handle().LinkByIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}

func hostsOf(tp *topology, ss []sender) []*netlab.Host {
	var hs []*netlab.Host
	for _, s := range ss {
		hs = append(hs, tp.senders[s.name])
	}
	return hs
}

// buildAgent builds mxsensor into work.
func buildAgent(t *testing.T, work string) string {
	t.Helper()
	bin := filepath.Join(work, "mxsensor")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/mxsensor/mxsensor/cmd/mxsensor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// mountBPFFS mounts a private bpffs for the agent's pins (`ip netns exec`
// remounts /sys, and the machine's /sys/fs/bpf stays untouched).
func mountBPFFS(t *testing.T, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount bpffs %s: %v", dir, err)
		}
	})
	return dir
}

// runClient runs a mail client in a sender's namespace (servers are names
// it resolves through the dns host) and returns its transcript; a non-zero
// exit is expected (rejected or refused).
func runClient(t *testing.T, h *netlab.Host, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	b, err := h.Exec(ctx, prog, args...).CombinedOutput()
	t.Logf("%s: %s %s: %v in %v", h.Name, filepath.Base(prog), strings.Join(args, " "), exitOf(err),
		time.Since(began).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("%s: %s timed out:\n%s", h.Name, prog, b)
	}
	return string(b)
}

func exitOf(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// agent is `mxsensor run` on the sensor host.
type agent struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startAgent(t *testing.T, h *netlab.Host, bin, work, out, pins, maillog string) *agent {
	t.Helper()
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("# e2e: defaults only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(work, "agent.ready")
	args := []string{"run", "--config", cfg, "--iface", "eth0", "--xdp-mode", "generic",
		"--local-addr", sensorV4.String(), "--local-addr", sensorV6.String(), "--pin-dir", pins,
		"--events", filepath.Join(out, "syns.jsonl"), "--out", out, "--db", filepath.Join(work, "mxsensor.db"),
		"--reject-log", maillog, "--tz", "UTC", "--ready-file", ready, "--metrics-listen", "",
		"--enrich-out", filepath.Join(out, "enrich.jsonl"), "--resolver", netip.AddrPortFrom(dnsV4, 53).String(),
		"--dnsbl", blZone}
	a := &agent{log: filepath.Join(work, "agent.log"), done: make(chan struct{})}
	f, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = h.Exec(context.Background(), bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXSENSOR_") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	go func() {
		a.err = a.cmd.Wait()
		f.Close()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
			return
		default:
		}
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			t.Errorf("agent %d still running 15s after SIGKILL", a.cmd.Process.Pid)
		}
	})
	waitFor(t, "agent ready file", 60*time.Second, func() error {
		select {
		case <-a.done:
			t.Fatalf("the agent exited (%v):\n%s", a.err, a.tail())
		default:
		}
		_, err := os.Stat(ready)
		return err
	})
	return a
}

// stop sends SIGTERM: the agent flushes open attempts, writes its report
// and store, and exits.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the agent: %v", err)
	}
	select {
	case <-a.done:
		if a.err != nil {
			t.Fatalf("the agent failed (%v):\n%s", a.err, a.tail())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent did not stop within 60s of SIGTERM:\n%s", a.tail())
	}
	t.Logf("agent log (tail):\n%s", a.tail())
}

func (a *agent) tail() string {
	b, _ := os.ReadFile(a.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// sensorCounters reads the XDP program's counters through `mxsensor stats`.
func sensorCounters(t *testing.T, h *netlab.Host, bin, pins string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := h.Exec(ctx, bin, "stats", "--pin-dir", pins, "--iface", "eth0", "--json").Output()
	if err != nil {
		t.Fatalf("mxsensor stats: %v\n%s", err, b)
	}
	var st struct {
		Counters map[string]uint64 `json:"counters"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("mxsensor stats output %q: %v", b, err)
	}
	return st.Counters
}

var (
	// smtpd: "RCPT from name[ip]: 554 ...; Client host [ip] blocked using",
	// postscreen: "RCPT from [ip]:port: 550 ...; client [ip] blocked using".
	rejectRE = regexp.MustCompile(`postfix/(smtpd|postscreen)\[\d+\]: NOQUEUE: reject: RCPT from [^\[]*\[([0-9.]+)\](?::\d+)?: ` +
		`(554|550) .* blocked using ` + regexp.QuoteMeta(blZone))
	rankRE   = regexp.MustCompile(`postfix/postscreen\[\d+\]: DNSBL rank (\d+) for \[([0-9.]+)\]:\d+$`)
	clientRE = regexp.MustCompile(`postfix/smtpd\[\d+\]: ([0-9A-F]+): client=[^\[]*\[([0-9.]+)\]`)
	sentRE   = regexp.MustCompile(`: ([0-9A-F]+): to=<[^>]*>.* status=sent`)
)

// checkMaillog parses the production MTA's log: a DNSBL rejection for each
// listed sender, a delivered message (status=sent) for each other sender.
// With postscreen, the rejections are postscreen's (550, and a "DNSBL rank"
// line before it), never smtpd's.
func checkMaillog(t *testing.T, path string, ss []sender, postscreen bool) {
	t.Helper()
	var rejected, ranked, sent map[string]bool
	var lines, wrongProgram []string
	wantProgram := "smtpd"
	if postscreen {
		wantProgram = "postscreen"
	}
	waitFor(t, "production MTA log complete", 30*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = strings.Split(string(b), "\n")
		rejected, ranked, sent = map[string]bool{}, map[string]bool{}, map[string]bool{}
		wrongProgram = nil
		queued, delivered := map[string]string{}, map[string]bool{}
		for _, l := range lines {
			if m := rejectRE.FindStringSubmatch(l); m != nil {
				if m[1] != wantProgram {
					wrongProgram = append(wrongProgram, l)
				}
				rejected[m[2]] = true
			}
			if m := rankRE.FindStringSubmatch(l); m != nil {
				ranked[m[2]] = true
			}
			if m := clientRE.FindStringSubmatch(l); m != nil {
				queued[m[1]] = m[2]
			}
			if m := sentRE.FindStringSubmatch(l); m != nil {
				delivered[m[1]] = true
			}
		}
		for qid, ip := range queued {
			if delivered[qid] {
				sent[ip] = true
			}
		}
		for _, s := range ss {
			if !s.listed && !sent[s.v4.String()] {
				return fmt.Errorf("no status=sent yet for %s", s.v4)
			}
		}
		return nil
	})
	for _, l := range wrongProgram {
		t.Errorf("maillog: a DNSBL rejection not by %s: %s", wantProgram, l)
	}
	for _, s := range ss {
		ip := s.v4.String()
		if s.listed != rejected[ip] {
			t.Errorf("maillog: %s (%s) DNSBL-rejected=%v, want %v", s.name, ip, rejected[ip], s.listed)
		}
		if postscreen && s.listed != ranked[ip] {
			t.Errorf("maillog: %s (%s) has a postscreen DNSBL rank line: %v, want %v", s.name, ip, ranked[ip], s.listed)
		}
		if s.listed == sent[ip] {
			t.Errorf("maillog: %s (%s) delivered=%v, want %v", s.name, ip, sent[ip], !s.listed)
		}
	}
	var mine []string
	for _, l := range lines {
		if strings.Contains(l, "reject:") || strings.Contains(l, "status=") || strings.Contains(l, "DNSBL rank") ||
			strings.Contains(l, "PASS NEW") {
			mine = append(mine, l)
		}
	}
	t.Logf("production MTA log (%s), rejections and deliveries:\n%s", path, strings.Join(mine, "\n"))
}

// checkParsedLog runs the sensor's own reject-log parser (`mxsensor
// rejectlog`, the code that `run --reject-log` follows the log with) over
// the production MTA's log: every listed sender, and no other, must come
// out as a rejection. With postscreen both of its lines count: "DNSBL rank
// N" (no zone, rank N) and its 550 reject (zone bl.example.test), both as
// mta postfix-postscreen; without it, smtpd's 554 line as postfix-smtpd.
func checkParsedLog(t *testing.T, bin, maillog string, ss []sender, postscreen bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "rejectlog", "--tz", "UTC", maillog)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXSENSOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("mxsensor rejectlog %s: %v\n%s", maillog, err, stderr.String())
	}
	path := filepath.Join(filepath.Dir(maillog), "rejections.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("mxsensor rejectlog %s: %s%s", maillog, strings.TrimSpace(stderr.String()), "\n"+string(b))
	type rej struct {
		IP   netip.Addr `json:"ip"`
		Zone string     `json:"zone"`
		MTA  string     `json:"mta"`
		Rank int        `json:"rank"`
	}
	byIP := map[netip.Addr][]rej{}
	for _, r := range readJSONL[rej](t, path) {
		byIP[r.IP] = append(byIP[r.IP], r)
	}
	for _, s := range ss {
		got := byIP[s.v4]
		delete(byIP, s.v4)
		var want []rej
		switch {
		case !s.listed:
		case postscreen:
			want = []rej{{IP: s.v4, MTA: "postfix-postscreen", Rank: 1}, {IP: s.v4, Zone: blZone, MTA: "postfix-postscreen"}}
		default:
			want = []rej{{IP: s.v4, Zone: blZone, MTA: "postfix-smtpd"}}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the reject-log parser found %v, want %v", s.name, got, want)
		}
	}
	if len(byIP) != 0 {
		t.Errorf("the reject-log parser found rejections of addresses that are no senders: %v", byIP)
	}
}

// readJSONL decodes every line of path into a new T.
func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkAttempts checks the attempts the sensor saw: each sender tried both
// families, in the order RFC 6724 gives its addresses (native IPv6 before
// IPv4; IPv4 before 6to4), and listed IPv4 sources are marked blocklisted.
// The order is the real stack's for the Net::SMTP senders; for the
// Windows-like raw frames it is the order they were sent in, so there it
// checks the sensor's timestamps, not a stack.
func checkAttempts(t *testing.T, path string, ss []sender) {
	t.Helper()
	atts := readJSONL[record.Attempt](t, path)
	for _, s := range ss {
		var v4, v6 []record.Attempt
		for _, a := range atts {
			switch a.Src {
			case s.v4:
				v4 = append(v4, a)
			case s.v6:
				v6 = append(v6, a)
			}
		}
		if len(v4) != 1 || len(v6) != 1 {
			t.Errorf("%s: %d IPv4 and %d IPv6 attempts, want 1 and 1", s.name, len(v4), len(v6))
			continue
		}
		wantSYNs := 1
		if s.windows {
			wantSYNs = windowsSYNs
		}
		if v4[0].SYNs != wantSYNs || v6[0].SYNs != wantSYNs {
			t.Errorf("%s: %d and %d SYNs in the IPv4 and IPv6 attempts, want %d", s.name, v4[0].SYNs, v6[0].SYNs, wantSYNs)
		}
		wantOS := "Linux" // the sender namespaces' own kernel
		if s.windows {
			wantOS = "Windows"
		}
		if v4[0].OSClass != wantOS || v6[0].OSClass != wantOS {
			t.Errorf("%s: OS %q and %q, want %s", s.name, v4[0].OSClass, v6[0].OSClass, wantOS)
		}
		first, second := v6[0], v4[0]
		if s.v4First() {
			first, second = v4[0], v6[0]
		}
		rule := "RFC 6724 order"
		if s.relay != "" {
			rule = "smtp_address_preference = " + s.relay
		}
		order := fmt.Sprintf("%s (%s) at %s, then %s (%s) +%v", first.Family, first.Src,
			first.FirstSeen.Format(time.RFC3339Nano), second.Family, second.Src, second.FirstSeen.Sub(first.FirstSeen))
		if !first.FirstSeen.Before(second.FirstSeen) {
			t.Errorf("%s: %s violated: want %s", s.name, rule, order)
		} else {
			t.Logf("%s: %s on the wire: %s", s.name, rule, order)
		}
		if v4[0].Blocklisted != s.listed {
			t.Errorf("%s: IPv4 attempt blocklisted=%v, want %v", s.name, v4[0].Blocklisted, s.listed)
		}
		if v4[0].Dst != sensorV4 || v6[0].Dst != sensorV6 {
			t.Errorf("%s: attempts to %v and %v, want the sensor", s.name, v4[0].Dst, v6[0].Dst)
		}
	}
}

// checkAssociations checks that every sender's IPv6 attempt is associated
// with its own IPv4 (each tried both families), that the spammers' are
// labelled spammer, and that no legitimate sender is.
//
// This holds for the relay with smtp_address_preference = ipv4 too, whose
// native IPv6 attempt follows its IPv4 one: the engine weighs that order as
// "order:reversed-rst-roundtrip-gap" (+1.5 instead of +3.0), and the
// stack, PTR and ASN evidence still carry the association.
func checkAssociations(t *testing.T, path string, ss []sender) {
	t.Helper()
	assocs := readJSONL[record.Association](t, path)
	for _, s := range ss {
		var mine []record.Association
		for _, a := range assocs {
			if a.Src == s.v6 {
				mine = append(mine, a)
			}
		}
		if len(mine) == 0 {
			t.Errorf("%s: no association record for %s", s.name, s.v6)
			continue
		}
		for _, a := range mine {
			var v4 netip.Addr
			if a.Associated() {
				v4 = a.IPv4.Src
			}
			t.Logf("%s: %s -> %v score %.2f spammer=%v evidence %v", s.name, a.Src, v4, a.Score, a.Spammer, a.Evidence)
			if v4 != s.v4 {
				t.Errorf("%s: %s associated with %v, want %s", s.name, s.v6, v4, s.v4)
			}
			if s.listed {
				if !a.Spammer {
					t.Errorf("%s: %s not labelled spammer", s.name, s.v6)
				}
			} else if a.Spammer {
				t.Errorf("%s (legitimate): %s labelled spammer", s.name, s.v6)
			}
		}
	}
}

// checkReport checks the report's spammer hosts: every listed sender's
// IPv6 address, associated; nobody else, not even by /64.
func checkReport(t *testing.T, path string, ss []sender) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Summary struct {
			HostsAssoc int `json:"ipv6_spammer_hosts_associated"`
			HostsUnasc int `json:"ipv6_spammer_hosts_unassociated"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := 0
	for _, s := range ss {
		if s.listed {
			want++
		}
	}
	if r.Summary.HostsAssoc != want || r.Summary.HostsUnasc != 0 {
		t.Errorf("report: %d associated and %d unassociated IPv6 spammer hosts, want %d and 0",
			r.Summary.HostsAssoc, r.Summary.HostsUnasc, want)
	}
}
