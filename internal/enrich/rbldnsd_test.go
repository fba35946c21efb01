package enrich

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireRbldnsd returns the rbldnsd binary. When it is missing and the
// test runs as root it installs Debian's package; otherwise the test skips,
// saying why, except under CI=true, where it fails: `make test` installs
// rbldnsd, so this test must run in CI.
func requireRbldnsd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("rbldnsd")
	if err == nil {
		return bin
	}
	// Debian installs it in /usr/sbin, which may not be on a user's PATH.
	if _, serr := os.Stat("/usr/sbin/rbldnsd"); serr == nil {
		return "/usr/sbin/rbldnsd"
	}
	if os.Geteuid() == 0 {
		t.Log("rbldnsd missing: installing Debian's package")
		var out []byte
		if out, err = exec.Command("apt-get", "update", "-qq").CombinedOutput(); err == nil {
			cmd := exec.Command("apt-get", "install", "-y", "-qq", "rbldnsd")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			out, err = cmd.CombinedOutput()
		}
		if err == nil {
			if bin, err = exec.LookPath("rbldnsd"); err == nil {
				return bin
			}
			if _, err = os.Stat("/usr/sbin/rbldnsd"); err == nil {
				return "/usr/sbin/rbldnsd"
			}
		} else {
			err = fmt.Errorf("apt-get: %w: %s", err, out)
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but rbldnsd is not available (make test installs Debian's rbldnsd): %v", err)
	}
	t.Skipf("skipping: needs rbldnsd (apt-get install rbldnsd, or run the tests as root to have it installed): %v", err)
	return ""
}

// freePort returns a port free, at the time of asking, for UDP on
// 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startRbldnsd runs rbldnsd in the foreground on 127.0.0.1 serving the
// zone specs (zone:type:file, files in dir) and returns its address once
// it says it has started. It is stopped when the test ends.
func startRbldnsd(t *testing.T, bin, dir string, zones ...string) string {
	t.Helper()
	var lastErr error
	for range 5 { // the port may be taken between freePort and the bind
		port := freePort(t)
		args := []string{"-n", "-b", fmt.Sprintf("127.0.0.1/%d", port), "-c", "0"}
		if os.Geteuid() == 0 {
			// As root rbldnsd drops to its own user; confine it to dir.
			args = append(args, "-r", dir, "-w", "/")
		} else {
			args = append(args, "-w", dir)
		}
		args = append(args, zones...)
		cmd := exec.Command(bin, args...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = cmd.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start rbldnsd: %v", err)
		}
		// Read its messages; "started" means it answers queries.
		var mu sync.Mutex
		var log strings.Builder
		started := make(chan struct{})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			sc := bufio.NewScanner(stderr)
			once := sync.Once{}
			for sc.Scan() {
				mu.Lock()
				log.WriteString(sc.Text() + "\n")
				mu.Unlock()
				if strings.Contains(sc.Text(), " started (") {
					once.Do(func() { close(started) })
				}
			}
		}()
		logText := func() string {
			mu.Lock()
			defer mu.Unlock()
			return log.String()
		}
		select {
		case <-started:
			t.Cleanup(func() {
				cmd.Process.Signal(os.Interrupt)
				done := make(chan struct{})
				go func() { cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					cmd.Process.Kill()
					<-done
				}
				if t.Failed() {
					t.Logf("rbldnsd output:\n%s", logText())
				}
			})
			return fmt.Sprintf("127.0.0.1:%d", port)
		case <-exited:
			cmd.Wait()
			lastErr = fmt.Errorf("rbldnsd exited: %s", logText())
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("rbldnsd did not start in 10 s:\n%s", logText())
		}
	}
	t.Fatalf("could not start rbldnsd: %v", lastErr)
	return ""
}

// TestRbldnsd checks listed and unlisted IPv4 and IPv6 addresses against
// Debian's rbldnsd serving an ip4set and an ip6trie zone.
func TestRbldnsd(t *testing.T) {
	bin := requireRbldnsd(t)
	dir := t.TempDir()
	// rbldnsd drops root before reading the files: open them up.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"bl4": `$SOA 0 ns.bl4.test. hostmaster.bl4.test. 1 600 300 86400 120
:127.0.0.2:Listed, see https://bl4.test/lookup?ip=$
192.0.2.7
198.51.100.0/24 :127.0.0.4:Whole network listed
!198.51.100.77
`,
		"bl6": `$SOA 0 ns.bl6.test. hostmaster.bl6.test. 1 600 300 86400 120
:127.0.0.3:IPv6 listed: $
2001:db8:dead::/48
2001:db8::25 :127.0.0.9:Single host
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := startRbldnsd(t, bin, dir, "bl4.test:ip4set:bl4", "bl6.test:ip6trie:bl6")

	cfg := testConfig(addr)
	cfg.Timeout = time.Second
	cfg.DNSBLZones = []string{"bl4.test", "bl6.test"}
	e := newTestEnricher(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	type want struct {
		listed bool
		code   string
		reason string
	}
	for _, c := range []struct {
		ip       string
		zone     string
		expected want
	}{
		{"192.0.2.7", "bl4.test", want{true, "127.0.0.2", "Listed, see https://bl4.test/lookup?ip=192.0.2.7"}},
		{"192.0.2.8", "bl4.test", want{}},
		{"198.51.100.1", "bl4.test", want{true, "127.0.0.4", "Whole network listed"}},
		{"198.51.100.77", "bl4.test", want{}},
		{"2001:db8:dead:beef::1", "bl6.test", want{true, "127.0.0.3", "IPv6 listed: "}},
		{"2001:db8::25", "bl6.test", want{true, "127.0.0.9", "Single host"}},
		{"2001:db8::26", "bl6.test", want{}},
		{"2001:db8:beef::1", "bl6.test", want{}},
	} {
		ip := netip.MustParseAddr(c.ip)
		// Through the queue, as the sensor does it.
		if !e.Submit(Request{IP: ip, Want: WantDNSBL}) {
			t.Fatal("Submit refused")
		}
		res := <-e.Results()
		if res.Err != nil {
			t.Errorf("%s: %v", c.ip, res.Err)
			continue
		}
		for _, r := range res.DNSBL {
			exp := want{}
			if r.Zone == c.zone {
				exp = c.expected
			}
			if r.Listed != exp.listed {
				t.Errorf("%s in %s: listed=%v, want %v", c.ip, r.Zone, r.Listed, exp.listed)
				continue
			}
			if !exp.listed {
				continue
			}
			if !slices.Equal(r.Codes, []netip.Addr{netip.MustParseAddr(exp.code)}) {
				t.Errorf("%s in %s: codes %v, want %s", c.ip, r.Zone, r.Codes, exp.code)
			}
			// rbldnsd puts the address in place of $; compare the prefix
			// for IPv6, whose text form rbldnsd may write differently.
			if len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], exp.reason) {
				t.Errorf("%s in %s: reasons %q, want %q", c.ip, r.Zone, r.Reasons, exp.reason)
			}
		}
	}
	st := e.Stats()
	if st.NXDomain == 0 || st.Timeouts != 0 || st.NetErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}
