//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	// maxName is the longest interface name Linux accepts (IFNAMSIZ-1).
	// Namespace names are held to the same limit.
	maxName = 15
	// suffixLen is the number of random characters New appends to the prefix.
	suffixLen = 4
	// maxPrefix leaves room for the suffix, a dash and a host name of at
	// least four characters.
	maxPrefix = maxName - suffixLen - 5
	// linkUpTimeout bounds the wait for both veth ends to report carrier.
	linkUpTimeout = 5 * time.Second
	// execWaitDelay bounds cmd.Wait once an Exec command has been cancelled.
	execWaitDelay = 5 * time.Second
)

// Lab is a set of network namespaces and the veth pairs between them. The
// zero value is not usable; call New. All methods are safe for concurrent
// use. Close removes everything.
type Lab struct {
	id string

	mu      sync.Mutex
	closed  bool
	hosts   []*Host
	cancels []context.CancelFunc
}

// Host is one network namespace of a Lab.
type Host struct {
	// Name is the name given to AddHost.
	Name string
	// NsName is the namespace's name under /run/netns (lab ID, "-", Name).
	NsName string

	lab    *Lab
	ns     netns.NsHandle  // guarded by lab.mu; closed by Close
	nl     *netlink.Handle // guarded by lab.mu; closed by Close
	nextIf int             // guarded by lab.mu; for default link names
}

// LinkConfig describes a veth pair for Lab.Link. Empty names default to
// ethN, N counting up per host and skipping names in use. Addresses are assigned with
// the prefix length given (e.g. 10.0.0.1/24, fd00::1/64); IPv6 addresses get
// IFA_F_NODAD so they are usable at once. Nil MACs let the kernel choose a
// random one. MTU 0 keeps the kernel default (1500).
type LinkConfig struct {
	AName, BName   string
	AAddrs, BAddrs []netip.Prefix
	AMAC, BMAC     net.HardwareAddr
	MTU            int
}

// Veth is a veth pair created by Lab.Link: end A in host A, end B in host B.
type Veth struct {
	A, B           *Host
	AName, BName   string
	AIndex, BIndex int
	AMAC, BMAC     net.HardwareAddr
}

// New returns an empty lab. Every namespace it creates is named
// prefix + a short random suffix + "-" + host name, so concurrent labs with
// the same prefix do not collide and Cleanup(prefix) finds them all.
// prefix must be 1-6 characters of [A-Za-z0-9_.-]. New creates nothing on
// the system.
func New(prefix string) (*Lab, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if len(prefix) > maxPrefix {
		return nil, fmt.Errorf("netlab: prefix %q longer than %d characters", prefix, maxPrefix)
	}
	suffix, err := randomSuffix(suffixLen)
	if err != nil {
		return nil, err
	}
	return &Lab{id: prefix + suffix}, nil
}

// ID returns the unique name prefix of this lab (the prefix given to New
// plus the random suffix). All its namespace names start with it.
func (l *Lab) ID() string { return l.id }

// AddHost creates a new network namespace named ID()+"-"+name, visible as
// /run/netns/<NsName>, with the loopback interface up.
func (l *Lab) AddHost(name string) (*Host, error) {
	if err := checkName("host name", name); err != nil {
		return nil, err
	}
	nsName := l.id + "-" + name
	if len(nsName) > maxName {
		return nil, fmt.Errorf("netlab: namespace name %q longer than %d characters; use a shorter host name or prefix", nsName, maxName)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	for _, h := range l.hosts {
		if h.Name == name {
			return nil, fmt.Errorf("netlab: host %q already exists", name)
		}
	}

	ns, err := createNamedNS(nsName)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: name, NsName: nsName, lab: l, ns: ns}
	fail := func(err error) (*Host, error) {
		return nil, errors.Join(err, h.destroy())
	}

	// Create the netlink sockets from inside the namespace, on our own
	// thread, rather than with netlink.NewHandleAt, which switches the
	// caller's thread and ignores a failure to switch back.
	err = inNS(ns, func() error {
		nh, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		h.nl = nh
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("netlab: netlink handle in %s: %w", nsName, err))
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		return fail(fmt.Errorf("netlab: bring up lo in %s: %w", nsName, err))
	}
	l.hosts = append(l.hosts, h)
	return h, nil
}

// Link creates a veth pair with one end in a and the other in b (a and b
// may be the same host), assigns the addresses and MACs of cfg, sets both
// ends up and waits (bounded) until both report carrier. On error nothing
// is left behind.
func (l *Lab) Link(a, b *Host, cfg LinkConfig) (*Veth, error) {
	if a == nil || b == nil {
		return nil, errors.New("netlab: Link with nil host")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	if a.lab != l || b.lab != l {
		return nil, errors.New("netlab: Link with a host of another lab")
	}
	if a.nl == nil || b.nl == nil {
		return nil, errors.New("netlab: Link with a removed host")
	}

	aName, bName := cfg.AName, cfg.BName
	var err error
	if aName == "" {
		if aName, err = a.freeName(""); err != nil {
			return nil, err
		}
	}
	if bName == "" {
		avoid := ""
		if a == b {
			avoid = aName
		}
		if bName, err = b.freeName(avoid); err != nil {
			return nil, err
		}
	}
	if err := checkName("interface name", aName); err != nil {
		return nil, err
	}
	if err := checkName("interface name", bName); err != nil {
		return nil, err
	}
	if a == b && aName == bName {
		return nil, fmt.Errorf("netlab: both ends named %q in the same host", aName)
	}
	for _, mac := range []net.HardwareAddr{cfg.AMAC, cfg.BMAC} {
		if mac != nil && len(mac) != 6 {
			return nil, fmt.Errorf("netlab: MAC %v is not 6 bytes", mac)
		}
	}
	if cfg.MTU < 0 {
		return nil, fmt.Errorf("netlab: negative MTU %d", cfg.MTU)
	}
	aAddrs, err := toAddrs(cfg.AAddrs)
	if err != nil {
		return nil, err
	}
	bAddrs, err := toAddrs(cfg.BAddrs)
	if err != nil {
		return nil, err
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = aName
	attrs.MTU = cfg.MTU
	attrs.HardwareAddr = cfg.AMAC
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         bName,
		PeerHardwareAddr: cfg.BMAC,
		PeerTxQLen:       -1, // 0 would mean "set txqueuelen to 0"
	}
	if a != b {
		veth.PeerNamespace = netlink.NsFd(int(b.ns))
	}
	if err := a.nl.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("netlab: create veth %s(%s) <-> %s(%s): %w", a.Name, aName, b.Name, bName, err)
	}

	la, err := a.nl.LinkByName(aName)
	if err != nil {
		// The link exists but cannot be looked up: delete by name through
		// a minimal Link value.
		delErr := a.nl.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}})
		return nil, errors.Join(fmt.Errorf("netlab: look up %s in %s: %w", aName, a.Name, err), delErr)
	}
	fail := func(err error) (*Veth, error) {
		// Deleting one end deletes the pair.
		if derr := a.nl.LinkDel(la); derr != nil {
			err = errors.Join(err, fmt.Errorf("netlab: delete veth %s in %s: %w", aName, a.Name, derr))
		}
		return nil, err
	}
	lb, err := b.nl.LinkByName(bName)
	if err != nil {
		return fail(fmt.Errorf("netlab: look up %s in %s: %w", bName, b.Name, err))
	}
	for _, ad := range aAddrs {
		if err := a.nl.AddrAdd(la, ad); err != nil {
			return fail(fmt.Errorf("netlab: add %v to %s in %s: %w", ad.IPNet, aName, a.Name, err))
		}
	}
	for _, ad := range bAddrs {
		if err := b.nl.AddrAdd(lb, ad); err != nil {
			return fail(fmt.Errorf("netlab: add %v to %s in %s: %w", ad.IPNet, bName, b.Name, err))
		}
	}
	if err := a.nl.LinkSetUp(la); err != nil {
		return fail(fmt.Errorf("netlab: set %s up in %s: %w", aName, a.Name, err))
	}
	if err := b.nl.LinkSetUp(lb); err != nil {
		return fail(fmt.Errorf("netlab: set %s up in %s: %w", bName, b.Name, err))
	}
	if la, err = waitUp(a, la.Attrs().Index); err != nil {
		return fail(err)
	}
	if lb, err = waitUp(b, lb.Attrs().Index); err != nil {
		return fail(err)
	}
	return &Veth{
		A: a, B: b,
		AName: aName, BName: bName,
		AIndex: la.Attrs().Index, BIndex: lb.Attrs().Index,
		AMAC: cloneMAC(la.Attrs().HardwareAddr), BMAC: cloneMAC(lb.Attrs().HardwareAddr),
	}, nil
}

// Close kills the processes left in the lab's namespaces (including those
// started with Exec), closes all handles and unmounts and removes the
// namespaces, which destroys the veths in them. It is idempotent: later
// calls return nil. Errors are collected with errors.Join.
//
// Sockets created through Do hold a reference to their namespace: until they
// are closed the kernel keeps it (and its interfaces) alive, nameless. Close
// them before Close.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for _, cancel := range l.cancels {
		cancel()
	}
	l.cancels = nil
	var errs []error
	for i := len(l.hosts) - 1; i >= 0; i-- {
		errs = append(errs, l.hosts[i].destroy())
	}
	l.hosts = nil
	return errors.Join(errs...)
}

// Cleanup removes what earlier labs whose ID starts with prefix left
// behind (e.g. after kill -9): it kills the processes in, unmounts and
// removes every /run/netns entry starting with prefix, and deletes veth
// interfaces in the caller's namespace whose name starts with prefix.
// It also destroys live labs of this or other processes using that prefix,
// so pass a prefix no concurrently running lab uses. Errors are collected
// with errors.Join; absent leftovers are not an error.
func Cleanup(prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	var errs []error
	ents, err := os.ReadDir(runDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("netlab: read %s: %w", runDir, err))
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if ns, err := netns.GetFromPath(filepath.Join(runDir, name)); err == nil {
			errs = append(errs, killProcsIn(ns, name))
			ns.Close()
		}
		errs = append(errs, removeNamedNS(name))
	}

	nh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("netlab: netlink handle: %w", err))...)
	}
	defer nh.Close()
	links, err := nh.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("netlab: list links: %w", err))
	}
	for _, lk := range links {
		if lk.Type() != "veth" || !strings.HasPrefix(lk.Attrs().Name, prefix) {
			continue
		}
		if err := nh.LinkDel(lk); err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) &&
			!errors.Is(err, unix.ENODEV) {
			// ENODEV: its peer was deleted a moment ago and took it along.
			errs = append(errs, fmt.Errorf("netlab: delete %s: %w", lk.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// Do runs fn on a goroutine locked to an OS thread that is switched into
// the host's namespace, and returns fn's error. Sockets created by fn
// (net.Listen, net.Dial, ...) belong to the namespace for their whole life,
// whichever goroutine uses them later. Goroutines started by fn do not run
// in the namespace. Afterwards the thread is switched back; if that fails
// the thread is discarded. A panic in fn is re-raised in the caller; fn must
// not call t.FailNow and friends (it is not the test goroutine).
func (h *Host) Do(fn func() error) error {
	h.lab.mu.Lock()
	if h.lab.closed || !h.ns.IsOpen() {
		h.lab.mu.Unlock()
		return fmt.Errorf("netlab: host %s: lab is closed", h.Name)
	}
	// A private copy of the handle, so Close can run concurrently.
	ns, err := dupNS(h.ns)
	h.lab.mu.Unlock()
	if err != nil {
		return fmt.Errorf("netlab: host %s: dup netns handle: %w", h.Name, err)
	}
	defer ns.Close()
	return inNS(ns, fn)
}

// Handle returns the netlink handle bound to the host's namespace. It is
// owned by the lab and valid until Close. Do not close it. Beware: a closed
// netlink.Handle silently falls back to the calling thread's namespace, so
// never use it after Close.
func (h *Host) Handle() *netlink.Handle {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return h.nl
}

// LinkIndex returns the interface index of the named interface in the host.
func (h *Host) LinkIndex(name string) (int, error) {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	if h.lab.closed || h.nl == nil {
		return 0, fmt.Errorf("netlab: host %s: lab is closed", h.Name)
	}
	lk, err := h.nl.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("netlab: host %s: %w", h.Name, err)
	}
	return lk.Attrs().Index, nil
}

// Exec returns a command that runs name with args inside the host's
// namespace, through `ip netns exec` (or `nsenter --net=` if ip is not
// installed). The command gets its own process group, which is SIGKILLed
// when ctx is done or the lab is closed; Close also kills anything still
// running in the namespace. It is also killed if the thread that started it
// exits (Pdeathsig), which covers the test binary dying. Fields such as
// Stdout may be set before Start as usual.
func (h *Host) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	var cmd *exec.Cmd
	if ip, err := exec.LookPath("ip"); err == nil {
		cmd = exec.CommandContext(cctx, ip, append([]string{"netns", "exec", h.NsName, name}, args...)...)
	} else if ne, err2 := exec.LookPath("nsenter"); err2 == nil {
		cmd = exec.CommandContext(cctx, ne, append([]string{"--net=" + filepath.Join(runDir, h.NsName), "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(cctx, "ip", append([]string{"netns", "exec", h.NsName, name}, args...)...)
		cmd.Err = fmt.Errorf("netlab: neither ip nor nsenter found: %w", err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = execWaitDelay
	if l.closed {
		cancel()
		cmd.Err = fmt.Errorf("netlab: host %s: lab is closed", h.Name)
	} else {
		l.cancels = append(l.cancels, cancel)
	}
	return cmd
}

// destroy releases everything belonging to h. Caller holds lab.mu (or h is
// not yet published).
func (h *Host) destroy() error {
	var errs []error
	if h.ns.IsOpen() {
		errs = append(errs, killProcsIn(h.ns, h.NsName))
	}
	if h.nl != nil {
		h.nl.Close()
		h.nl = nil
	}
	if h.ns.IsOpen() {
		if err := h.ns.Close(); err != nil {
			errs = append(errs, fmt.Errorf("netlab: close netns handle %s: %w", h.NsName, err))
		}
	}
	errs = append(errs, removeNamedNS(h.NsName))
	return errors.Join(errs...)
}

// freeName returns the first ethN not present in h and not equal to avoid.
func (h *Host) freeName(avoid string) (string, error) {
	for range 1000 {
		name := fmt.Sprintf("eth%d", h.nextIf)
		h.nextIf++
		if name == avoid {
			continue
		}
		_, err := h.nl.LinkByName(name)
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return name, nil
		}
		if err != nil {
			return "", fmt.Errorf("netlab: host %s: look up %s: %w", h.Name, name, err)
		}
	}
	return "", fmt.Errorf("netlab: host %s: no free ethN name", h.Name)
}

// waitUp polls until the link reports operstate up.
func waitUp(h *Host, index int) (netlink.Link, error) {
	deadline := time.Now().Add(linkUpTimeout)
	for {
		lk, err := h.nl.LinkByIndex(index)
		if err != nil {
			return nil, fmt.Errorf("netlab: look up ifindex %d in %s: %w", index, h.Name, err)
		}
		if lk.Attrs().OperState == netlink.OperUp {
			return lk, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("netlab: %s in %s not up after %v (operstate %v)", lk.Attrs().Name, h.Name, linkUpTimeout, lk.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func toAddrs(ps []netip.Prefix) ([]*netlink.Addr, error) {
	out := make([]*netlink.Addr, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			return nil, fmt.Errorf("netlab: invalid address prefix %v", p)
		}
		ip := p.Addr()
		if ip.Is4In6() {
			return nil, fmt.Errorf("netlab: address %v: use plain IPv4, not IPv4-mapped IPv6", p)
		}
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   ip.AsSlice(),
			Mask: net.CIDRMask(p.Bits(), ip.BitLen()),
		}}
		if ip.Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		out = append(out, a)
	}
	return out, nil
}

func checkPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("netlab: empty prefix")
	}
	return checkChars("prefix", prefix)
}

func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("netlab: empty %s", what)
	}
	if len(name) > maxName {
		return fmt.Errorf("netlab: %s %q longer than %d characters", what, name, maxName)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("netlab: invalid %s %q", what, name)
	}
	return checkChars(what, name)
}

func checkChars(what, s string) error {
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("netlab: %s %q: only letters, digits, '-', '_' and '.' allowed", what, s)
		}
	}
	return nil
}

func randomSuffix(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("netlab: random suffix: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

func cloneMAC(m net.HardwareAddr) net.HardwareAddr {
	if m == nil {
		return nil
	}
	return append(net.HardwareAddr(nil), m...)
}

// AttachXDPPass attaches, in native mode, an XDP program that passes every
// packet to ifname in h, and returns what detaches and frees it. A veth
// delivers the XDP_TX replies of its peer's native-mode program only when
// it has an XDP program itself, so a lab link to a native-mode sensor
// needs one on the far end.
func (h *Host) AttachXDPPass(ifname string) (detach func() error, err error) {
	const xdpPass = 2 // XDP_PASS
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()}})
	if err != nil {
		return nil, fmt.Errorf("netlab: load the XDP_PASS program: %w", err)
	}
	var l link.Link
	err = h.Do(func() error {
		idx, err := h.LinkIndex(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("netlab: attach XDP_PASS to %s in %s: %w", ifname, h.Name, err)
	}
	return func() error { return errors.Join(l.Close(), prog.Close()) }, nil
}
