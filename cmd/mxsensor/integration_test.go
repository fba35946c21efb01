package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/enrich"
	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

// buildBinary builds mxsensor once for the integration tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mxsensor")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// mountBPFFS mounts a private bpffs for the test's pins; `ip netns exec`
// remounts /sys, so the sensor and stats would not share /sys/fs/bpf.
func mountBPFFS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting bpffs: %v", err)
		}
	})
	return dir
}

// attachPass attaches an XDP_PASS program to ifname inside host (see
// netlab.Host.AttachXDPPass) until the test ends.
func attachPass(t *testing.T, h *netlab.Host, ifname string) {
	t.Helper()
	detach, err := h.AttachXDPPass(ifname)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detach() })
}

type agentProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startAgent(t *testing.T, ctx context.Context, h *netlab.Host, bin string, args ...string) *agentProc {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	if !slices.Contains(args, "--db") {
		// run's store defaults to /var/lib/mxsensor: tests keep theirs in a
		// temporary directory.
		args = append(args, "--db", filepath.Join(t.TempDir(), "mxsensor.db"))
	}
	cmd := h.Exec(ctx, bin, append([]string{"run", "--ready-file", ready}, args...)...)
	a := &agentProc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = a.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-a.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			return a
		}
		select {
		case err := <-a.done:
			t.Fatalf("agent exited before it was ready: %v\n%s", err, a.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready after 20s\n%s", a.stderr)
		}
	}
}

// stop sends SIGTERM to the agent (through `ip netns exec`, which execs it,
// so the process is the agent itself) and waits for a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("agent exit: %v\n%s", err, a.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("agent did not stop on SIGTERM\n%s", a.stderr)
	}
}

func TestSensorIntegration(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	for _, mode := range []string{"generic", "native"} {
		t.Run(mode, func(t *testing.T) { testSensor(t, bin, mode) })
	}
}

func testSensor(t *testing.T, bin, mode string) {
	s4, s6 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1")
	c4, c6 := netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd77::2")
	sensorHost, client := sensorLab(t, "mxit", s4, s6, c4, c6)
	if mode == "native" {
		attachPass(t, client, "eth0")
	}
	pins := mountBPFFS(t)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	pcapOut := filepath.Join(t.TempDir(), "syns.pcap")
	enrichOut := filepath.Join(t.TempDir(), "enrich.jsonl")
	liveOut := filepath.Join(t.TempDir(), "live")
	// The production MTA's reject log lists the client's IPv4 address.
	rejectLog := filepath.Join(t.TempDir(), "mail.log")
	if err := os.WriteFile(rejectLog, []byte(time.Now().UTC().Format(time.RFC3339)+" mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[10.77.0.2]: 554 5.7.1 Service unavailable; Client host [10.77.0.2] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c6rev := enrich.QueryName(c6, "ip6.arpa")
	// A DNSBL listing the client's IPv4 address, served inside the sensor's
	// namespace (its own loopback), for --enrich-out.
	var resolver string
	if err := sensorHost.Do(func() error {
		resolver = startDNSZone(t, map[string][]string{
			"2.0.77.10.bl.test.": {"2.0.77.10.bl.test. 300 IN A 127.0.0.2"},
			// Both client addresses are named cli.test, forward-confirmed:
			// the live association engine uses that (ptr evidence).
			"2.0.77.10.in-addr.arpa.": {"2.0.77.10.in-addr.arpa. 300 IN PTR cli.test."},
			c6rev:                     {c6rev + " 300 IN PTR cli.test."},
			"cli.test.":               {"cli.test. 300 IN A 10.77.0.2", "cli.test. 300 IN AAAA fd77::2"}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", mode, "--pin-dir", pins,
		"--events", events, "--local-addr", s4.String(), "--local-addr", s6.String(), "--log-format", "json",
		"--pcap-out", pcapOut, "--enrich-out", enrichOut, "--resolver", resolver, "--dnsbl", "bl.test", "--no-cymru",
		"--out", liveOut, "--reject-log", rejectLog)

	// Real Linux clients: connect() from fixed source ports so events can be matched.
	type try struct {
		dst   netip.Addr
		sport int
		port  int
	}
	var tries []try
	for i := 0; i < 5; i++ {
		tries = append(tries, try{s4, 41000 + i, 25}, try{s6, 42000 + i, 25})
	}
	tries = append(tries, try{s4, 43000, 26}, try{s6, 43001, 26}) // not ours: the kernel answers
	// Each connect() to port 25 must be refused within 10 ms. A connect over
	// the bar is retried (at most twice, on a new source port) so that a CI
	// scheduler stall is not mistaken for a slow sensor; the refusals
	// themselves are never retried.
	const bar = 10 * time.Millisecond
	var lat []time.Duration
	retried, retried6 := 0, 0 // retried6: IPv6 attempts, one association each
	dial := func(src netip.Addr, tr try, sport int) (time.Duration, error) {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: sport}}
		start := time.Now()
		conn, err := d.Dial("tcp", netip.AddrPortFrom(tr.dst, uint16(tr.port)).String())
		el := time.Since(start)
		if err == nil {
			conn.Close()
			return el, fmt.Errorf("connect to %v:%d succeeded: the sensor must never accept", tr.dst, tr.port)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return el, fmt.Errorf("connect to %v:%d: %v, want ECONNREFUSED", tr.dst, tr.port, err)
		}
		return el, nil
	}
	err := client.Do(func() error {
		for _, tr := range tries {
			src := c4
			if tr.dst.Is6() {
				src = c6
			}
			el, err := dial(src, tr, tr.sport)
			if err != nil {
				return err
			}
			if tr.port != 25 {
				continue
			}
			for i := 0; el > bar && i < 2; i++ {
				retried++
				if tr.dst.Is6() {
					retried6++
				}
				if el, err = dial(src, tr, tr.sport+500+i); err != nil {
					return err
				}
			}
			if el > bar {
				return fmt.Errorf("connect to %v:25 refused after %v, want within %v", tr.dst, el, bar)
			}
			lat = append(lat, el)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%s mode: connect() refused in min %v, median %v, max %v (%d retried)", mode, lat[0], lat[len(lat)/2], lat[len(lat)-1], retried)
	wantSYNs := uint64(10 + retried)

	// stats reads the pinned maps of the running agent.
	var st dataplane.Stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := sensorHost.Exec(ctx, bin, "stats", "--pin-dir", pins, "--iface", "eth0", "--json").Output()
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("stats output %q: %v", out, err)
		}
		if st.Counters["records"] >= wantSYNs || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := st.Counters
	if !st.Running || !st.XDPAttached || st.AttachMode != mode || st.ReplyMode != "reject" {
		t.Errorf("stats header: %+v", st)
	}
	if c["syn_matched"] != wantSYNs || c["rst_sent"] != wantSYNs || c["records"] != wantSYNs || c["records_lost"] != 0 {
		t.Errorf("stats counters: %v", c)
	}
	if c["pass_other_port"] < 2 {
		t.Errorf("SYNs to port 26 not counted as passed: %v", c)
	}
	text, err := sensorHost.Exec(ctx, bin, "stats", "--pin-dir", pins).Output()
	if err != nil || !strings.Contains(string(text), "rst_sent") || !strings.Contains(string(text), "running") {
		t.Errorf("stats text: %v\n%s", err, text)
	}

	watch, err := sensorHost.Exec(ctx, bin, "stats", "--pin-dir", pins, "--watch", "--interval", "50ms", "--count", "2").Output()
	if err != nil || !strings.Contains(string(watch), "per sec") || strings.Count(string(watch), "sensor on eth0") != 2 {
		t.Errorf("stats --watch: %v\n%s", err, watch)
	}

	a.stop(t)

	// The live measurement equals the offline one over the same SYNs (the
	// --pcap-out capture).
	// Offline, the reverse names the live enricher found come from a table.
	// (The client alternates families within milliseconds, so most IPv6
	// attempts have an IPv4 attempt of the same host on both sides and are
	// associated with the address only; the others carry ptr evidence.)
	offOut := filepath.Join(t.TempDir(), "offline")
	ptrTable := filepath.Join(t.TempDir(), "ptr.txt")
	if err := os.WriteFile(ptrTable, []byte("10.77.0.2 cli.test\nfd77::2 cli.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, err := runCLI(t, "analyze", "--pcap", pcapOut, "--reject-log", rejectLog, "--out", offOut, "--ptr-table", ptrTable); err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	for _, f := range []string{"attempts.jsonl", "associations.jsonl"} {
		live, err1 := os.ReadFile(filepath.Join(liveOut, f))
		off, err2 := os.ReadFile(filepath.Join(offOut, f))
		if err1 != nil || err2 != nil || len(live) == 0 || !bytes.Equal(live, off) {
			t.Errorf("%s: live and offline differ (%v %v)\nlive:\n%s\noffline:\n%s", f, err1, err2, live, off)
		}
	}
	if assoc, _ := os.ReadFile(filepath.Join(liveOut, "associations.jsonl")); strings.Count(string(assoc), "\n") != 5+retried6 || !strings.Contains(string(assoc), `"blocklisted":true`) ||
		!strings.Contains(string(assoc), `"ptr:same-name(+4.0)"`) {
		t.Errorf("live associations:\n%s", assoc)
	}

	// At exit, run wrote the report of its live measurement.
	if txt, err := os.ReadFile(filepath.Join(liveOut, "report.txt")); err != nil || !strings.Contains(string(txt), "IPv6 spammer OSes") {
		t.Errorf("live report.txt: %v\n%s", err, txt)
	}
	if _, err := os.Stat(filepath.Join(liveOut, "report.html")); err != nil {
		t.Errorf("live report.html: %v", err)
	}

	// Enrichment: both client addresses looked up once; the IPv4 one is listed.
	enr, err := os.ReadFile(enrichOut)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enr), `"ip":"10.77.0.2","dnsbl":[{"zone":"bl.test","listed":true`) ||
		!strings.Contains(string(enr), `"ip":"fd77::2","dnsbl":[{"zone":"bl.test","listed":false`) || strings.Count(string(enr), "\n") != 2 {
		t.Errorf("enrichment output:\n%s", enr)
	}

	// The pcap written beside the events reads back as the same SYNs.
	out, errOut, err := runCLI(t, "read", pcapOut)
	if err != nil || strings.Count(out, "\n") != int(wantSYNs) {
		t.Errorf("reading --pcap-out: %v, %d events\n%s", err, strings.Count(out, "\n"), errOut)
	}

	// The events the agent wrote.
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[int]synevent.Event{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev synevent.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		got[int(ev.SrcPort)] = ev
	}
	if uint64(len(got)) != wantSYNs {
		t.Errorf("%d events, want %d", len(got), wantSYNs)
	}
	for _, tr := range tries[:10] {
		ev, ok := got[tr.sport]
		if !ok {
			t.Errorf("no event for source port %d", tr.sport)
			continue
		}
		wantSrc, mss := c4, []byte{2, 4, 0x05, 0xb4}
		if tr.dst.Is6() {
			wantSrc, mss = c6, []byte{2, 4, 0x05, 0xa0}
		}
		if ev.Src != wantSrc || ev.Dst != tr.dst || ev.DstPort != 25 || ev.Action != dataplane.ActionRST {
			t.Errorf("event %+v", ev)
		}
		// Linux: mss, sackOK, timestamps, nop, wscale.
		opts := ev.TCPOptions()
		if len(opts) != 20 || !bytes.Equal(opts[:4], mss) || opts[4] != 4 || opts[6] != 8 || opts[16] != 1 || opts[17] != 3 {
			t.Errorf("options % x: not a Linux SYN", opts)
		}
		if ev.TTL != 64 || time.Since(ev.Time) > time.Minute || time.Since(ev.Time) < 0 {
			t.Errorf("ttl %d time %v", ev.TTL, ev.Time)
		}
	}

	// After the agent stops: no XDP program, no pins, and stats says so.
	err = sensorHost.Do(func() error {
		att, _, err := dataplane.XDPAttached("eth0")
		if err != nil {
			return err
		}
		if att {
			return errors.New("XDP program still attached after the agent stopped")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(pins, "eth0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin directory left behind: %v", err)
	}
	out2, err := sensorHost.Exec(ctx, bin, "stats", "--pin-dir", pins).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "no sensor running") {
		t.Errorf("stats with no sensor: %v %s", err, out2)
	}
}

// TestSensorKill9: a killed agent leaves its pinned link (the program keeps
// answering); `mxsensor detach` removes it, and a new agent takes over.
func TestSensorKill9(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	lab, err := netlab.New("mxk9")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	sensorHost, _ := lab.AddHost("sens")
	client, _ := lab.AddHost("cli")
	if sensorHost == nil || client == nil {
		t.Fatal("adding hosts failed")
	}
	if _, err := lab.Link(sensorHost, client, netlab.LinkConfig{AName: "eth0", BName: "eth0",
		AAddrs: []netip.Prefix{netip.MustParsePrefix("10.78.0.1/24")}, BAddrs: []netip.Prefix{netip.MustParsePrefix("10.78.0.2/24")}}); err != nil {
		t.Fatal(err)
	}
	pins := mountBPFFS(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attached := func() bool {
		var att bool
		if err := sensorHost.Do(func() (err error) { att, _, err = dataplane.XDPAttached("eth0"); return }); err != nil {
			t.Fatal(err)
		}
		return att
	}
	a := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", "")
	_ = a.cmd.Process.Kill()
	<-a.done
	if !attached() {
		t.Fatal("after kill -9 the pinned link should keep the program attached")
	}
	out, err := sensorHost.Exec(ctx, bin, "stats", "--pin-dir", pins).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "AGENT NOT RUNNING") {
		t.Errorf("stats of a killed sensor: %v\n%s", err, out)
	}
	// A new agent takes over the stale state, then stops cleanly.
	b := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", "")
	b.stop(t)
	if attached() {
		t.Error("program attached after the second agent stopped")
	}
	// Kill again and use detach.
	c := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", "")
	_ = c.cmd.Process.Kill()
	<-c.done
	if out, err := sensorHost.Exec(ctx, bin, "detach", "--pin-dir", pins, "--iface", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("detach: %v\n%s", err, out)
	}
	if attached() {
		t.Error("program still attached after detach")
	}
	// Another program on the interface: refuse, and say what to do.
	attachPass(t, sensorHost, "eth0")
	out, err = sensorHost.Exec(ctx, bin, "run", "--iface", "eth0", "--pin-dir", pins, "--events", "", "--db", "").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another XDP program") {
		t.Errorf("run over a foreign XDP program: %v\n%s", err, out)
	}
}

// TestRunWithoutPrivileges: an unprivileged agent fails with an error that
// names the capabilities it lacks, and leaves nothing behind.
func TestRunWithoutPrivileges(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	// The test's temporary directories are 0700; nobody must be able to exec the binary.
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "run", "--iface", "lo", "--events", "", "--db", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("unprivileged run succeeded")
	}
	for _, want := range []string{"CAP_BPF", "CAP_NET_ADMIN"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error does not name %s (%v):\n%s", want, err, out)
		}
	}
}

// sensorLab builds the two-host lab most agent tests use: a sensor and a
// client namespace joined by a veth pair named eth0 on both ends, with the
// given addresses (the IPv6 ones may be the zero Addr: IPv4 only). The lab
// is removed when the test ends.
func sensorLab(t *testing.T, name string, s4, s6, c4, c6 netip.Addr) (sensor, client *netlab.Host) {
	t.Helper()
	lab, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
	})
	if sensor, err = lab.AddHost("sens"); err != nil {
		t.Fatal(err)
	}
	if client, err = lab.AddHost("cli"); err != nil {
		t.Fatal(err)
	}
	cfg := netlab.LinkConfig{AName: "eth0", BName: "eth0",
		AAddrs: []netip.Prefix{netip.PrefixFrom(s4, 24)}, BAddrs: []netip.Prefix{netip.PrefixFrom(c4, 24)}}
	if s6.IsValid() {
		cfg.AAddrs = append(cfg.AAddrs, netip.PrefixFrom(s6, 64))
		cfg.BAddrs = append(cfg.BAddrs, netip.PrefixFrom(c6, 64))
	}
	if _, err := lab.Link(sensor, client, cfg); err != nil {
		t.Fatal(err)
	}
	return sensor, client
}
