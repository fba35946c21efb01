//go:build linux

package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Limits on what a lab may build.
const (
	// MaxPerKind bounds the clients of each kind.
	MaxPerKind = 8
	// MaxDuration bounds the traffic phase.
	MaxDuration = 10 * time.Minute
	// MaxSensors bounds the sensors of a fleet lab.
	MaxSensors = 5
	// NetlabPrefix starts the name of every namespace a lab creates.
	NetlabPrefix = "mxlab"
	// MarkerFile marks a results directory as a lab's, so that a later run
	// may replace its contents.
	MarkerFile = ".mxsensor-lab"
	// InfoFile describes the lab (hosts, addresses, what was created).
	InfoFile = "lab.json"
)

// Files the lab and its agent write into the results directory.
const (
	RejectLogFile = "mail.log"
	EventsFile    = "events.jsonl"
	PcapFile      = "syns.pcap"
	AgentLogFile  = "agent.log"
	ReportFile    = "report.txt"
)

// Kinds of client.
const (
	KindLinux   = "linux"   // real Linux TCP stack, connect() through net.Dialer
	KindWindows = "windows" // Windows-like SYNs from a packet socket
	KindMacOS   = "macos"   // macOS-like SYNs from a packet socket
)

// Config configures a lab.
type Config struct {
	// Agent is the mxsensor binary run (`Agent run ...`) inside the
	// sensor's namespace.
	Agent string
	// XDPMode is "generic" or "native". Native mode also attaches an
	// XDP_PASS program to the bridge's end of the sensor's veth, without
	// which veth drops XDP_TX replies.
	XDPMode string
	// Duration is how long the clients send traffic. Every client makes at
	// least one delivery, even when that takes longer.
	Duration time.Duration
	// Linux, Windows and MacOS are the number of clients of each kind.
	Linux, Windows, MacOS int
	// Sensors is the number of sensors: 1 is the single-sensor lab; 2 to
	// MaxSensors make a network of sensors publishing to a collector
	// (see fleet.go).
	Sensors int
	// Listed names the clients whose IPv4 address the reject log lists.
	// Nil means the default: the odd-numbered Linux and Windows clients.
	Listed []string
	// OutDir keeps the results there; "" writes them to a temporary
	// directory removed at the end.
	OutDir string
	// Gap is the pause between two deliveries.
	Gap time.Duration
	// DialTimeout bounds each connect() of the Linux clients and the wait
	// for each RST of the raw clients.
	DialTimeout time.Duration
	// StopTimeout bounds the agent's shutdown after SIGTERM.
	StopTimeout time.Duration
	// Stdout receives the report and the summary.
	Stdout io.Writer
	// Kill, when closed, makes the lab kill the agent at once instead of
	// waiting for it to flush (a second Ctrl-C).
	Kill <-chan struct{}
}

// DefaultConfig is a lab of three Linux, one Windows-like and one
// macOS-like client, in generic XDP mode, sending for 20 s.
func DefaultConfig() Config {
	return Config{
		XDPMode:     "generic",
		Duration:    20 * time.Second,
		Linux:       3,
		Windows:     1,
		MacOS:       1,
		Sensors:     1,
		OutDir:      "mxsensor-lab-results",
		Gap:         750 * time.Millisecond,
		DialTimeout: 2 * time.Second,
		StopTimeout: 30 * time.Second,
		Stdout:      os.Stdout,
	}
}

func (c *Config) validate() error {
	if c.Agent == "" {
		return errors.New("lab: no agent binary")
	}
	switch c.XDPMode {
	case "generic", "native":
	default:
		return fmt.Errorf("lab: --xdp-mode %q: want generic or native", c.XDPMode)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		return fmt.Errorf("lab: --duration %v: want more than 0 and at most %v", c.Duration, MaxDuration)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"--linux", c.Linux}, {"--windows", c.Windows}, {"--macos", c.MacOS}} {
		if n.v < 0 || n.v > MaxPerKind {
			return fmt.Errorf("lab: %s %d: want 0 to %d", n.name, n.v, MaxPerKind)
		}
	}
	if c.Sensors == 0 {
		c.Sensors = 1
	}
	if c.Sensors < 1 || c.Sensors > MaxSensors {
		return fmt.Errorf("lab: --sensors %d: want 1 to %d", c.Sensors, MaxSensors)
	}
	if c.Linux+c.Windows+c.MacOS == 0 {
		return errors.New("lab: no clients")
	}
	if c.Gap < 0 || c.Gap > 10*time.Second {
		return fmt.Errorf("lab: gap %v out of range", c.Gap)
	}
	if c.DialTimeout <= 0 || c.DialTimeout > 30*time.Second {
		return fmt.Errorf("lab: dial timeout %v out of range", c.DialTimeout)
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	return nil
}

// Client is one client host of the lab.
type Client struct {
	Name   string     `json:"name"`
	Kind   string     `json:"kind"`
	IPv4   netip.Addr `json:"ipv4"`
	IPv6   netip.Addr `json:"ipv6"`
	Listed bool       `json:"listed"`
	// ListedAt are the sensors whose reject log lists the client (a fleet
	// lab's; each listed client at one sensor).
	ListedAt []string `json:"listed_at,omitempty"`

	index int // 1-based, over all clients
}

// Info is what lab.json holds: the lab's hosts and what it created.
type Info struct {
	ID         string     `json:"id"`
	Namespaces []string   `json:"namespaces"`
	BPFFS      string     `json:"bpffs"`
	XDPMode    string     `json:"xdp_mode"`
	SensorIPv4 netip.Addr `json:"sensor_ipv4"`
	SensorIPv6 netip.Addr `json:"sensor_ipv6"`
	Clients    []Client   `json:"clients"`
	Started    time.Time  `json:"started"`
	// A fleet lab's sensors (the first one is SensorIPv4/6) and collector.
	Sensors   []SensorInfo `json:"sensors,omitempty"`
	Collector *HostInfo    `json:"collector,omitempty"`
}

// HostInfo is a host of a fleet lab.
type HostInfo struct {
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
}

// SensorInfo is a sensor of a fleet lab.
type SensorInfo struct {
	HostInfo
	// ID is its --sensor-id.
	ID string `json:"id"`
}

// Addresses of the lab: one IPv4 /24 and one IPv6 /48 on a single bridged
// link, each client IPv6 address in its own /64.
var (
	SensorIPv4 = netip.MustParseAddr("10.99.0.25")
	SensorIPv6 = netip.MustParseAddr("fd99::25")
)

const (
	prefix4 = 24
	prefix6 = 48
)

// sensorAddrs are sensor k's addresses (k from 0): 10.99.0.25+k and
// fd99::25+k, so the first is SensorIPv4/6.
func sensorAddrs(k int) (netip.Addr, netip.Addr) {
	b6 := SensorIPv6.As16()
	b6[15] += byte(k)
	return netip.AddrFrom4([4]byte{10, 99, 0, byte(25 + k)}), netip.AddrFrom16(b6)
}

// sensorMAC is sensor k's MAC; the first is the single lab's sensor's.
func sensorMAC(k int) []byte {
	if k == 0 {
		return clientMAC(0)
	}
	return []byte{0x02, 0x00, 0x0a, 0x63, 0x01, byte(k)}
}

// clientIPv4 is client idx's address: 10.99.0.10+idx, skipping the
// sensors' 10.99.0.25-29.
func clientIPv4(idx int) netip.Addr {
	b := 10 + idx
	if b >= 25 {
		b += MaxSensors
	}
	return netip.AddrFrom4([4]byte{10, 99, 0, byte(b)})
}

// sensorID is the --sensor-id of sensor k of a fleet lab.
func sensorID(k int) string { return fmt.Sprintf("s%d", k+1) }

// clients lays out the clients: Linux ones first, then Windows, then macOS.
func (c *Config) clients() ([]Client, error) {
	var out []Client
	var defaultListed []string
	add := func(kind, short string, n int) {
		for i := 1; i <= n; i++ {
			idx := len(out) + 1
			name := fmt.Sprintf("%s%d", short, i)
			out = append(out, Client{Name: name, Kind: kind,
				IPv4: clientIPv4(idx), IPv6: clientIPv6(kind, idx), index: idx})
			if kind != KindMacOS && i%2 == 1 {
				defaultListed = append(defaultListed, name)
			}
		}
	}
	add(KindLinux, "lin", c.Linux)
	add(KindWindows, "win", c.Windows)
	add(KindMacOS, "mac", c.MacOS)

	listed := c.Listed
	if listed == nil {
		listed = defaultListed
	}
	for _, name := range listed {
		i := slices.IndexFunc(out, func(cl Client) bool { return cl.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("lab: --listed %q: no such client (clients: %s)", name, clientNames(out))
		}
		out[i].Listed = true
	}
	if c.Sensors > 1 {
		// Each listed client at one sensor's domain, in turn: the first
		// at s1, the next at s2, ...
		k := 0
		for i := range out {
			if out[i].Listed {
				out[i].ListedAt = []string{sensorID(k % c.Sensors)}
				k++
			}
		}
		if k == 0 {
			return nil, errors.New("lab: --sensors: the fleet lab needs a listed client (its check is a client listed at s1's domain seen at s2)")
		}
	}
	return out, nil
}

func clientNames(cs []Client) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// clientIPv6 gives client idx an address in its own /64 of fd99::/48, with
// an interface ID typical of its kind: a low-byte static address for the
// Linux servers, a random-looking temporary address for Windows, an EUI-64
// one for macOS.
func clientIPv6(kind string, idx int) netip.Addr {
	b := [16]byte{0xfd, 0x99, 0, 0, 0, 0, 0, byte(idx)}
	switch kind {
	case KindWindows:
		copy(b[8:], []byte{0x5c, 0x3a, 0x91, 0xe4, 0x27, 0xb8, 0xd6, byte(0x10 + idx)})
	case KindMacOS:
		copy(b[8:], []byte{0x18, 0x65, 0x90, 0xff, 0xfe, 0x4c, 0x2a, byte(idx)})
	default:
		b[15] = byte(0x10 + idx)
	}
	return netip.AddrFrom16(b)
}

// clientMAC is the MAC of client idx's veth; the sensor's is index 0.
func clientMAC(idx int) []byte { return []byte{0x02, 0x00, 0x0a, 0x63, 0x00, byte(idx)} }

// prepareOut makes dir ready for a fresh run: created if missing, emptied
// if it holds an earlier lab's results, refused if it holds anything else.
func prepareOut(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("lab: results directory: %w", err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err != nil {
			return fmt.Errorf("lab: results directory %s is not empty and holds no earlier lab results (no %s): choose another --keep", dir, MarkerFile)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("lab: clearing earlier results: %w", err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: results directory: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, MarkerFile), []byte("results of `mxsensor lab`; a later lab run replaces this directory's contents\n"), 0o644)
}

// writeRejectLog writes the production MTA's log: a DNSBL rejection of
// every listed client's IPv4 address in the minutes before now, and, as
// noise the parser must skip, other Postfix lines about unlisted clients.
func writeRejectLog(path string, clients []Client, now time.Time) error {
	var b strings.Builder
	const env = "from=<bulk@spam.example> to=<postmaster@mx.lab.example> proto=ESMTP helo=<bulk.example>"
	stamp := func(t time.Time) string { return t.UTC().Format(time.Stamp) }
	pid := 4100
	for i, c := range clients {
		t := now.Add(-time.Duration(10-i%10) * time.Minute)
		pid++
		if c.Listed {
			fmt.Fprintf(&b, "%s mx postfix/smtpd[%d]: connect from unknown[%s]\n", stamp(t), pid, c.IPv4)
			fmt.Fprintf(&b, "%s mx postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable; Client host [%s] blocked using zen.spamhaus.org; %s\n",
				stamp(t.Add(time.Second)), pid, c.IPv4, c.IPv4, env)
			continue
		}
		fmt.Fprintf(&b, "%s mx postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 550 5.1.1 <nobody@mx.lab.example>: Recipient address rejected: User unknown in local recipient table; %s\n",
			stamp(t), pid, c.IPv4, env)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeInfo(path string, info *Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadInfo reads lab.json from a results directory.
func ReadInfo(dir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", InfoFile, err)
	}
	return &info, nil
}

// logger returns l, or a no-op logger.
func logger(l *zap.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return l
}

// CleanupMounts unmounts the bpffs mounts that labs killed with SIGKILL
// left under the temporary directory, removes their work directories and
// temporary results directories, and returns how many mounts it removed.
// Run it only when no lab is running.
func CleanupMounts() (int, error) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return 0, err
	}
	pattern := filepath.Join(os.TempDir(), "mxsensor-lab-*", "bpffs")
	n := 0
	var errs []error
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "bpf" {
			continue
		}
		if ok, _ := filepath.Match(pattern, f[1]); !ok || strings.HasPrefix(filepath.Base(filepath.Dir(f[1])), "mxsensor-lab-results-") {
			continue
		}
		if err := unix.Unmount(f[1], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", f[1], err))
			continue
		}
		n++
		if err := os.RemoveAll(filepath.Dir(f[1])); err != nil {
			errs = append(errs, err)
		}
	}
	// The temporary results directories of `--keep ""`.
	tmp, _ := filepath.Glob(filepath.Join(os.TempDir(), "mxsensor-lab-results-*"))
	for _, d := range tmp {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
