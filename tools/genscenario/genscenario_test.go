package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

var testStart = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func gen(t testing.TB, mixName string, seed uint64, hosts int, d time.Duration) (string, Stats) {
	t.Helper()
	dir := t.TempDir()
	st, err := generate(Config{Seed: seed, Hosts: hosts, Duration: d, Density: 1, Mix: mixName, Start: testStart, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

// readTruth reads the truth file with its one reader, failing on any line
// it skips.
func readTruth(t *testing.T, dir string) (hosts map[int]record.Truth, attempts []record.Truth) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, record.TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hosts = map[int]record.Truth{}
	st, err := record.ScanTruth(f, func(l *record.Truth) error {
		switch l.Type {
		case record.TruthHost:
			if l.IPv4 == nil || l.IPv6 == nil {
				t.Fatalf("null address list: %+v", l)
			}
			hosts[l.Host] = *l
		case record.TruthAttempt:
			attempts = append(attempts, *l)
		default:
			t.Fatalf("bad type: %+v", l)
		}
		return nil
	})
	if err != nil || st.Bad > 0 {
		t.Fatal(err, st.FirstBad)
	}
	return hosts, attempts
}

func TestDeterministic(t *testing.T) {
	a, _ := gen(t, "hard", 7, 400, 20*time.Minute)
	b, _ := gen(t, "hard", 7, 400, 20*time.Minute)
	c, _ := gen(t, "hard", 8, 400, 20*time.Minute)
	for _, name := range []string{"syns.pcap", "mail.log", "truth.jsonl", "asn.txt", "ptr.txt"} {
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := os.ReadFile(filepath.Join(b, name))
		z, _ := os.ReadFile(filepath.Join(c, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs with the same seed", name)
		}
		if bytes.Equal(x, z) {
			t.Errorf("%s is the same for different seeds", name)
		}
	}
}

type key struct {
	src  netip.Addr
	port uint16
}

func TestPcapMatchesTruth(t *testing.T) {
	for _, m := range []string{"default", "hard", "windows-heavy", "6to4-heavy", "repeaters", "generic", "decoys", "adversarial"} {
		t.Run(m, func(t *testing.T) {
			dir, st := gen(t, m, 3, 600, 30*time.Minute)
			hosts, attempts := readTruth(t, dir)
			if len(attempts) != st.Attempts || len(hosts) != st.Hosts {
				t.Fatalf("truth has %d hosts %d attempts, stats %+v", len(hosts), len(attempts), st)
			}
			byKey := map[key][]int{}
			want := 0
			for i, a := range attempts {
				k := key{a.Src, a.SrcPort}
				byKey[k] = append(byKey[k], i)
				want += a.SYNs
			}
			r, err := capture.Open(filepath.Join(dir, "syns.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cfg := dataplane.DefaultConfig()
			cfg.Mode = dataplane.ModeObserve
			cfg.RateLimit = 0
			er := capture.NewEventReader(r, cfg)
			got := make([]int, len(attempts))
			ports := make([]map[uint16]bool, len(attempts))
			n := 0
			for {
				ev, err := er.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				k := key{ev.Src, ev.SrcPort}
				match := -1
				for _, i := range byKey[k] {
					d := ev.Time.Sub(attempts[i].FirstSeen)
					if d >= 0 && d < 25*time.Second {
						if match >= 0 {
							t.Fatalf("SYN %v %d at %v matches two attempts", ev.Src, ev.SrcPort, ev.Time)
						}
						match = i
					}
				}
				if match < 0 {
					t.Fatalf("SYN %v %d at %v matches no attempt", ev.Src, ev.SrcPort, ev.Time)
				}
				if got[match] == 0 && !ev.Time.Equal(attempts[match].FirstSeen) {
					t.Fatalf("first SYN of %+v at %v", attempts[match], ev.Time)
				}
				got[match]++
				if ports[match] == nil {
					ports[match] = map[uint16]bool{}
				}
				ports[match][ev.SrcPort] = true
			}
			if n != want {
				t.Errorf("pcap has %d matched SYNs, truth %d", n, want)
			}
			for i, a := range attempts {
				if got[i] != a.SYNs {
					t.Errorf("attempt %+v: %d SYNs in pcap", a, got[i])
				}
				h := hosts[a.Host]
				if h.OSClass == "Windows" && (a.SYNs != 3 || len(ports[i]) != 1) {
					t.Errorf("Windows attempt with %d SYNs on %d ports", a.SYNs, len(ports[i]))
				}
				if h.OSClass != "Windows" && a.SYNs != 1 {
					t.Errorf("%s attempt with %d SYNs", h.OS, a.SYNs)
				}
			}
		})
	}
}

// eachPair checks that every attempt comes from one of its host's addresses
// and that its pair, when it has one, is the other family's attempt of the
// same host and delivery and pairs back; it calls fn with each paired
// attempt, its host and its pair.
func eachPair(t *testing.T, hosts map[int]record.Truth, attempts []record.Truth, fn func(h, a, b record.Truth)) {
	t.Helper()
	type id struct {
		src   netip.Addr
		sport uint16
		t     time.Time
	}
	index := map[id]record.Truth{}
	for _, a := range attempts {
		index[id{a.Src, a.SrcPort, a.FirstSeen}] = a
	}
	for _, a := range attempts {
		h := hosts[a.Host]
		addrs := h.IPv4
		if a.Family == record.IPv6 {
			addrs = h.IPv6
		}
		if !slices.Contains(addrs, a.Src) {
			t.Fatalf("attempt %+v from an address not of host %+v", a, h)
		}
		if !a.Pair.Src.IsValid() {
			continue
		}
		b, ok := index[id{a.Pair.Src, a.Pair.SrcPort, a.Pair.FirstSeen}]
		if !ok || b.Host != a.Host || b.Family == a.Family || b.Delivery != a.Delivery || !b.Pair.Src.IsValid() || b.Pair.Src != a.Src || !b.Pair.FirstSeen.Equal(a.FirstSeen) {
			t.Fatalf("pair of %+v is %+v", a, b)
		}
		fn(h, a, b)
	}
}

func TestTruthConsistent(t *testing.T) {
	dir, _ := gen(t, "default", 5, 3000, time.Hour)
	hosts, attempts := readTruth(t, dir)
	checked := map[string]int{}
	eachPair(t, hosts, attempts, func(h, a, b record.Truth) {
		if !a.FirstSeen.Before(b.FirstSeen) {
			return // check each delivery from its first attempt
		}
		// RFC 6724 ordering per address type.
		wantFirst := record.IPv6
		if h.AddrType == "6to4" || h.AddrType == "teredo" || h.Software == "ipv4-first" {
			wantFirst = record.IPv4
		}
		if h.Software == "ipv4-first" || h.Software == "rfc6724" {
			if a.Family != wantFirst {
				t.Errorf("host %+v (%s, %s) tried %s first", h, h.AddrType, h.Software, a.Family)
			}
			checked[h.AddrType+"/"+h.Software]++
		}
		gap := b.FirstSeen.Sub(a.FirstSeen)
		if h.OSClass == "Windows" && gap < time.Second || h.OSClass != "Windows" && gap > time.Second {
			t.Errorf("%s fell back after %v", h.OS, gap)
		}
	})
	for _, k := range []string{"native/rfc6724", "eui64/rfc6724", "embedded-ipv4/rfc6724", "6to4/rfc6724", "teredo/rfc6724", "native/ipv4-first"} {
		if checked[k] == 0 {
			t.Errorf("no paired deliveries of %s", k)
		}
	}
	// Every role and address type is present.
	roles, types := map[string]bool{}, map[string]bool{}
	for _, h := range hosts {
		roles[h.Role], types[h.AddrType] = true, true
		if h.AddrType == "embedded-ipv4" {
			v4 := h.IPv4[0].As4()
			v6 := h.IPv6[0].As16()
			if !bytes.Equal(v4[:], v6[12:]) {
				t.Errorf("embedded-ipv4 host %+v", h)
			}
		}
		if h.AddrType == "6to4" {
			v4 := h.IPv4[0].As4()
			v6 := h.IPv6[0].As16()
			if !bytes.Equal(v4[:], v6[2:6]) || !h.NAT && !bytes.Equal(v4[:], v6[12:]) {
				t.Errorf("6to4 host %+v", h)
			}
		}
		if h.AddrType == "teredo" {
			v4 := h.IPv4[0].As4()
			v6 := h.IPv6[0].As16()
			for i := range 4 {
				if v6[12+i] != ^v4[i] {
					t.Errorf("teredo host %+v", h)
				}
			}
		}
	}
	for _, r := range []string{"spammer", "bot", "legit", "scanner", "misbehaving"} {
		if !roles[r] {
			t.Errorf("no %s", r)
		}
	}
	for _, a := range []string{"native", "eui64", "embedded-ipv4", "6to4", "teredo", "none"} {
		if !types[a] {
			t.Errorf("no %s", a)
		}
	}
	if n := len(attempts); n < 10000 {
		t.Errorf("only %d attempts in an hour of 3000 hosts", n)
	}
}

func TestMailLog(t *testing.T) {
	for _, m := range []string{"default", "hard"} {
		t.Run(m, func(t *testing.T) {
			d := 45 * time.Minute
			dir, _ := gen(t, m, 11, 800, d)
			hosts, _ := readTruth(t, dir)
			want := map[netip.Addr]bool{}
			notListed := map[netip.Addr]bool{}
			for _, h := range hosts {
				for _, s := range h.IPv4 {
					if h.Listed {
						if !h.Spammer {
							t.Errorf("listed non-spammer %+v", h)
						}
						want[s] = true
					} else {
						notListed[s] = true
					}
				}
			}
			end := testStart.Add(d)
			p := rejectlog.NewParser(rejectlog.Options{Location: time.UTC, Now: func() time.Time { return end }})
			data, err := os.ReadFile(filepath.Join(dir, "mail.log"))
			if err != nil {
				t.Fatal(err)
			}
			got := map[netip.Addr]bool{}
			nonDNSBL := 0
			for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
				rj, ok, err := p.Parse(string(line))
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				if !ok {
					nonDNSBL++
					continue
				}
				if rj.Time.Before(testStart.Add(-2*time.Hour)) || rj.Time.After(end) {
					t.Errorf("rejection at %v: %s", rj.Time, line)
				}
				got[rj.IP] = true
			}
			if nonDNSBL == 0 {
				t.Error("no non-DNSBL lines")
			}
			for ip := range want {
				if !got[ip] {
					t.Errorf("listed %v not in the log", ip)
				}
			}
			for ip := range got {
				if !want[ip] {
					t.Errorf("unlisted %v rejected by a DNSBL", ip)
				}
				if notListed[ip] {
					t.Errorf("%v is listed for one host and not another", ip)
				}
			}
			if len(want) == 0 {
				t.Error("no listed spammers")
			}
		})
	}
}

// BenchmarkGenerate: the default scenario (3000 hosts, 1 h), SYNs per
// second reported (no threshold here: the machine is shared).
func BenchmarkGenerate(b *testing.B) {
	syns := 0
	for b.Loop() {
		_, st := gen(b, "default", 1, 3000, time.Hour)
		syns += st.SYNs
	}
	b.ReportMetric(float64(syns)/b.Elapsed().Seconds(), "SYNs/s")
}

// TestSensors: with -sensors 3 every attempt is at exactly one sensor (a
// delivery's attempts at the same one), and each sensor's mail log
// rejects only listed hosts that delivered there.
func TestSensors(t *testing.T) {
	dir := t.TempDir()
	if _, err := generate(Config{Seed: 5, Hosts: 400, Duration: time.Hour, Density: 1, Mix: "default", Start: testStart, Out: dir, Sensors: 3}); err != nil {
		t.Fatal(err)
	}
	hosts, all := readTruth(t, dir)
	type key struct {
		src   netip.Addr
		sport uint16
		t     int64
	}
	seen := map[key]int{}
	delivery := map[int]int{}
	for k := 1; k <= 3; k++ {
		sdir := filepath.Join(dir, fmt.Sprintf("s%d", k))
		_, atts := readTruth(t, sdir)
		sent := map[netip.Addr]bool{}
		for _, a := range atts {
			seen[key{a.Src, a.SrcPort, a.FirstSeen.UnixNano()}]++
			if d, ok := delivery[a.Delivery]; ok && d != k {
				t.Errorf("delivery %d at sensors %d and %d", a.Delivery, d, k)
			}
			delivery[a.Delivery] = k
			for _, ip := range hosts[a.Host].IPv4 {
				sent[ip] = true
			}
		}
		listed := map[netip.Addr]bool{}
		for _, h := range hosts {
			if h.Listed {
				for _, ip := range h.IPv4 {
					listed[ip] = true
				}
			}
		}
		f, err := os.Open(filepath.Join(sdir, "mail.log"))
		if err != nil {
			t.Fatal(err)
		}
		p := rejectlog.NewParser(rejectlog.Options{Now: func() time.Time { return testStart.Add(time.Hour) }, Location: time.UTC})
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r, ok, _ := p.Parse(sc.Text())
			if !ok {
				continue
			}
			n++
			if !listed[r.IP] || !sent[r.IP] {
				t.Errorf("sensor %d rejects %s: listed %v, delivered there %v", k, r.IP, listed[r.IP], sent[r.IP])
			}
		}
		f.Close()
		if n == 0 {
			t.Errorf("sensor %d: no rejections", k)
		}
	}
	if len(seen) != len(all) {
		t.Errorf("%d attempts at the sensors, %d in the scenario", len(seen), len(all))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("attempt %v at %d sensors", k, n)
		}
	}
}
