//go:build linux

package netlab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func newLab(t *testing.T, prefix string) *Lab {
	t.Helper()
	RequireRoot(t)
	l, err := New(prefix)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func mustHost(t *testing.T, l *Lab, name string) *Host {
	t.Helper()
	h, err := l.AddHost(name)
	if err != nil {
		t.Fatalf("AddHost(%q): %v", name, err)
	}
	return h
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runEntries lists /run/netns entries starting with prefix.
func runEntries(t *testing.T, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(runDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read %s: %v", runDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// rootVeths lists veth interfaces in the test process's namespace whose
// name starts with prefix or whose MAC is one of macs.
func rootVeths(t *testing.T, prefix string, macs ...net.HardwareAddr) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("LinkList: %v", err)
	}
	var out []string
	for _, lk := range links {
		if lk.Type() != "veth" {
			continue
		}
		hit := strings.HasPrefix(lk.Attrs().Name, prefix)
		for _, m := range macs {
			hit = hit || bytes.Equal(lk.Attrs().HardwareAddr, m)
		}
		if hit {
			out = append(out, lk.Attrs().Name)
		}
	}
	return out
}

// strayThreads reports threads of this process whose network namespace
// differs from the one the process (its main thread) is in.
func strayThreads(t *testing.T) []string {
	t.Helper()
	var want unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &want); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var stray []string
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"), &st); err != nil {
			continue // thread exited meanwhile
		}
		if st.Dev != want.Dev || st.Ino != want.Ino {
			stray = append(stray, task.Name())
		}
	}
	return stray
}

// openNSFiles counts this process's open file descriptors that refer to
// network namespaces.
func openNSFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		// Through a /run/netns bind mount the link reads as that path,
		// so look at the file system type of the target instead.
		var fs unix.Statfs_t
		if unix.Statfs(filepath.Join("/proc/self/fd", fd.Name()), &fs) == nil && fs.Type == unix.NSFS_MAGIC {
			n++
		}
	}
	return n
}

// serve accepts connections on ln and greets each with msg until ln closes.
func serve(ln net.Listener, msg string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, msg+"\n")
		_ = c.Close()
	}
}

// dialFrom connects from inside h to addr and returns the first line read.
func dialFrom(h *Host, addr string) (string, error) {
	var line string
	err := h.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	return strings.TrimSpace(line), err
}

func TestTwoHostsTCP(t *testing.T) {
	l := newLab(t, "nlt")
	a := mustHost(t, l, "a")
	b := mustHost(t, l, "b")
	if a.NsName != l.ID()+"-a" {
		t.Errorf("NsName = %q, want %q", a.NsName, l.ID()+"-a")
	}
	if _, err := os.Stat(filepath.Join(runDir, a.NsName)); err != nil {
		t.Errorf("namespace not visible under %s: %v", runDir, err)
	}

	amac := mustMAC(t, "02:6e:6c:00:00:0a")
	bmac := mustMAC(t, "02:6e:6c:00:00:0b")
	v, err := l.Link(a, b, LinkConfig{
		AName:  "nlta0",
		BName:  "nltb0",
		AAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.7.1/24"), netip.MustParsePrefix("fd00:231:7::1/64")},
		BAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.7.2/24"), netip.MustParsePrefix("fd00:231:7::2/64")},
		AMAC:   amac,
		BMAC:   bmac,
		MTU:    1400,
	})
	if err != nil {
		t.Fatalf("Link: %v", err)
	}
	if v.A != a || v.B != b || v.AName != "nlta0" || v.BName != "nltb0" {
		t.Errorf("Veth = %+v", v)
	}
	if !bytes.Equal(v.AMAC, amac) || !bytes.Equal(v.BMAC, bmac) {
		t.Errorf("MACs = %v, %v; want %v, %v", v.AMAC, v.BMAC, amac, bmac)
	}
	if idx, err := a.LinkIndex("nlta0"); err != nil || idx != v.AIndex {
		t.Errorf("a.LinkIndex = %d, %v; want %d", idx, err, v.AIndex)
	}
	if idx, err := b.LinkIndex("nltb0"); err != nil || idx != v.BIndex {
		t.Errorf("b.LinkIndex = %d, %v; want %d", idx, err, v.BIndex)
	}
	if _, err := a.LinkIndex("nltb0"); err == nil {
		t.Errorf("B's end visible in A")
	}
	lb, err := b.Handle().LinkByIndex(v.BIndex)
	if err != nil {
		t.Fatalf("LinkByIndex: %v", err)
	}
	if lb.Attrs().MTU != 1400 {
		t.Errorf("B MTU = %d, want 1400", lb.Attrs().MTU)
	}
	if got := rootVeths(t, "nlt", amac, bmac); len(got) != 0 {
		t.Errorf("lab veths visible in the root namespace: %v", got)
	}

	// A default-named second link on the same pair of hosts.
	v2, err := l.Link(a, b, LinkConfig{})
	if err != nil {
		t.Fatalf("second Link: %v", err)
	}
	if v2.AName != "eth0" || v2.BName != "eth0" {
		t.Errorf("default names = %q, %q; want eth0, eth0", v2.AName, v2.BName)
	}

	// The listener is created inside B, so it lives in B's namespace even
	// though it is served from an ordinary goroutine.
	var ln net.Listener
	if err := b.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatalf("listen in B: %v", err)
	}
	defer ln.Close()
	go serve(ln, "hello from b")
	port := ln.Addr().(*net.TCPAddr).Port

	for _, ip := range []string{"10.231.7.2", "fd00:231:7::2"} {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		got, err := dialFrom(a, addr)
		if err != nil {
			t.Errorf("dial %s from A: %v", addr, err)
			continue
		}
		if got != "hello from b" {
			t.Errorf("dial %s from A: got %q", addr, got)
		}
	}

	if s := strayThreads(t); len(s) != 0 {
		t.Errorf("threads left in a lab namespace: %v", s)
	}

	// An open socket would keep B's namespace (and its veth end) alive in
	// the kernel after Close, though nameless; close it first.
	ln.Close()
	id := l.ID()
	if n := openNSFiles(t); n < 2 {
		t.Errorf("before Close: %d open netns fds, want >= 2", n)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := openNSFiles(t); n != 0 {
		t.Errorf("after Close: %d netns fds still open", n)
	}
	if got := runEntries(t, id); len(got) != 0 {
		t.Errorf("after Close, %s still has %v", runDir, got)
	}
	if got := rootVeths(t, id, amac, bmac); len(got) != 0 {
		t.Errorf("after Close, root namespace has veths %v", got)
	}
	if err := a.Do(func() error { return nil }); err == nil {
		t.Errorf("Do after Close succeeded")
	}
	if _, err := l.AddHost("c"); err == nil {
		t.Errorf("AddHost after Close succeeded")
	}
}

func TestDo(t *testing.T) {
	l := newLab(t, "nlt")
	a := mustHost(t, l, "a")

	// fn runs in the host's namespace.
	want, err := netns.GetFromName(a.NsName)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for range 50 {
		err := a.Do(func() error {
			cur, err := netns.Get()
			if err != nil {
				return err
			}
			defer cur.Close()
			if !cur.Equal(want) {
				return errors.New("fn not in the host namespace")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// fn's error comes back unchanged.
	sentinel := errors.New("sentinel")
	if err := a.Do(func() error { return sentinel }); err != sentinel {
		t.Errorf("Do error = %v, want sentinel", err)
	}

	// A panic is re-raised in the caller, and the thread is restored.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = a.Do(func() error { panic("boom") })
	}()

	if s := strayThreads(t); len(s) != 0 {
		t.Errorf("threads left in a lab namespace: %v", s)
	}
}

func TestExec(t *testing.T) {
	l := newLab(t, "nlt")
	a := mustHost(t, l, "a")
	b := mustHost(t, l, "b")
	if _, err := l.Link(a, b, LinkConfig{
		AAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.8.1/24")},
		BAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.8.2/24")},
	}); err != nil {
		t.Fatalf("Link: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if _, err := exec.LookPath("nsenter"); err != nil {
			t.Skip("neither ip nor nsenter installed")
		}
	}
	ctx := t.Context()

	// The command sees the namespace's interfaces.
	out, err := b.Exec(ctx, "cat", "/proc/net/dev").Output()
	if err != nil {
		t.Fatalf("Exec cat: %v", err)
	}
	if !strings.Contains(string(out), "eth0:") || strings.Contains(string(out), "ifb0") {
		t.Errorf("/proc/net/dev inside b:\n%s", out)
	}
	if _, err := exec.LookPath("ip"); err == nil {
		out, err := b.Exec(ctx, "ip", "-o", "-4", "addr", "show", "dev", "eth0").Output()
		if err != nil {
			t.Fatalf("Exec ip: %v", err)
		}
		if !strings.Contains(string(out), "10.231.8.2/24") {
			t.Errorf("ip addr inside b: %s", out)
		}
	}

	// A long-running command is killed by Close.
	sleeper := a.Exec(ctx, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleeper.Wait() }()
	// Wait (bounded) until the sleeper is inside the namespace, so Close's
	// scan finds it too and not only the context cancellation.
	ns, err := netns.GetFromName(a.NsName)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nsIDOf(ns)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitForProcs(t, id, a.NsName)
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("sleep exited cleanly, want killed")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("sleep still running 10s after Close")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Close + kill took %v", d)
	}
	if len(pidsIn(id)) != 0 {
		t.Errorf("processes left in the namespace: %v", pidsIn(id))
	}
	if err := a.Exec(ctx, "true").Run(); err == nil {
		t.Errorf("Exec after Close ran")
	}
}

func TestLinkFailureCleansUp(t *testing.T) {
	l := newLab(t, "nlt")
	a := mustHost(t, l, "a")
	b := mustHost(t, l, "b")
	p := netip.MustParsePrefix("10.231.9.1/24")
	// The second, identical address fails with EEXIST after the veth exists.
	_, err := l.Link(a, b, LinkConfig{AName: "x0", BName: "y0", AAddrs: []netip.Prefix{p, p}})
	if err == nil {
		t.Fatal("Link with a duplicate address succeeded")
	}
	if _, err := a.LinkIndex("x0"); err == nil {
		t.Errorf("x0 left in A after failed Link")
	}
	if _, err := b.LinkIndex("y0"); err == nil {
		t.Errorf("y0 left in B after failed Link")
	}
	// Same names work now.
	if _, err := l.Link(a, b, LinkConfig{AName: "x0", BName: "y0", AAddrs: []netip.Prefix{p}}); err != nil {
		t.Errorf("Link after failed Link: %v", err)
	}
	// Name clash with an existing interface.
	if _, err := l.Link(a, b, LinkConfig{AName: "x0", BName: "y1"}); err == nil {
		t.Errorf("Link reusing x0 succeeded")
	}
	if _, err := b.LinkIndex("y1"); err == nil {
		t.Errorf("y1 left in B after failed Link")
	}
	// Both ends in one host.
	v, err := l.Link(a, a, LinkConfig{})
	if err != nil {
		t.Fatalf("Link(a, a): %v", err)
	}
	if v.AName == v.BName {
		t.Errorf("same-host link with names %q, %q", v.AName, v.BName)
	}
}

func TestValidation(t *testing.T) {
	for _, p := range []string{"", "a/b", "toolong", "x y"} {
		if _, err := New(p); err == nil {
			t.Errorf("New(%q) succeeded", p)
		}
	}
	if err := Cleanup(""); err == nil {
		t.Errorf("Cleanup(\"\") succeeded")
	}
	if err := Cleanup("../x"); err == nil {
		t.Errorf("Cleanup(\"../x\") succeeded")
	}

	l := newLab(t, "nlt")
	for _, n := range []string{"", "..", "a/b", "muchtoolongname"} {
		if _, err := l.AddHost(n); err == nil {
			t.Errorf("AddHost(%q) succeeded", n)
		}
	}
	a := mustHost(t, l, "a")
	if _, err := l.AddHost("a"); err == nil {
		t.Errorf("duplicate AddHost succeeded")
	}
	// Someone else's /run/netns entry with our name: AddHost fails and
	// leaves the entry alone.
	foreign := filepath.Join(runDir, l.ID()+"-f")
	if err := os.WriteFile(foreign, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(foreign)
	if _, err := l.AddHost("f"); err == nil {
		t.Errorf("AddHost over an existing entry succeeded")
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("AddHost removed a foreign entry: %v", err)
	}
	other := newLab(t, "nlt")
	o := mustHost(t, other, "o")
	if _, err := l.Link(a, o, LinkConfig{}); err == nil {
		t.Errorf("Link across labs succeeded")
	}
	if _, err := l.Link(a, a, LinkConfig{AMAC: net.HardwareAddr{1, 2, 3}}); err == nil {
		t.Errorf("Link with a 3-byte MAC succeeded")
	}
	if _, err := l.Link(a, a, LinkConfig{AAddrs: []netip.Prefix{{}}}); err == nil {
		t.Errorf("Link with an invalid prefix succeeded")
	}
	if _, err := l.Link(a, a, LinkConfig{AName: "same", BName: "same"}); err == nil {
		t.Errorf("Link with equal names in one host succeeded")
	}
}

// abandon forgets a lab the way a killed process would: handles are closed,
// nothing is removed.
func (l *Lab) abandon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.nl != nil {
			h.nl.Close()
			h.nl = nil
		}
		h.ns.Close()
	}
	l.hosts = nil
	l.cancels = nil
}

func TestCleanup(t *testing.T) {
	RequireRoot(t)
	// A prefix of its own, so Cleanup cannot touch labs of concurrently
	// running tests.
	prefix, err := randomSuffix(4)
	if err != nil {
		t.Fatal(err)
	}
	prefix = "c" + prefix
	l, err := New(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Cleanup(prefix) })
	a := mustHost(t, l, "a")
	b := mustHost(t, l, "b")
	if _, err := l.Link(a, b, LinkConfig{
		AAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.10.1/24")},
		BAddrs: []netip.Prefix{netip.MustParsePrefix("10.231.10.2/24")},
	}); err != nil {
		t.Fatalf("Link: %v", err)
	}
	// A process left running in a leftover namespace, as after kill -9 of
	// a test binary whose children survived.
	var sleeper *exec.Cmd
	waited := make(chan error, 1)
	if _, err := exec.LookPath("ip"); err == nil {
		sleeper = a.Exec(t.Context(), "sleep", "60")
		sleeper.SysProcAttr.Pdeathsig = 0
		if err := sleeper.Start(); err != nil {
			t.Fatalf("start sleep: %v", err)
		}
		go func() { waited <- sleeper.Wait() }()
	}
	// A stray veth in the root namespace named with the prefix (down, no
	// addresses).
	attrs := netlink.NewLinkAttrs()
	attrs.Name = prefix + "r0"
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: prefix + "r1", PeerTxQLen: -1}); err != nil {
		t.Fatalf("root veth: %v", err)
	}
	if sleeper != nil {
		// Let ip netns exec reach the namespace before we tear it down.
		ns, err := netns.GetFromName(a.NsName)
		if err != nil {
			t.Fatal(err)
		}
		id, err := nsIDOf(ns)
		ns.Close()
		if err != nil {
			t.Fatal(err)
		}
		waitForProcs(t, id, a.NsName)
	}
	l.abandon()

	if got := runEntries(t, prefix); len(got) != 2 {
		t.Fatalf("before Cleanup: entries %v, want 2", got)
	}
	if err := Cleanup(prefix); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := runEntries(t, prefix); len(got) != 0 {
		t.Errorf("after Cleanup: %s still has %v", runDir, got)
	}
	if got := rootVeths(t, prefix); len(got) != 0 {
		t.Errorf("after Cleanup: root veths %v", got)
	}
	if sleeper != nil {
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			t.Errorf("process in leftover namespace still running after Cleanup")
		}
	}
	// Nothing left: a second Cleanup is a no-op, and closing the abandoned
	// lab is harmless.
	if err := Cleanup(prefix); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Cleanup: %v", err)
	}
}

// TestHelperLab is not a test: TestCleanupAfterKill runs the test binary
// with NETLAB_HELPER_PREFIX set to build a lab in a separate process that
// it then kills with SIGKILL.
func TestHelperLab(t *testing.T) {
	prefix := os.Getenv("NETLAB_HELPER_PREFIX")
	if prefix == "" {
		t.Skip("helper process only")
	}
	l, err := New(prefix)
	if err != nil {
		t.Fatal(err)
	}
	a := mustHost(t, l, "a")
	b := mustHost(t, l, "b")
	if _, err := l.Link(a, b, LinkConfig{}); err != nil {
		t.Fatal(err)
	}
	sleeper := a.Exec(context.Background(), "sleep", "60")
	sleeper.SysProcAttr.Pdeathsig = 0 // survive us, as a stray daemon would
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	ns, err := netns.GetFromName(a.NsName)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nsIDOf(ns)
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitForProcs(t, id, a.NsName)
	fmt.Printf("ready %d\n", sleeper.Process.Pid)
	time.Sleep(time.Minute)
}

func TestCleanupAfterKill(t *testing.T) {
	RequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed")
	}
	prefix, err := randomSuffix(4)
	if err != nil {
		t.Fatal(err)
	}
	prefix = "k" + prefix
	t.Cleanup(func() { _ = Cleanup(prefix) })

	child := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperLab$", "-test.v")
	child.Env = append(os.Environ(), "NETLAB_HELPER_PREFIX="+prefix)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var sleepPid int
	select {
	case line, ok := <-lines:
		if !ok {
			_ = child.Wait()
			t.Fatal("helper exited without getting ready")
		}
		sleepPid, err = strconv.Atoi(strings.TrimPrefix(line, "ready "))
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		_ = child.Process.Kill()
		t.Fatal("helper not ready after 20s")
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	if got := runEntries(t, prefix); len(got) != 2 {
		t.Fatalf("leftovers before Cleanup: %v, want 2 entries", got)
	}
	if !alive(sleepPid) {
		t.Fatalf("stray process %d already gone before Cleanup", sleepPid)
	}
	if err := Cleanup(prefix); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := runEntries(t, prefix); len(got) != 0 {
		t.Errorf("after Cleanup: %v", got)
	}
	if got := rootVeths(t, prefix); len(got) != 0 {
		t.Errorf("after Cleanup: root veths %v", got)
	}
	if alive(sleepPid) {
		t.Errorf("stray process %d still running after Cleanup", sleepPid)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitForProcs waits (bounded) until some process is inside namespace id.
func waitForProcs(t *testing.T, id nsID, label string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(pidsIn(id)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no process appeared in namespace %s", label)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
