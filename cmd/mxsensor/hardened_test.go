package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/netlab"
)

const sensorUnit = "../../packaging/mxsensor.service"

// requireTool finds a program the test runs, failing under CI=true and
// skipping elsewhere when it is missing.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (Debian package %s) not installed; CI=true: failing instead of skipping", name, pkg)
		}
		t.Skipf("%s (Debian package %s) not installed", name, pkg)
	}
	return p
}

// unitService reads the [Service] settings of a unit file, each key's
// values in order.
func unitService(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if l[0] == '[' {
			section = l
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: not a setting: %q", path, l)
		}
		if section == "[Service]" {
			settings[k] = append(settings[k], v)
		}
	}
	return settings
}

// The exposure systemd-analyze gives each unit (issue 21): the sensor at
// most 2.5, the collector, which needs no capability, at most 1.5.
func TestUnitExposure(t *testing.T) {
	sa := requireTool(t, "systemd-analyze", "systemd")
	re := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for unit, most := range map[string]float64{"mxsensor.service": 2.5, "mxsensor-collect.service": 1.5} {
		out, err := exec.Command(sa, "security", "--offline=true", filepath.Join("../../packaging", unit)).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
		}
		m := re.FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no exposure level in\n%s", unit, out)
		}
		got, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: exposure %.1f (at most %.1f)", unit, got, most)
		if got > most {
			t.Errorf("%s: exposure %.1f, want at most %.1f\n%s", unit, got, most, out)
		}
	}
}

// expandSyscalls turns SystemCallFilter= items (names and @groups) into
// system call names, as systemd-analyze lists the groups.
func expandSyscalls(t *testing.T, sa string, items []string, into map[string]bool) {
	t.Helper()
	for _, it := range items {
		if !strings.HasPrefix(it, "@") {
			into[it] = true
			continue
		}
		out, err := exec.Command(sa, "syscall-filter", it).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", it, err)
		}
		lines := strings.Split(string(out), "\n")[1:] // the first is the group's name
		var members []string
		for _, l := range lines {
			if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
				members = append(members, l)
			}
		}
		if len(members) == 0 {
			t.Fatalf("systemd-analyze syscall-filter %s: empty group", it)
		}
		expandSyscalls(t, sa, members, into)
	}
}

// The unit's settings the harness applies itself (see sandboxArgs), and those
// it leaves out, each with why; a setting in neither fails the test, so a
// new one is either exercised or explained.
var (
	unitApplied = []string{"User", "Group", "DynamicUser", "SupplementaryGroups", "AmbientCapabilities", "CapabilityBoundingSet",
		"NoNewPrivileges", "UMask", "SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures",
		"RestrictAddressFamilies", "MemoryDenyWriteExecute", "ProtectSystem", "ReadWritePaths", "StateDirectory",
		"ProtectKernelTunables", "ProtectProc", "PrivateDevices", "DevicePolicy", "ProtectClock",
		"ProtectKernelLogs", "ProtectHostname", "PrivateMounts", "ExecStart", "ExecStartPre"}
	unitNotApplied = map[string]string{
		"Type": "service management", "KillSignal": "the test sends SIGTERM", "TimeoutStopSec": "the test bounds the stop",
		"Restart": "service management", "RestartSec": "service management", "StateDirectoryMode": "the test makes the directory 0750",
		"ConfigurationDirectory": "the test passes flags", "LimitMEMLOCK": "BPF memory is charged to the cgroup since Linux 5.11",
		"ProtectHome":          "the agent opens nothing under /home (the file system is read-only anyway)",
		"PrivateTmp":           "the test's files are under /tmp (read-only but them)",
		"ProtectKernelModules": "no module system call is in the filter", "ProtectControlGroups": "read-only with the rest",
		"RestrictNamespaces": "the agent makes no namespace (systemd checks the flags of unshare, clone and setns)",
		"LockPersonality":    "the agent never calls personality(2)",
		"RestrictRealtime":   "the agent sets no scheduling policy", "RestrictSUIDSGID": "the agent makes no set-id file",
		"RemoveIPC":       "the agent makes no SysV IPC object",
		"EnvironmentFile": "the test passes no secret",
		"PrivateUsers":    "a user namespace mapping only the service's user: the test runs it as nobody, which owns nothing",
	}
)

// confineAsUnit is the command that runs a program (appended to it) under
// the unit's restrictions, with the test's state directory (and pin
// directory, "" for a unit without) in place of the unit's: unitsandbox as
// root sets up the namespaces and the umask, setpriv becomes nobody with the
// unit's capabilities and no_new_privs, and unitsandbox again installs the
// system call filter and refuses writable executable memory, as systemd
// does once it has changed user.
func confineAsUnit(t *testing.T, unit map[string][]string, sandboxBin, setprivBin, state, pins string) []string {
	t.Helper()
	for k := range unit {
		if !slices.Contains(unitApplied, k) && unitNotApplied[k] == "" {
			t.Errorf("the unit sets %s, which the test neither applies nor explains", k)
		}
	}
	one := func(k string) string {
		if len(unit[k]) != 1 {
			t.Fatalf("the unit sets %s %d times, want once", k, len(unit[k]))
		}
		return unit[k][0]
	}
	want := map[string]string{"NoNewPrivileges": "yes", "SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes",
		"ProtectSystem": "strict", "ProtectKernelTunables": "yes", "ProtectProc": "invisible",
		"PrivateDevices": "yes", "ProtectHostname": "yes", "SystemCallErrorNumber": "EPERM"}
	for k, v := range want {
		if got := one(k); got != v {
			t.Fatalf("the unit sets %s=%s; the test applies %s=%s", k, got, k, v)
		}
	}
	rw := state
	if pins != "" {
		if p := one("ReadWritePaths"); p != "/sys/fs/bpf/mxsensor" {
			t.Fatalf("ReadWritePaths=%s: the test knows the pin directory only", p)
		}
		rw += "," + pins
	} else if len(unit["ReadWritePaths"]) > 0 {
		t.Fatalf("ReadWritePaths=%v: the test has no directory for it", unit["ReadWritePaths"])
	}
	// An allow-list, then what "~" lines take out of it.
	sa := requireTool(t, "systemd-analyze", "systemd")
	allowed, refused := map[string]bool{}, map[string]bool{}
	for _, v := range unit["SystemCallFilter"] {
		if rest, ok := strings.CutPrefix(v, "~"); ok {
			expandSyscalls(t, sa, strings.Fields(rest), refused)
		} else {
			expandSyscalls(t, sa, strings.Fields(v), allowed)
		}
	}
	if len(allowed) == 0 {
		t.Fatal("the unit's SystemCallFilter has no allow-list")
	}
	for c := range refused {
		delete(allowed, c)
	}
	var families []string
	for _, f := range strings.Fields(one("RestrictAddressFamilies")) {
		families = append(families, strings.ToLower(strings.TrimPrefix(f, "AF_")))
	}
	ambient, bounding := "-all"+capList(t, one("AmbientCapabilities")), "-all"+capList(t, one("CapabilityBoundingSet"))
	return []string{sandboxBin, "-umask", one("UMask"), "-read-only", "-rw", rw, "-proc-invisible", "-private-devices",
		"-private-uts", "--",
		setprivBin, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + ambient,
		"--ambient-caps=" + ambient, "--bounding-set=" + bounding, "--no-new-privs",
		sandboxBin, "-syscalls", strings.Join(slices.Sorted(maps.Keys(allowed)), ","), "-errno", "1",
		"-families", strings.Join(families, ","), "-mdwe", "--"}
}

// capList turns "CAP_BPF CAP_NET_ADMIN" into setpriv's ",+bpf,+net_admin".
func capList(t *testing.T, v string) string {
	var out strings.Builder
	for _, c := range strings.Fields(v) {
		if !strings.HasPrefix(c, "CAP_") {
			t.Fatalf("capability %q", c)
		}
		out.WriteString(",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return out.String()
}

// buildStatic builds a package of this module without cgo, as `make build`
// does (a cgo build could not drop capabilities on every thread).
func buildStatic(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		bin = filepath.Join(filepath.Dir(bin), "mxsensor")
	}
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// statusFields reads some fields of a /proc status file.
func statusFields(path string, keys ...string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && slices.Contains(keys, k) {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

// reachable opens the temporary directories above each path to nobody.
func reachable(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		for d := filepath.Dir(p); d != os.TempDir() && d != "/" && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sandboxTools builds mxsensor and tools/unitsandbox and finds setpriv,
// skipping (failing under CI=true) where the sandbox cannot work.
func sandboxTools(t *testing.T) (bin, sandboxBin, setprivBin string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("tools/unitsandbox knows the x86-64 system call table only")
	}
	// PR_SET_MDWE (MemoryDenyWriteExecute) is Linux 6.3, and map reads
	// without CAP_BPF (the drop, see docs/security.md) 6.5: on older
	// kernels the agent keeps its capabilities by design.
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		var major, minor int
		if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err == nil && major*100+minor < 605 {
			t.Skipf("Linux %d.%d: the hardened run needs 6.5 or later (PR_SET_MDWE, map reads without CAP_BPF)", major, minor)
		}
	}
	setprivBin = requireTool(t, "setpriv", "util-linux")
	if _, err := os.Stat("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the system call table (Debian package linux-libc-dev) is missing; CI=true: failing instead of skipping")
		}
		t.Skip("the system call table (Debian package linux-libc-dev) is missing")
	}
	return buildStatic(t, "."), buildStatic(t, "../../tools/unitsandbox"), setprivBin
}

// confined is `mxsensor run` started as nobody in a sensor lab under a
// command that confines it (setpriv, unitsandbox), with state and pin
// directories made as the unit's StateDirectory and ExecStartPre make them.
type confined struct {
	t              *testing.T
	sensor, client *netlab.Host
	s4, c4         netip.Addr
	state, pins    string
	cmd            *exec.Cmd
	stderr         bytes.Buffer
	done           chan error
	pid            int
}

// startConfined starts bin under wrap(state, pins) in a new lab named lab
// (sensor s4, client c4) and waits until it is attached.
func startConfined(t *testing.T, lab string, s4, c4 netip.Addr, bin string, wrap func(state, pins string) []string) *confined {
	t.Helper()
	c := &confined{t: t, s4: s4, c4: c4, done: make(chan error, 1)}
	c.sensor, c.client = sensorLab(t, lab, s4, netip.Addr{}, c4, netip.Addr{})
	c.pins, c.state = mountBPFFS(t), t.TempDir()
	const nobody = 65534
	for d, mode := range map[string]os.FileMode{c.pins: 0o700, c.state: 0o750} {
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	args := append(wrap(c.state, c.pins), bin, "run", "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", c.pins,
		"--events", filepath.Join(c.state, "events.jsonl"), "--db", filepath.Join(c.state, "mxsensor.db"),
		"--out", filepath.Join(c.state, "out"), "--no-report", "--ready-file", filepath.Join(c.state, "ready"),
		"--metrics-listen", "127.0.0.1:9725", "--log-format", "json")
	reachable(t, args[0], bin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	c.cmd = c.sensor.Exec(ctx, args[0], args[1:]...)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	ready := filepath.Join(c.state, "ready")
	for deadline := time.Now().Add(20 * time.Second); ; {
		if b, err := os.ReadFile(ready); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			if c.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("ready file %q: %v", b, err)
			}
			return c
		}
		select {
		case err := <-c.done:
			t.Fatalf("the confined agent exited: %v\n%s", err, c.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20s\n%s", c.stderr.String())
		}
	}
}

// refuse connects three times from the client (source ports base to
// base+2); each must be refused.
func (c *confined) refuse(base int) {
	c.t.Helper()
	err := c.client.Do(func() error {
		for i := range 3 {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: c.c4.AsSlice(), Port: base + i}}
			conn, err := d.Dial("tcp", netip.AddrPortFrom(c.s4, 25).String())
			if err == nil {
				conn.Close()
				return errors.New("the sensor accepted a connection")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// stop sends SIGTERM and requires a clean exit, with the three events
// written.
func (c *confined) stop() {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Fatalf("exit: %v\n%s", err, c.stderr.String())
		}
	case <-time.After(15 * time.Second):
		c.t.Fatalf("no exit on SIGTERM\n%s", c.stderr.String())
	}
	ev, err := os.ReadFile(filepath.Join(c.state, "events.jsonl"))
	if err != nil || strings.Count(string(ev), "\n") != 3 {
		c.t.Errorf("events: %v\n%s", err, ev)
	}
}

// TestRunHardened starts the agent under the sensor unit's restrictions,
// applied by the test as systemd would (systemd is not PID 1 in CI): the
// unit's user-to-be (nobody), capabilities, no_new_privs, umask, seccomp
// allow-list of system calls and socket families, no writable executable
// memory, a read-only file system but the state and pin directories, a
// private /dev, /proc and host name. The agent must attach, drop its
// capabilities on every thread (CapEff 0), keep its pins 0700/0600 and its
// files 0640, refuse connections and record them, and detach cleanly at
// SIGTERM.
func TestRunHardened(t *testing.T) {
	netlab.RequireRoot(t)
	unit := unitService(t, sensorUnit)
	bin, sandboxBin, setprivBin := sandboxTools(t)
	a := startConfined(t, "mxhard", netip.MustParseAddr("10.82.0.1"), netip.MustParseAddr("10.82.0.2"), bin,
		func(state, pins string) []string { return confineAsUnit(t, unit, sandboxBin, setprivBin, state, pins) })

	// Capabilities are per thread: every thread of the agent must have
	// dropped them.
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", a.pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", a.pid, err)
	}
	for _, task := range tasks {
		st, err := statusFields(fmt.Sprintf("/proc/%d/task/%s/status", a.pid, task.Name()),
			"CapEff", "CapPrm", "CapAmb", "CapInh", "NoNewPrivs", "Seccomp")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"CapEff", "CapPrm", "CapAmb", "CapInh"} {
			if st[k] != "0000000000000000" {
				t.Errorf("thread %s: %s %s, want 0", task.Name(), k, st[k])
			}
		}
		if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
			t.Errorf("thread %s: NoNewPrivs %s, Seccomp %s: the restrictions did not apply", task.Name(), st["NoNewPrivs"], st["Seccomp"])
		}
	}
	// The pins: the directory 0700, each object 0600.
	pinDir := filepath.Join(a.pins, "eth0")
	checkMode(t, pinDir, fs.ModeDir|0o700)
	pinned, err := os.ReadDir(pinDir)
	if err != nil || len(pinned) < 3 {
		t.Fatalf("pins: %v %v", pinned, err)
	}
	for _, p := range pinned {
		checkMode(t, filepath.Join(pinDir, p.Name()), 0o600)
	}

	a.refuse(42200)
	// Without capabilities the agent still reads its maps: the kernel
	// counters it serves count the three SYNs.
	err = a.sensor.Do(func() error {
		// Dialled on this goroutine, whose thread is in the namespace.
		conn, err := net.Dial("tcp", "127.0.0.1:9725")
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n"); err != nil {
			return err
		}
		b, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`(?m)^mxsensor_xdp_syns_matched_total 3$`).Match(b) {
			return fmt.Errorf("metrics without the SYNs matched:\n%s", b)
		}
		// The process collector reads /proc/stat (ProcSubset=pid would
		// hide it, and the start time with it).
		if !regexp.MustCompile(`(?m)^process_start_time_seconds `).Match(b) {
			return fmt.Errorf("metrics without the process's start time:\n%s", b)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	a.stop()
	// Detached without capabilities: no program on the interface, no pins.
	err = a.sensor.Do(func() error {
		attached, id, err := dataplane.XDPAttached("eth0")
		if err == nil && attached {
			err = fmt.Errorf("XDP program %d still attached after exit", id)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pin directory left behind: %v", err)
	}
	for _, want := range []string{"dropped CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON", "detached XDP program"} {
		if !strings.Contains(a.stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, a.stderr.String())
		}
	}
	for _, f := range []string{"events.jsonl", "mxsensor.db", "out/attempts.jsonl", "out/associations.jsonl"} {
		checkMode(t, filepath.Join(a.state, f), 0o640)
	}
}

// TestCollectHardened starts the collector under its unit's restrictions,
// as TestRunHardened does the agent: without any capability, it must run
// its embedded NATS server, create its store 0640 and stop on its own.
func TestCollectHardened(t *testing.T) {
	netlab.RequireRoot(t)
	unit := unitService(t, "../../packaging/mxsensor-collect.service")
	bin, sandboxBin, setprivBin := sandboxTools(t)
	state := t.TempDir()
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o750); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().String())
		l.Close()
	}
	args := append(confineAsUnit(t, unit, sandboxBin, setprivBin, state, ""),
		bin, "collect", "--db", filepath.Join(state, "fleet.db"), "--embedded-nats", ports[0],
		"--nats-store", filepath.Join(state, "nats"), "--exit-idle", "2s", "--metrics-listen", ports[1], "--log-format", "json")
	reachable(t, bin, sandboxBin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The process keeps its id through the execs: read the collector's
	// capabilities once it is the collector.
	var st map[string]string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if err != nil || strings.TrimSpace(string(comm)) != "mxsensor" {
			continue
		}
		if st, err = statusFields(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid), "CapEff", "CapPrm", "CapBnd", "Seccomp"); err == nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("collect under its unit: %v\n%s", err, out.String())
	}
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if st[k] != "0000000000000000" {
			t.Errorf("%s %q, want 0 (status %v)", k, st[k], st)
		}
	}
	if st["Seccomp"] != "2" {
		t.Errorf("Seccomp %q: the filter did not apply", st["Seccomp"])
	}
	for _, want := range []string{"embedded NATS server started", "collector stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, out.String())
		}
	}
	checkMode(t, filepath.Join(state, "fleet.db"), 0o640)
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

// TestRunUmask: whatever the caller's umask, the agent's store and outputs
// are not world-readable (0640). A start that fails at the sensor (no such
// interface) has created them already.
func TestRunUmask(t *testing.T) {
	bin := buildStatic(t, ".")
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `umask 0; exec "$@"`, "sh", bin, "run", "--iface", "mxs-none0",
		"--db", filepath.Join(dir, "m.db"), "--events", filepath.Join(dir, "ev.jsonl"), "--out", filepath.Join(dir, "out"),
		"--metrics-listen", "")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run on a missing interface succeeded:\n%s", out)
	}
	for _, f := range []string{"m.db", "ev.jsonl", "out/attempts.jsonl"} {
		checkMode(t, filepath.Join(dir, f), 0o640)
	}
	checkMode(t, filepath.Join(dir, "out"), fs.ModeDir|0o750)
}
