package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/mxsensor/mxsensor/internal/lab"
	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
)

// TestLab runs `mxsensor lab` as a user would (the built binary, as root)
// with a short duration and checks what it printed, the associations it
// produced, and that it left nothing behind.
func TestLab(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lab", "--duration", "8s", "--linux", "2", "--windows", "1", "--macos", "1", "--keep", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("lab ran in %v", time.Since(start).Round(time.Millisecond))
	info, infoErr := lab.ReadInfo(out)
	if infoErr == nil {
		// Whatever else failed, the lab must have removed what it created.
		defer assertLabGone(t, info, out)
	}
	if err != nil {
		t.Fatalf("mxsensor lab: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if infoErr != nil {
		t.Fatalf("lab.json: %v", infoErr)
	}

	// The report run wrote at exit, then the clients' table.
	text := stdout.String()
	for _, want := range []string{"report.txt (written by `mxsensor run` at exit)", "Summary", "IPv6 spammer OSes",
		"SYNs per connect() attempt, by OS", "Association evidence", "lab clients", "all 4 clients as expected",
		"results kept in " + out} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	// The associations: every IPv6 attempt of a listed client associated
	// with its own IPv4 and labelled spammer; unlisted clients never spammers.
	type tally struct{ v6, own, spam int }
	got := map[string]*tally{}
	byAddr := map[string]lab.Client{}
	for _, c := range info.Clients {
		got[c.Name] = &tally{}
		byAddr[c.IPv6.String()] = c
	}
	if _, err := results.ScanDir(out, record.AssociationsFile, func(r io.Reader) (record.Stats, error) {
		return record.ScanAssociations(r, record.Window{}, func(a *record.Association) error {
			c, ok := byAddr[a.Src.String()]
			if !ok {
				t.Errorf("association of an unknown source %v", a.Src)
				return nil
			}
			tl := got[c.Name]
			tl.v6++
			if a.Associated() && a.IPv4.Src == c.IPv4 {
				tl.own++
			}
			if a.Spammer {
				tl.spam++
			}
			// The fingerprints tell the stacks apart (the Windows order
			// and port evidence depend on it).
			if want := map[string]string{lab.KindLinux: "linux", lab.KindWindows: "windows", lab.KindMacOS: "mac"}[c.Kind]; !strings.Contains(strings.ToLower(a.OSClass), want) {
				t.Errorf("%s: IPv6 attempt fingerprinted as %q", c.Name, a.OSClass)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, c := range info.Clients {
		tl := got[c.Name]
		switch {
		case tl.v6 == 0:
			t.Errorf("%s: no IPv6 attempt in associations.jsonl", c.Name)
		case c.Listed && (tl.own != tl.v6 || tl.spam != tl.v6):
			t.Errorf("%s (listed): %d IPv6 attempts, %d associated with %v, %d spammer", c.Name, tl.v6, tl.own, c.IPv4, tl.spam)
		case !c.Listed && tl.spam != 0:
			t.Errorf("%s (not listed): %d of %d IPv6 attempts labelled spammer", c.Name, tl.spam, tl.v6)
		}
		if c.Listed {
			listed++
		}
	}
	if listed != 2 { // lin1 and win1 by default
		t.Errorf("%d listed clients, want 2: %+v", listed, info.Clients)
	}
	// The live measurement equals the offline one over the capture the
	// agent wrote beside it.
	off := filepath.Join(t.TempDir(), "offline")
	if _, errs, err := runCLI(t, "analyze", "--pcap", filepath.Join(out, lab.PcapFile), "--reject-log", filepath.Join(out, lab.RejectLogFile),
		"--tz", "UTC", "--out", off, "--no-report"); err != nil {
		t.Fatalf("analyze: %v\n%s", err, errs)
	}
	for _, f := range []string{record.AttemptsFile, record.AssociationsFile} {
		live, err1 := os.ReadFile(filepath.Join(out, f))
		offline, err2 := os.ReadFile(filepath.Join(off, f))
		if err1 != nil || err2 != nil || !bytes.Equal(live, offline) {
			t.Errorf("%s: live and offline differ (%v %v)\nlive:\n%s\noffline:\n%s", f, err1, err2, live, offline)
		}
	}
	for _, f := range []string{lab.RejectLogFile, lab.EventsFile, lab.PcapFile, lab.AgentLogFile, "report.html", "attempts.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("results file %s: %v", f, err)
		}
	}
}

// TestLabInterrupt: Ctrl-C during the traffic stops the lab, which removes
// everything it created and exits non-zero saying it was interrupted; a
// fleet lab's collector and DNSBL too.
func TestLabInterrupt(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	for _, sensors := range []string{"1", "3"} {
		t.Run("sensors="+sensors, func(t *testing.T) { testLabInterrupt(t, bin, sensors) })
	}
}

func testLabInterrupt(t *testing.T, bin, sensors string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lab", "--duration", "60s", "--linux", "1", "--windows", "1", "--macos", "0", "--keep", "",
		"--sensors", sensors)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile(`"id": "(` + lab.NetlabPrefix + `[a-z0-9]+)".*"results": "([^"]+)"`)
	var id, resultsDir string
	var log bytes.Buffer
	connecting := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			log.WriteString(line + "\n")
			if m := idRE.FindStringSubmatch(line); m != nil {
				id, resultsDir = m[1], m[2]
			}
			if !signalled && strings.Contains(line, "clients connecting") {
				signalled = true
				close(connecting)
			}
		}
	}()
	select {
	case <-connecting:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("lab never started its clients:\n%s", log.String())
	}
	time.Sleep(2 * time.Second) // mid-delivery
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("interrupted lab: %v, want exit status 1", err)
	}
	if !strings.Contains(log.String(), "everything it created was removed") {
		t.Errorf("stderr does not say the lab was removed:\n%s", log.String())
	}
	if id == "" {
		t.Fatalf("no lab id in the log:\n%s", log.String())
	}
	if _, err := os.Stat(resultsDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary results directory %s left behind: %v", resultsDir, err)
	}
	assertLabGone(t, &lab.Info{ID: id}, resultsDir)
}

// assertLabGone checks that no namespace, veth, bpffs mount or process of
// the lab remains.
func assertLabGone(t *testing.T, info *lab.Info, out string) {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), info.ID) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, "to-") || strings.HasPrefix(n, info.ID) {
			t.Errorf("link %s in the root namespace", n)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, "/"+info.ID) || (info.BPFFS != "" && strings.Contains(line, info.BPFFS)) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if info.BPFFS != "" {
		if _, err := os.Stat(filepath.Dir(info.BPFFS)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("work directory %s left behind: %v", filepath.Dir(info.BPFFS), err)
		}
	}
	// The agents' command lines name the results directory (--out), the
	// collector's and the DNSBL's their files in it; a zombie's is empty.
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if args := strings.Split(string(b), "\x00"); len(args) > 1 && slices.Contains([]string{"run", "collect", "dnsbl"}, args[1]) &&
			bytes.Contains(b, []byte(out)) {
			t.Errorf("lab process %s still running: %q", p.Name(), args)
		}
	}
}

// TestLabFleet runs `mxsensor lab --sensors 3` as a user would: three
// sensors publishing to a collector, which must hold every sensor's
// attempts once and label as spammer, at every sensor, the clients that
// any sensor's domain listed; the DNSBL of the shared list must answer
// for them; and nothing may be left behind.
func TestLabFleet(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "results")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lab", "--sensors", "3", "--duration", "2s", "--linux", "2", "--windows", "1", "--macos", "1", "--keep", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("fleet lab ran in %v", time.Since(start).Round(time.Millisecond))
	info, infoErr := lab.ReadInfo(out)
	if infoErr == nil {
		defer assertLabGone(t, info, out)
	}
	if err != nil {
		t.Fatalf("mxsensor lab --sensors 3: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if infoErr != nil {
		t.Fatalf("lab.json: %v", infoErr)
	}
	text := stdout.String()
	for _, want := range []string{"(mxsensor report --db " + filepath.Join(out, lab.CollectorDir, lab.FleetDBFile) + ")",
		"Per sensor", "seen at several sensors", "lin1, listed only at s1's domain, connected to s2: 0 of",
		"s2's DNSBL (dnsbl --nats, the shared list): 127.0.0.2 for the 2 listed clients' IPv6 addresses, NXDOMAIN for the 2 others; 0 wrong",
		"all 4 clients and 2 checks as expected"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if len(info.Sensors) != 3 || info.Collector == nil {
		t.Fatalf("lab.json: sensors %+v, collector %+v", info.Sensors, info.Collector)
	}

	// Independently of the lab's own checks: the collector holds each
	// sensor's attempts once, and the IPv6 attempts of lin1 (listed at
	// s1 only) that s2 recorded are spammer in the fleet's view only.
	st, err := store.OpenReadOnly(filepath.Join(out, lab.CollectorDir, lab.FleetDBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lin1 lab.Client
	for _, c := range info.Clients {
		if c.Name == "lin1" {
			lin1 = c
		}
	}
	if !slices.Equal(lin1.ListedAt, []string{"s1"}) {
		t.Fatalf("lin1 listed at %v, want s1", lin1.ListedAt)
	}
	for _, s := range info.Sensors {
		lines := func(src results.Source) (attempts int, lin1Spam, lin1V6 int) {
			if _, err := results.Scan(src, record.AttemptsFile, func(r io.Reader) (record.Stats, error) {
				return record.ScanAttempts(r, record.Window{}, func(*record.Attempt) error { attempts++; return nil })
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := results.Scan(src, record.AssociationsFile, func(r io.Reader) (record.Stats, error) {
				return record.ScanAssociations(r, record.Window{}, func(a *record.Association) error {
					if a.Src == lin1.IPv6 {
						lin1V6++
						if a.Spammer {
							lin1Spam++
						}
					}
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
			return attempts, lin1Spam, lin1V6
		}
		own, ownSpam, ownV6 := lines(results.Dir(filepath.Join(out, s.ID)))
		fl, flSpam, flV6 := lines(st.Sensor(s.ID))
		if own == 0 || own != fl || ownV6 == 0 || ownV6 != flV6 {
			t.Errorf("%s: %d attempts (lin1: %d IPv6) at the sensor, %d (%d) at the collector", s.ID, own, ownV6, fl, flV6)
		}
		if flSpam != flV6 {
			t.Errorf("%s: %d of lin1's %d IPv6 attempts spammer in the fleet's view", s.ID, flSpam, flV6)
		}
		if wantOwn := map[bool]int{true: ownV6}[s.ID == "s1"]; ownSpam != wantOwn {
			t.Errorf("%s: %d of lin1's %d IPv6 attempts spammer at the sensor itself, want %d", s.ID, ownSpam, ownV6, wantOwn)
		}
	}
	for _, f := range []string{filepath.Join(lab.CollectorDir, lab.ReportFile), filepath.Join(lab.CollectorDir, lab.CollectorLogFile),
		filepath.Join("s2", lab.DNSBLLogFile), filepath.Join("s3", lab.RejectLogFile), filepath.Join("s1", lab.SensorDBFile)} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("results file %s: %v", f, err)
		}
	}
}
