//go:build linux

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// ErrNotRoot is returned when the lab runs without root.
var ErrNotRoot = errors.New("lab needs root: it creates network namespaces, veth pairs, a bridge and a bpffs mount, and loads an XDP program (run it as root, e.g. `sudo mxsensor lab`)")

// ErrInterrupted is returned when the context was cancelled before the
// measurement finished.
var ErrInterrupted = errors.New("lab interrupted")

// readyTimeout bounds the agent's start (load, attach, read the reject log).
const readyTimeout = 30 * time.Second

// Run builds the lab, runs the clients for cfg.Duration against the real
// agent, stops it, prints its report and a summary of the clients to
// cfg.Stdout, and removes everything it created, whatever happens
// (cancelling ctx included). The Result is nil when the lab did not get as
// far as the measurement.
func Run(ctx context.Context, cfg Config, log *zap.Logger) (res *Result, err error) {
	log = logger(log)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	clients, err := cfg.clients()
	if err != nil {
		return nil, err
	}

	// Everything created is undone in reverse order, on every path.
	var undo []func() error
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			err = errors.Join(err, undo[i]())
		}
	}()

	out := cfg.OutDir
	if out == "" {
		if out, err = os.MkdirTemp("", "mxsensor-lab-results-"); err != nil {
			return nil, fmt.Errorf("lab: results directory: %w", err)
		}
		undo = append(undo, func() error { return os.RemoveAll(out) })
	} else {
		if out, err = filepath.Abs(out); err != nil {
			return nil, fmt.Errorf("lab: results directory: %w", err)
		}
		if err := prepareOut(out); err != nil {
			return nil, err
		}
	}

	work, err := os.MkdirTemp("", "mxsensor-lab-")
	if err != nil {
		return nil, fmt.Errorf("lab: work directory: %w", err)
	}
	undo = append(undo, func() error { return os.RemoveAll(work) })
	bpffs := filepath.Join(work, "bpffs")
	if err := os.Mkdir(bpffs, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// A private bpffs for the agent's pins: `ip netns exec` remounts /sys,
	// and the lab must not touch the machine's /sys/fs/bpf.
	if err := unix.Mount("bpf", bpffs, "bpf", 0, "mode=0700"); err != nil {
		return nil, fmt.Errorf("lab: mount bpffs on %s: %w", bpffs, err)
	}
	undo = append(undo, func() error {
		if err := unix.Unmount(bpffs, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("lab: unmount bpffs %s: %w", bpffs, err)
		}
		return nil
	})

	nl, err := netlab.New(NetlabPrefix)
	if err != nil {
		return nil, err
	}
	undo = append(undo, nl.Close)
	info := &Info{ID: nl.ID(), BPFFS: bpffs, XDPMode: cfg.XDPMode, SensorIPv4: SensorIPv4, SensorIPv6: SensorIPv6,
		Clients: clients, Started: time.Now().UTC()}
	log.Info("building the lab", zap.String("id", nl.ID()), zap.Int("clients", len(clients)), zap.String("results", out))
	hosts, err := build(nl, cfg.Sensors, clients, info)
	if err != nil {
		return nil, err
	}
	if cfg.XDPMode == "native" {
		for _, s := range hosts.sensors {
			detach, err := hosts.sw.AttachXDPPass(s.port)
			if err != nil {
				return nil, fmt.Errorf("lab: native mode needs an XDP program on the sensor's peer: %w", err)
			}
			undo = append(undo, detach)
		}
	}
	if err := writeInfo(filepath.Join(out, InfoFile), info); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if cfg.Sensors > 1 {
		return runFleet(ctx, cfg, log, &fleetEnv{out: out, work: work, bpffs: bpffs, hosts: hosts, clients: clients}, &undo)
	}
	// run reads the reject log once, at start: write it first.
	if err := writeRejectLog(filepath.Join(out, RejectLogFile), clients, time.Now()); err != nil {
		return nil, fmt.Errorf("lab: reject log: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}

	ag, err := startAgent(ctx, hosts.sensors[0], cfg, agentDirs{out: out, pins: bpffs, work: work})
	if err != nil {
		return nil, err
	}
	undo = append(undo, ag.kill)
	log.Info("agent ready", zap.Int("pid", ag.cmd.Process.Pid), zap.String("xdp_mode", cfg.XDPMode))

	tr, err := newTraffic(hosts, clients, cfg)
	if err != nil {
		return nil, err
	}
	undo = append(undo, tr.close)
	log.Info("clients connecting", zap.Duration("duration", cfg.Duration))
	trafficErr := tr.run(ctx, log)
	interrupted := ctx.Err() != nil

	log.Info("stopping the agent (it closes open attempts and writes the report)")
	stopErr := ag.stop(cfg.StopTimeout, cfg.Kill)
	if interrupted {
		if cfg.OutDir != "" {
			fmt.Fprintf(cfg.Stdout, "lab interrupted; partial results in %s\n", out)
		}
		return nil, errors.Join(ErrInterrupted, stopErr)
	}
	if stopErr != nil {
		return nil, errors.Join(trafficErr, stopErr)
	}
	if trafficErr != nil {
		return nil, trafficErr
	}

	report, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		return nil, fmt.Errorf("lab: the agent wrote no report: %w", err)
	}
	res, err = summarize(out, clients, tr)
	if err != nil {
		return nil, err
	}
	w := cfg.Stdout
	fmt.Fprintf(w, "==== %s (written by `mxsensor run` at exit)\n\n", filepath.Join(out, ReportFile))
	w.Write(report)
	fmt.Fprintln(w)
	res.print(w)
	if cfg.OutDir != "" {
		fmt.Fprintf(w, "\nresults kept in %s\n", out)
	} else {
		fmt.Fprintf(w, "\nresults removed (use --keep DIR to keep them)\n")
	}
	if n := res.Failed(); n > 0 {
		return res, fmt.Errorf("lab: %d of %d clients did not behave as expected (see the summary)", n, len(res.Clients))
	}
	return res, nil
}

// hosts are the lab's namespaces.
type hosts struct {
	sw      *netlab.Host
	sensors []*sensorNode
	coll    *netlab.Host // a fleet lab's collector
	clients map[string]*netlab.Host
}

// sensorNode is a sensor host.
type sensorNode struct {
	id         string // --sensor-id in a fleet lab
	host       *netlab.Host
	port       string // its bridge port
	ipv4, ipv6 netip.Addr
	mac        []byte
}

// Addresses of a fleet lab's collector.
var (
	CollectorIPv4 = netip.MustParseAddr("10.99.0.5")
	CollectorIPv6 = netip.MustParseAddr("fd99::5")
)

// build creates the namespaces: the sensors, in a fleet lab the
// collector, and every client, each joined by a veth pair to a bridge in
// the switch namespace.
func build(nl *netlab.Lab, sensors int, clients []Client, info *Info) (*hosts, error) {
	h := &hosts{clients: map[string]*netlab.Host{}}
	for k := range sensors {
		name := "sens"
		if sensors > 1 {
			name = fmt.Sprintf("sens%d", k+1)
		}
		host, err := nl.AddHost(name)
		if err != nil {
			return nil, err
		}
		v4, v6 := sensorAddrs(k)
		s := &sensorNode{host: host, port: "to-" + name, ipv4: v4, ipv6: v6, mac: sensorMAC(k)}
		if sensors > 1 {
			s.id = sensorID(k)
			info.Sensors = append(info.Sensors, SensorInfo{HostInfo: HostInfo{Name: name, Namespace: host.NsName, IPv4: v4, IPv6: v6}, ID: s.id})
		}
		h.sensors = append(h.sensors, s)
		info.Namespaces = append(info.Namespaces, host.NsName)
	}
	var err error
	if h.sw, err = nl.AddHost("sw"); err != nil {
		return nil, err
	}
	info.Namespaces = append(info.Namespaces, h.sw.NsName)
	var ports []string
	for _, s := range h.sensors {
		if _, err := nl.Link(s.host, h.sw, netlab.LinkConfig{AName: "eth0", BName: s.port,
			AAddrs: []netip.Prefix{netip.PrefixFrom(s.ipv4, prefix4), netip.PrefixFrom(s.ipv6, prefix6)},
			AMAC:   s.mac}); err != nil {
			return nil, err
		}
		ports = append(ports, s.port)
	}
	if sensors > 1 {
		if h.coll, err = nl.AddHost("coll"); err != nil {
			return nil, err
		}
		info.Namespaces = append(info.Namespaces, h.coll.NsName)
		info.Collector = &HostInfo{Name: "coll", Namespace: h.coll.NsName, IPv4: CollectorIPv4, IPv6: CollectorIPv6}
		if _, err := nl.Link(h.coll, h.sw, netlab.LinkConfig{AName: "eth0", BName: "to-coll",
			AAddrs: []netip.Prefix{netip.PrefixFrom(CollectorIPv4, prefix4), netip.PrefixFrom(CollectorIPv6, prefix6)},
			AMAC:   []byte{0x02, 0x00, 0x0a, 0x63, 0x02, 0x00}}); err != nil {
			return nil, err
		}
		ports = append(ports, "to-coll")
	}
	for _, c := range clients {
		ch, err := nl.AddHost(c.Name)
		if err != nil {
			return nil, err
		}
		info.Namespaces = append(info.Namespaces, ch.NsName)
		h.clients[c.Name] = ch
		if _, err := nl.Link(ch, h.sw, netlab.LinkConfig{AName: "eth0", BName: "to-" + c.Name,
			AAddrs: []netip.Prefix{netip.PrefixFrom(c.IPv4, prefix4), netip.PrefixFrom(c.IPv6, prefix6)},
			AMAC:   clientMAC(c.index)}); err != nil {
			return nil, err
		}
		ports = append(ports, "to-"+c.Name)
	}
	if err := makeBridge(h.sw, ports); err != nil {
		return nil, err
	}
	return h, nil
}

// makeBridge puts ports into a new bridge br0 in h. Multicast snooping is
// off so that neighbour discovery floods like on a plain hub; STP is off
// by default, so ports forward at once.
func makeBridge(h *netlab.Host, ports []string) error {
	nh := h.Handle()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "br0"
	off := false
	if err := nh.LinkAdd(&netlink.Bridge{LinkAttrs: attrs, MulticastSnooping: &off}); err != nil {
		return fmt.Errorf("lab: create bridge: %w", err)
	}
	br, err := nh.LinkByName("br0")
	if err != nil {
		return fmt.Errorf("lab: bridge: %w", err)
	}
	for _, p := range ports {
		l, err := nh.LinkByName(p)
		if err != nil {
			return fmt.Errorf("lab: bridge port %s: %w", p, err)
		}
		if err := nh.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("lab: add %s to the bridge: %w", p, err)
		}
	}
	if err := nh.LinkSetUp(br); err != nil {
		return fmt.Errorf("lab: set bridge up: %w", err)
	}
	return nil
}

// agent is a process the lab runs in a namespace: `mxsensor run` on a
// sensor, and in a fleet lab `mxsensor collect` and `mxsensor dnsbl`.
type agent struct {
	name    string // in messages: "the agent", "the collector", ...
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// agentDirs are where an agent writes: its results (and log), its pins,
// and the lab's work directory (ready file, empty configuration).
type agentDirs struct{ out, pins, work string }

// startAgent starts `mxsensor run` on sensor s and waits until it is
// ready; extra are more arguments (a fleet lab's --db and --publish).
func startAgent(ctx context.Context, s *sensorNode, cfg Config, d agentDirs, extra ...string) (*agent, error) {
	ready := filepath.Join(d.work, "ready"+s.id)
	args := []string{"run", "--iface", "eth0", "--xdp-mode", cfg.XDPMode, "--pin-dir", d.pins,
		"--local-addr", s.ipv4.String(), "--local-addr", s.ipv6.String(),
		"--events", filepath.Join(d.out, EventsFile), "--pcap-out", filepath.Join(d.out, PcapFile),
		"--out", d.out, "--reject-log", filepath.Join(d.out, RejectLogFile), "--tz", "UTC",
		"--ready-file", ready}
	// Keep the agent off the machine's state: no results store (the
	// default one under /var/lib would replay and keep other runs' SYNs;
	// a fleet lab's sensors are given their own in extra). The metrics
	// server, if any, listens on the sensor namespace's own loopback.
	flags, err := agentFlags(cfg.Agent, "run")
	if err != nil {
		return nil, err
	}
	if s.id != "" && !flags["publish"] {
		return nil, fmt.Errorf("lab: --sensors: %s run has no --publish (a network of sensors needs a newer mxsensor)", cfg.Agent)
	}
	if flags["db"] && s.id == "" {
		args = append(args, "--db=")
	}
	// Nor its configuration file: settings the lab does not give must be
	// the defaults, not this machine's.
	if flags["config"] {
		empty, err := emptyConfig(d.work)
		if err != nil {
			return nil, err
		}
		args = append(args, "--config="+empty)
	}
	name := "the agent"
	if s.id != "" {
		name = "the agent of " + s.id
	}
	a, err := startProc(s.host, name, cfg.Agent, append(args, extra...), d.out, filepath.Join(d.out, AgentLogFile))
	if err != nil {
		return nil, err
	}
	return a, a.waitReady(ctx, func() bool {
		_, err := os.Stat(ready)
		return err == nil
	})
}

// emptyConfig writes (once) an empty configuration file in work, which
// the lab's processes read instead of this machine's.
func emptyConfig(work string) (string, error) {
	empty := filepath.Join(work, "agent.yaml")
	if err := os.WriteFile(empty, []byte("# mxsensor lab: the agent runs with its defaults\n"), 0o600); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	return empty, nil
}

// startProc starts bin with args in host, its output to logPath.
func startProc(host *netlab.Host, name, bin string, args []string, dir, logPath string) (*agent, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("lab: log of %s: %w", name, err)
	}
	// Not ctx: the agent must outlive a Ctrl-C long enough to flush. Its
	// own process group keeps the terminal's SIGINT away from it.
	cmd := host.Exec(context.Background(), bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = dir
	// MXSENSOR_* variables of the caller would change the agent's flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXSENSOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	a := &agent{name: name, cmd: cmd, logPath: logPath, logFile: lf, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	go func() {
		a.waitErr = cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

// waitReady waits until ready() holds, at most readyTimeout; on failure
// the process is killed (and returned: the caller undoes it).
func (a *agent) waitReady(ctx context.Context, ready func() bool) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-a.done:
			a.logFile.Close()
			return fmt.Errorf("lab: %s exited before it was ready (%v):\n%s", a.name, a.waitErr, a.logTail())
		case <-ctx.Done():
			return errors.Join(ErrInterrupted, a.kill())
		case <-deadline.C:
			return errors.Join(fmt.Errorf("lab: %s was not ready after %v:\n%s", a.name, readyTimeout, a.logTail()), a.kill())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for the agent to flush and exit, at most
// timeout or until kill is closed; then it kills it.
func (a *agent) stop(timeout time.Duration, kill <-chan struct{}) error {
	select {
	case <-a.done:
		return fmt.Errorf("lab: %s exited early (%v):\n%s", a.name, a.waitErr, a.logTail())
	default:
	}
	// ip netns exec execs the agent: the process is the agent itself.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return errors.Join(fmt.Errorf("lab: SIGTERM to %s: %w", a.name, err), a.kill())
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
		a.logFile.Close()
		if a.waitErr != nil {
			return fmt.Errorf("lab: %s failed (%v):\n%s", a.name, a.waitErr, a.logTail())
		}
		return nil
	case <-t.C:
		return errors.Join(fmt.Errorf("lab: %s did not stop within %v of SIGTERM; killed", a.name, timeout), a.kill())
	case <-kill:
		return errors.Join(fmt.Errorf("lab: %s killed on request, its results are incomplete", a.name), a.kill())
	}
}

// kill SIGKILLs the agent's process group unless it has exited, and waits
// for it. It is idempotent.
func (a *agent) kill() error {
	select {
	case <-a.done:
		return nil
	default:
	}
	if err := syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lab: kill %s: %w", a.name, err)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("lab: %s (%d) still running 10s after SIGKILL", a.name, a.cmd.Process.Pid)
	}
	a.logFile.Close()
	return nil
}

// logTail is the end of the agent's log, for error messages.
func (a *agent) logTail() string {
	b, _ := os.ReadFile(a.logPath)
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}

// agentFlags lists the long flags of the agent's command, from its help:
// flags come and go between versions.
func agentFlags(agent, command string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, agent, command, "--help").Output()
	if err != nil {
		return nil, fmt.Errorf("lab: %s %s --help: %w", agent, command, err)
	}
	flags := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		if name, ok := strings.CutPrefix(f, "--"); ok && name != "" {
			flags[strings.TrimRight(name, ",=")] = true
		}
	}
	if command == "run" && (!flags["iface"] || !flags["out"]) {
		return nil, fmt.Errorf("lab: %s does not look like mxsensor (no --iface/--out in run --help)", agent)
	}
	return flags, nil
}
