package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rspamdBins returns Debian's rspamd and rspamc. Without them the test
// skips, saying why, except under CI=true, where it fails: CI installs
// rspamd (make deps-test).
func rspamdBins(t *testing.T) (string, string) {
	t.Helper()
	d, err1 := exec.LookPath("rspamd")
	c, err2 := exec.LookPath("rspamc")
	if err1 == nil && err2 == nil {
		return d, c
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but rspamd is missing (make deps-test installs Debian's rspamd): %v %v", err1, err2)
	}
	t.Skipf("skipping: needs rspamd (apt-get install rspamd): %v %v", err1, err2)
	return "", ""
}

// rspamdLocalConfig is what the test's rspamd changes of Debian's
// configuration: its log, DNS (rbldnsd), one scanner on a loopback port,
// no other worker, a list of top-level domains short enough to load in
// no time (Debian's takes rspamd half a minute to compile), and two lists of the test's zone, one on the client's
// address and one on the Received headers', each enough to reject.
func rspamdLocalConfig(dir, logPath, dns string, port int) map[string]string {
	return map[string]string{
		"local.d/logging.inc": fmt.Sprintf("type = \"file\";\nfilename = %q;\nlevel = \"info\";\nlog_buffer = 0;\n", logPath),
		"local.d/options.inc": fmt.Sprintf("dns {\n  nameserver = [%q];\n  timeout = 1s;\n  retransmits = 1;\n}\nlocal_addrs = [];\n"+
			"disable_hyperscan = true;\nurl_tld = %q;\n", dns, filepath.Join(dir, "tld.dat")),
		"override.d/worker-normal.inc":     fmt.Sprintf("bind_socket = \"127.0.0.1:%d\";\ncount = 1;\n", port),
		"override.d/worker-controller.inc": "enabled = false;\n",
		"override.d/worker-proxy.inc":      "enabled = false;\n",
		"override.d/worker-fuzzy.inc":      "enabled = false;\n",
		"local.d/rbl.conf": `rbls {
  mxsensor_test { symbol = "RBL_MXS_TEST"; rbl = "bl.mxsensor.test"; ipv6 = false; }
  mxsensor_received { symbol = "RECEIVED_MXS_TEST"; rbl = "bl.mxsensor.test"; ipv6 = false; received = true; from = false; }
}
`,
		"local.d/groups.conf": `group "mxsensor" {
  symbols {
    "RBL_MXS_TEST" { weight = 20.0; }
    "RECEIVED_MXS_TEST" { weight = 20.0; }
  }
}
`,
	}
}

// TestRejectlogRealRspamd: real rspamd, asking a real DNSBL (rbldnsd)
// that lists 192.0.2.7, rejects three messages: one from 192.0.2.7, one
// from 198.51.100.9 whose Received header names 192.0.2.7, one from
// 198.51.100.9 that is only suspicious. `mxsensor rejectlog` finds in
// rspamd's log the first alone.
func TestRejectlogRealRspamd(t *testing.T) {
	rspamd, rspamc := rspamdBins(t)
	rbl := dnsblRbldnsd(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // rbldnsd reads it as its own user
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bl.txt"), []byte(":127.0.0.2:Listed\n192.0.2.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "bl.txt"), 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	dns := dnsblStartRbldnsd(t, rbl, dir, "bl.mxsensor.test:ip4set:bl.txt")

	logPath := filepath.Join(dir, "rspamd.log")
	if err := os.WriteFile(filepath.Join(dir, "tld.dat"), []byte("org\nnet\ncom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	// rspamd binds the port it is given after seconds of loading; another
	// package's test may have taken the free port by then. An rspamd that
	// exits before it listens is started again on another port (its output
	// logged), twice at most.
	var addr string
	var stop func()
	var t0 time.Time
	for try := 1; addr == ""; try++ {
		addr, stop, t0 = rspamdStart(t, rspamd, dir, logPath, dns, try == 3)
	}

	t.Logf("rspamd listening after %v", time.Since(t0))
	msg := func(received string) string {
		p := filepath.Join(dir, "msg-"+received+".eml")
		body := "Received: from bulk.example.net (bulk.example.net [" + received + "]) by mx1.example.org; Thu, 26 Nov 2026 10:00:00 +0000\n" +
			"From: a@example.net\nTo: b@example.org\nSubject: hello\nMessage-ID: <m1@example.net>\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\nhello\n"
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ client, received, action string }{
		{"192.0.2.7", "198.51.100.9", "Action: reject"},
		{"198.51.100.9", "192.0.2.7", "Action: reject"},
		{"198.51.100.9", "198.51.100.9", "Action: "},
	} {
		res, err := exec.Command(rspamc, "-h", addr, "-i", c.client, "-F", "a@example.net", "-r", "b@example.org", msg(c.received)).CombinedOutput()
		if err != nil || !strings.Contains(string(res), c.action) {
			t.Fatalf("rspamc from %s: %v\n%s", c.client, err, res)
		}
	}
	stop() // the log is complete

	stdout, errs, err := runCLI(t, "rejectlog", "--tz", "UTC", "--log-format", "json", logPath)
	if err != nil {
		t.Fatal(err, errs)
	}
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	want := `"ip":"192.0.2.7","zone":"RBL_MXS_TEST","zone_kind":"symbol","mta":"rspamd"`
	if len(got) != 1 || !strings.Contains(got[0], want) {
		log, _ := os.ReadFile(logPath)
		var results []string
		for l := range strings.SplitSeq(string(log), "\n") {
			if strings.Contains(l, "rspamd_task_write_log") {
				results = append(results, l)
			}
		}
		t.Fatalf("rejections:\n%s\nwant one with %s; rspamd's results:\n%s", stdout, want, strings.Join(results, "\n"))
	}
}

// rspamdStart starts rspamd with the test's configuration on a free port
// and waits until it listens. It returns its address and how to stop it,
// or "" if rspamd exited first (a failure if last).
func rspamdStart(t *testing.T, rspamd, dir, logPath, dns string, last bool) (string, func(), time.Time) {
	t.Helper()
	port := dnsblFreePort(t)
	local := filepath.Join(dir, "local")
	for name, body := range rspamdLocalConfig(dir, logPath, dns, port) {
		p := filepath.Join(local, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(logPath) // a failed start's lines
	args := []string{"-f", "-c", "/etc/rspamd/rspamd.conf", "--var=LOCAL_CONFDIR=" + local,
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + dir, "--var=LOGDIR=" + dir}
	if os.Geteuid() == 0 {
		args = append(args, "-i", "-u", "root", "-g", "root")
	}
	cmd := exec.Command(rspamd, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	outFile, err := os.Create(filepath.Join(dir, "rspamd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	out := func() string { b, _ := os.ReadFile(outFile.Name()); return string(b) }
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		if cmd.Process == nil {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		cmd.Process = nil
	}
	t.Cleanup(stop)

	// Ready when the scanner accepts connections (it loads for seconds).
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(90 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, t0
		}
		select {
		case err := <-exited:
			cmd.Process = nil // stop has nothing left to wait for
			if last {
				t.Fatalf("rspamd exited: %v\n%s", err, out())
			}
			t.Logf("rspamd exited before listening on %s: %v\n%s", addr, err, out())
			return "", nil, t0
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rspamd not listening on %s after 90 s\n%s", addr, out())
		}
	}
}
