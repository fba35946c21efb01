//go:build linux

package lab

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/rejectlog"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

func TestClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Linux, cfg.Windows, cfg.MacOS = 3, 2, 1
	cs, err := cfg.clients()
	if err != nil {
		t.Fatal(err)
	}
	var names, listed []string
	seen := map[netip.Addr]bool{SensorIPv4: true, SensorIPv6: true}
	lab6 := netip.MustParsePrefix("fd99::/48")
	for _, c := range cs {
		names = append(names, c.Name)
		if c.Listed {
			listed = append(listed, c.Name)
		}
		for _, a := range []netip.Addr{c.IPv4, c.IPv6} {
			if seen[a] {
				t.Errorf("%s: address %v used twice", c.Name, a)
			}
			seen[a] = true
		}
		if !lab6.Contains(c.IPv6) || netip.PrefixFrom(c.IPv6, 64).Masked() == netip.PrefixFrom(SensorIPv6, 64).Masked() {
			t.Errorf("%s: %v not in its own /64 of %v", c.Name, c.IPv6, lab6)
		}
		if netip.PrefixFrom(c.IPv4, prefix4).Masked() != netip.PrefixFrom(SensorIPv4, prefix4).Masked() {
			t.Errorf("%s: %v not on the sensor's IPv4 subnet", c.Name, c.IPv4)
		}
	}
	if want := []string{"lin1", "lin2", "lin3", "win1", "win2", "mac1"}; !slices.Equal(names, want) {
		t.Errorf("clients %v, want %v", names, want)
	}
	if want := []string{"lin1", "lin3", "win1"}; !slices.Equal(listed, want) {
		t.Errorf("listed %v, want %v", listed, want)
	}

	cfg.Listed = []string{"mac1"}
	if cs, err = cfg.clients(); err != nil || !cs[5].Listed || cs[0].Listed {
		t.Errorf("--listed mac1: %v %+v", err, cs)
	}
	cfg.Listed = []string{"lin9"}
	if _, err := cfg.clients(); err == nil || !strings.Contains(err.Error(), "no such client") {
		t.Errorf("--listed lin9: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.XDPMode = "auto" },
		func(c *Config) { c.Duration = 0 },
		func(c *Config) { c.Duration = time.Hour },
		func(c *Config) { c.Linux = MaxPerKind + 1 },
		func(c *Config) { c.Linux, c.Windows, c.MacOS = 0, 0, 0 },
	} {
		cfg := DefaultConfig()
		cfg.Agent = "/bin/true"
		mut(&cfg)
		if err := cfg.validate(); err == nil {
			t.Errorf("%+v: accepted", cfg)
		}
	}
}

// The reject log the lab writes lists exactly the listed clients, as the
// parser the agent uses reads it.
func TestRejectLog(t *testing.T) {
	cfg := DefaultConfig()
	cs, err := cfg.clients()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mail.log")
	now := time.Now()
	if err := writeRejectLog(path, cs, now); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := rejectlog.NewParser(rejectlog.Options{Location: time.UTC})
	var got []netip.Addr
	if err := rejectlog.Scan(t.Context(), f, p, func(r rejectlog.Rejection) error {
		got = append(got, r.IP)
		if d := now.Sub(r.Time); d < 0 || d > time.Hour {
			t.Errorf("rejection at %v, %v before now", r.Time, d)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var want []netip.Addr
	for _, c := range cs {
		if c.Listed {
			want = append(want, c.IPv4)
		}
	}
	if !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("rejected %v, want %v", got, want)
	}
	if c := p.Counters(); c.Garbage != 0 || c.NotMatching == 0 {
		t.Errorf("counters %+v: want no garbage and some non-DNSBL lines", c)
	}
}

func TestPrepareOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "res")
	if err := prepareOut(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "attempts.jsonl"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An earlier lab's directory is emptied.
	if err := prepareOut(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "attempts.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("earlier results not removed: %v", err)
	}
	// Anything else is refused and left alone.
	other := t.TempDir()
	keep := filepath.Join(other, "precious")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := prepareOut(other); err == nil || !strings.Contains(err.Error(), "choose another --keep") {
		t.Errorf("foreign directory: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("foreign file touched: %v", err)
	}
}

func TestIsRST(t *testing.T) {
	client := netip.MustParseAddr("fd99:0:0:4::1")
	for _, tc := range []struct {
		name string
		spec synframe.Spec
		want bool
	}{
		{"v6 rst", synframe.Spec{Src: SensorIPv6, Dst: client, SrcPort: 25, DstPort: 50000, Flags: synframe.RST | synframe.ACK}, true},
		{"v4 rst", synframe.Spec{Src: SensorIPv4, Dst: netip.MustParseAddr("10.99.0.14"), SrcPort: 25, DstPort: 50000, Flags: synframe.RST | synframe.ACK}, true},
		{"other port", synframe.Spec{Src: SensorIPv6, Dst: client, SrcPort: 25, DstPort: 50001, Flags: synframe.RST | synframe.ACK}, false},
		{"syn-ack", synframe.Spec{Src: SensorIPv6, Dst: client, SrcPort: 25, DstPort: 50000, Flags: synframe.SYN | synframe.ACK}, false},
		{"our own syn", synframe.Spec{Src: client, Dst: SensorIPv6, SrcPort: 50000, DstPort: 25}, false},
	} {
		from := tc.spec.Src
		if from == client {
			from = SensorIPv6
		}
		if got := isRST(tc.spec.Build(), from, 50000); got != tc.want {
			t.Errorf("%s: isRST = %v, want %v", tc.name, got, tc.want)
		}
	}
	if isRST([]byte{1, 2, 3}, SensorIPv4, 1) {
		t.Error("short frame taken for a RST")
	}
}

func TestMacOSOptions(t *testing.T) {
	o := MacOSOptions(1460, 0x01020304)
	want := []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 4, 2, 0, 0}
	if !slices.Equal(o, want) {
		t.Errorf("options % x, want % x", o, want)
	}
}

// A fleet lab lists each listed client at one sensor's domain in turn,
// and no client gets a sensor's or the collector's address, with the
// most clients of every kind.
func TestLabFleetClients(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sensors = 3
	cs, err := cfg.clients()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, c := range cs {
		if c.Listed != (len(c.ListedAt) == 1) {
			t.Errorf("%s: listed %v at %v", c.Name, c.Listed, c.ListedAt)
		}
		got[c.Name] = c.ListedAt
	}
	want := map[string][]string{"lin1": {"s1"}, "lin3": {"s2"}, "win1": {"s3"}}
	for name, at := range got {
		if !slices.Equal(at, want[name]) {
			t.Errorf("%s listed at %v, want %v", name, at, want[name])
		}
	}
	cfg.Listed = []string{}
	if _, err := cfg.clients(); err == nil || !strings.Contains(err.Error(), "needs a listed client") {
		t.Errorf("fleet lab without listed clients: %v", err)
	}

	cfg.Listed = nil
	cfg.Linux, cfg.Windows, cfg.MacOS, cfg.Sensors = MaxPerKind, MaxPerKind, MaxPerKind, MaxSensors
	if cs, err = cfg.clients(); err != nil {
		t.Fatal(err)
	}
	taken := map[netip.Addr]string{CollectorIPv4: "the collector", CollectorIPv6: "the collector"}
	for k := range MaxSensors {
		v4, v6 := sensorAddrs(k)
		taken[v4], taken[v6] = sensorID(k), sensorID(k)
	}
	if len(taken) != 2+2*MaxSensors {
		t.Fatalf("sensors' addresses not distinct: %v", taken)
	}
	for _, c := range cs {
		for _, a := range []netip.Addr{c.IPv4, c.IPv6} {
			if who, ok := taken[a]; ok {
				t.Errorf("%s: address %v is %s's", c.Name, a, who)
			}
			taken[a] = c.Name
		}
	}
	if err := cfg.validate(); err == nil {
		t.Error("no agent: accepted")
	}
	cfg.Agent = "/bin/true"
	for _, n := range []int{-1, MaxSensors + 1} {
		cfg.Sensors = n
		if err := cfg.validate(); err == nil {
			t.Errorf("--sensors %d accepted", n)
		}
	}
}

// The fleet's checks of one client at one sensor: the sensor's own
// labels follow its reject log, the collector holds each attempt once and
// labels them by every sensor's.
func TestLabFleetCheckAt(t *testing.T) {
	listedS1 := Client{Name: "lin1", Listed: true, ListedAt: []string{"s1"}}
	unlisted := Client{Name: "lin2"}
	good := SensorCounts{Deliveries: 2, V4: 2, V6: 2, Associated: 2, FleetV4: 2, FleetV6: 2, FleetAssociated: 2, FleetSpammer: 2}
	for _, tc := range []struct {
		name   string
		c      Client
		at     string
		mut    func(*SensorCounts)
		reason string // "" = ok
	}{
		{"listed elsewhere: spammer in the fleet only", listedS1, "s2", func(*SensorCounts) {}, ""},
		{"listed here", listedS1, "s1", func(s *SensorCounts) { s.Spammer = 2 }, ""},
		{"listed here, not labelled", listedS1, "s1", func(*SensorCounts) {}, "listed here"},
		{"labelled by a sensor that does not list it", listedS1, "s2", func(s *SensorCounts) { s.Spammer = 1 }, "not listed here"},
		{"not in the fleet's labels", listedS1, "s2", func(s *SensorCounts) { s.FleetSpammer = 1 }, "fleet's view"},
		{"an attempt twice at the collector", listedS1, "s2", func(s *SensorCounts) { s.FleetV6, s.FleetSpammer = 3, 3 }, "the collector holds"},
		{"an attempt lost", unlisted, "s2", func(s *SensorCounts) { s.FleetV4, s.FleetSpammer = 1, 0 }, "the collector holds"},
		{"unlisted", unlisted, "s2", func(s *SensorCounts) { s.FleetSpammer = 0 }, ""},
		{"unlisted, fleet spammer", unlisted, "s2", func(*SensorCounts) {}, "listed nowhere"},
		{"delivered, not recorded", unlisted, "s3", func(s *SensorCounts) { *s = SensorCounts{Deliveries: 1} }, "no IPv6 attempt"},
	} {
		sc := good
		tc.mut(&sc)
		cr := ClientResult{Client: tc.c}
		cr.checkAt(tc.at, sc)
		got := strings.Join(cr.Problems, "; ")
		if (tc.reason == "") != (got == "") || !strings.Contains(got, tc.reason) {
			t.Errorf("%s: problems %q, want %q", tc.name, got, tc.reason)
		}
	}
}
