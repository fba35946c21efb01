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
	hosts, err := build(nl, clients, info)
	if err != nil {
		return nil, err
	}
	if cfg.XDPMode == "native" {
		detach, err := hosts.sw.AttachXDPPass("to-sens")
		if err != nil {
			return nil, fmt.Errorf("lab: native mode needs an XDP program on the sensor's peer: %w", err)
		}
		undo = append(undo, detach)
	}
	if err := writeInfo(filepath.Join(out, InfoFile), info); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// run reads the reject log once, at start: write it first.
	if err := writeRejectLog(filepath.Join(out, RejectLogFile), clients, time.Now()); err != nil {
		return nil, fmt.Errorf("lab: reject log: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ErrInterrupted
	}

	ag, err := startAgent(ctx, hosts.sensor, cfg, out, bpffs, filepath.Join(work, "ready"))
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
	sensor, sw *netlab.Host
	clients    map[string]*netlab.Host
	sensorMAC  []byte
}

// build creates the namespaces: the sensor and every client joined by a
// veth pair to a bridge in the switch namespace.
func build(nl *netlab.Lab, clients []Client, info *Info) (*hosts, error) {
	h := &hosts{clients: map[string]*netlab.Host{}, sensorMAC: clientMAC(0)}
	var err error
	if h.sensor, err = nl.AddHost("sens"); err != nil {
		return nil, err
	}
	if h.sw, err = nl.AddHost("sw"); err != nil {
		return nil, err
	}
	info.Namespaces = append(info.Namespaces, h.sensor.NsName, h.sw.NsName)
	if _, err := nl.Link(h.sensor, h.sw, netlab.LinkConfig{AName: "eth0", BName: "to-sens",
		AAddrs: []netip.Prefix{netip.PrefixFrom(SensorIPv4, prefix4), netip.PrefixFrom(SensorIPv6, prefix6)},
		AMAC:   h.sensorMAC}); err != nil {
		return nil, err
	}
	ports := []string{"to-sens"}
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

// agent is the `mxsensor run` process in the sensor's namespace.
type agent struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
}

func startAgent(ctx context.Context, sensor *netlab.Host, cfg Config, out, bpffs, ready string) (*agent, error) {
	args := []string{"run", "--iface", "eth0", "--xdp-mode", cfg.XDPMode, "--pin-dir", bpffs,
		"--local-addr", SensorIPv4.String(), "--local-addr", SensorIPv6.String(),
		"--events", filepath.Join(out, EventsFile), "--pcap-out", filepath.Join(out, PcapFile),
		"--out", out, "--reject-log", filepath.Join(out, RejectLogFile), "--tz", "UTC",
		"--ready-file", ready}
	// Keep the agent off the machine's state: no results store (the
	// default one under /var/lib would replay and keep other runs' SYNs)...
	// The metrics server, if any, listens on the sensor namespace's own
	// loopback.
	flags, err := agentFlags(cfg.Agent)
	if err != nil {
		return nil, err
	}
	if flags["db"] {
		args = append(args, "--db=")
	}
	// Nor its configuration file: settings the lab does not give must be
	// the defaults, not this machine's.
	if flags["config"] {
		empty := filepath.Join(filepath.Dir(ready), "agent.yaml")
		if err := os.WriteFile(empty, []byte("# mxsensor lab: the agent runs with its defaults\n"), 0o600); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		args = append(args, "--config="+empty)
	}
	logPath := filepath.Join(out, AgentLogFile)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("lab: agent log: %w", err)
	}
	// Not ctx: the agent must outlive a Ctrl-C long enough to flush. Its
	// own process group keeps the terminal's SIGINT away from it.
	cmd := sensor.Exec(context.Background(), cfg.Agent, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = out
	// MXSENSOR_* variables of the caller would change the agent's flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXSENSOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	a := &agent{cmd: cmd, logPath: logPath, logFile: lf, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("lab: start the agent: %w", err)
	}
	go func() {
		a.waitErr = cmd.Wait()
		close(a.done)
	}()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(ready); err == nil {
			return a, nil
		}
		select {
		case <-a.done:
			a.logFile.Close()
			return nil, fmt.Errorf("lab: the agent exited before it was ready (%v):\n%s", a.waitErr, a.logTail())
		case <-ctx.Done():
			return a, errors.Join(ErrInterrupted, a.kill())
		case <-deadline.C:
			return a, errors.Join(fmt.Errorf("lab: the agent was not ready after %v:\n%s", readyTimeout, a.logTail()), a.kill())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for the agent to flush and exit, at most
// timeout or until kill is closed; then it kills it.
func (a *agent) stop(timeout time.Duration, kill <-chan struct{}) error {
	select {
	case <-a.done:
		return fmt.Errorf("lab: the agent exited early (%v):\n%s", a.waitErr, a.logTail())
	default:
	}
	// ip netns exec execs the agent: the process is the agent itself.
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return errors.Join(fmt.Errorf("lab: SIGTERM to the agent: %w", err), a.kill())
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
		a.logFile.Close()
		if a.waitErr != nil {
			return fmt.Errorf("lab: the agent failed (%v):\n%s", a.waitErr, a.logTail())
		}
		return nil
	case <-t.C:
		return errors.Join(fmt.Errorf("lab: the agent did not stop within %v of SIGTERM; killed", timeout), a.kill())
	case <-kill:
		return errors.Join(errors.New("lab: agent killed on request, its results are incomplete"), a.kill())
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
		return fmt.Errorf("lab: kill the agent: %w", err)
	}
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("lab: agent %d still running 10s after SIGKILL", a.cmd.Process.Pid)
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

// agentFlags lists the long flags of the agent's run command, from its
// help: flags come and go between versions.
func agentFlags(agent string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, agent, "run", "--help").Output()
	if err != nil {
		return nil, fmt.Errorf("lab: %s run --help: %w", agent, err)
	}
	flags := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		if name, ok := strings.CutPrefix(f, "--"); ok && name != "" {
			flags[strings.TrimRight(name, ",=")] = true
		}
	}
	if !flags["iface"] || !flags["out"] {
		return nil, fmt.Errorf("lab: %s does not look like mxsensor (no --iface/--out in run --help)", agent)
	}
	return flags, nil
}
