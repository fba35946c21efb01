package main

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/addr"
	"github.com/mxsensor/mxsensor/internal/record"
)

// build makes a population and its traffic in memory (no files).
func build(t *testing.T, mixName string, seed uint64, hosts int, d time.Duration, density float64) (*population, *traffic) {
	t.Helper()
	m, err := lookupMix(mixName)
	if err != nil {
		t.Fatal(err)
	}
	r := newRNG(seed)
	p := buildPopulation(r, m, hosts, testStart)
	return p, generateTraffic(p, r, testStart, d, density)
}

// TestRepeaters: repeat senders have bounded active spans starting
// anywhere, irregular retry gaps around sender-specific periods, every
// stack and address form, and dual-stack and IPv4-only retries near the
// knobs' shares.
func TestRepeaters(t *testing.T) {
	const density = 1
	p, tr := build(t, "repeaters", 5, 1000, 2*time.Hour, density)
	k := p.m.repeat
	fams := map[int32][]bool{} // delivery -> families tried, in order
	for _, a := range tr.attempts {
		fams[a.delivery] = append(fams[a.delivery], a.v6)
	}
	n, heavy := 0, 0
	classes, types := map[string]bool{}, map[string]bool{}
	startBins := map[int64]bool{}
	var medians []float64
	var dual, v4only, retries, hDual, hV4only, hRetries int
	for i, h := range p.hosts {
		if h.rep == nil {
			continue
		}
		n++
		classes[h.st.class], types[h.addrType] = true, true
		if h.role != "misbehaving" || !h.v4.IsValid() || len(h.v6) == 0 || len(h.v6) > 4 || h.listed && !h.spammer {
			t.Errorf("repeat sender %+v", h)
		}
		ts := tr.deliveryTimes[i]
		if len(ts) == 0 {
			continue
		}
		if span := time.Duration(ts[len(ts)-1] - ts[0]); span > k.spanMax {
			t.Errorf("host %d active for %v", h.id, span)
		}
		startBins[(ts[0]-testStart.UnixNano())/int64(10*time.Minute)] = true
		if len(ts) >= 30 {
			var gaps []float64
			for j := 1; j < len(ts); j++ {
				gaps = append(gaps, float64(ts[j]-ts[j-1]))
			}
			mean, sd := meanSD(gaps)
			if sd/mean < 0.3 {
				t.Errorf("host %d: gaps too regular (mean %v, sd %v)", h.id, time.Duration(mean), time.Duration(sd))
			}
			slices.Sort(gaps)
			med := time.Duration(gaps[len(gaps)/2])
			if med < k.periodMin/2/density || med > 2*k.periodMax/density {
				t.Errorf("host %d: median gap %v", h.id, med)
			}
			medians = append(medians, float64(med))
		}
		d, v4, all := &dual, &v4only, &retries
		if h.rep.v4only == k.v4HeavyOnly {
			heavy++
			d, v4, all = &hDual, &hV4only, &hRetries
		}
		for _, id := range tr.deliveryIDs[i] {
			*all++
			switch f := fams[id]; {
			case len(f) == 2:
				if !f[0] || f[1] {
					t.Errorf("host %d: dual-stack retry tries %v", h.id, f)
				}
				*d++
			case !f[0]:
				*v4++
			}
		}
	}
	if n != 1000/p.m.repeaterPer {
		t.Errorf("%d repeat senders, want %d", n, 1000/p.m.repeaterPer)
	}
	if heavy == 0 || heavy == n {
		t.Errorf("%d of %d repeat senders IPv4-heavy", heavy, n)
	}
	for _, c := range []string{"Linux", "Windows", "FreeBSD", "macOS"} {
		if !classes[c] {
			t.Errorf("no %s repeat sender", c)
		}
	}
	for _, a := range []string{"native", "eui64", "low-byte", "embedded-other"} {
		if !types[a] {
			t.Errorf("no %s repeat sender", a)
		}
	}
	if len(startBins) < 6 {
		t.Errorf("repeat senders start in only %d of 12 ten-minute bins", len(startBins))
	}
	if lo, hi := slices.Min(medians), slices.Max(medians); hi < 2*lo {
		t.Errorf("median periods %v to %v: one period for all", time.Duration(lo), time.Duration(hi))
	}
	near := func(name string, got, of int, want float64) {
		share := float64(got) / float64(of)
		if tol := 4 * math.Sqrt(want*(1-want)/float64(of)); math.Abs(share-want) > tol {
			t.Errorf("%s: %d of %d retries (%.4f), want %.4f ± %.4f", name, got, of, share, want, tol)
		}
	}
	near("dual-stack", dual, retries, k.dual)
	near("IPv4-only", v4only, retries, k.v4only)
	near("dual-stack (IPv4-heavy)", hDual, hRetries, k.dual)
	near("IPv4-only (IPv4-heavy)", hV4only, hRetries, k.v4HeavyOnly)
}

func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)))
}

// TestDecoys: about decoyShare of the eligible addresses look embedded
// (the engine's classifier reads them so) and embed another sending host's
// IPv4, never the host's own, some a listed one; low-byte decoys end in
// another host's last octet and not their own.
func TestDecoys(t *testing.T) {
	dir, _ := gen(t, "decoys", 6, 1500, 20*time.Minute)
	hosts, _ := readTruth(t, dir)
	owner := map[netip.Addr]record.Truth{}
	lastOctet := map[byte]bool{}
	for _, h := range hosts {
		for _, a := range h.IPv4 {
			if h.Role == "spammer" || h.Role == "bot" || h.Role == "legit" {
				owner[a] = h
				lastOctet[a.As4()[3]] = true
			}
		}
	}
	decoys, eligible, listed := 0, 0, 0
	for _, h := range hosts {
		if h.Role != "spammer" && h.Role != "bot" && h.Role != "legit" {
			continue
		}
		switch h.AddrType {
		case "native", "eui64":
			eligible++
			continue
		case "embedded-other", "low-byte":
			eligible++
			decoys++
		default:
			continue
		}
		b := h.IPv6[0].As16()
		if h.AddrType == "low-byte" {
			iid := binary.BigEndian.Uint64(b[8:])
			if iid == 0 || iid > 0xff || !lastOctet[byte(iid)] || len(h.IPv4) > 0 && h.IPv4[0].As4()[3] == byte(iid) {
				t.Errorf("low-byte decoy %v of host %+v", h.IPv6[0], h)
			}
			continue
		}
		info := addr.Classify(h.IPv6[0])
		if info.Kind != addr.KindEmbeddedIPv4 || len(info.Embedded) != 1 {
			t.Fatalf("decoy %v reads as %v %+v", h.IPv6[0], info.Kind, info.Embedded)
		}
		v := info.Embedded[0].IPv4
		o, ok := owner[v]
		if !ok || o.Host == h.Host || slices.Contains(h.IPv4, v) {
			t.Errorf("decoy %v of host %d embeds %v (owner %d, known %v)", h.IPv6[0], h.Host, v, o.Host, ok)
		}
		if o.Listed {
			listed++
		}
	}
	share := float64(decoys) / float64(eligible)
	if want := decoysMix().decoyShare; math.Abs(share-want) > 0.05 {
		t.Errorf("%d decoys of %d addresses (%.3f), want %.2f", decoys, eligible, share, want)
	}
	if listed == 0 {
		t.Error("no decoy embeds a listed IPv4")
	}
}

// TestGeneric: most spammers and bots run one stack, and waves make many
// spammers (not only bots of one campaign) start a delivery in the same
// second, far more than in the default mix.
func TestGeneric(t *testing.T) {
	peak := func(mixName string) (share float64, most int) {
		p, tr := build(t, mixName, 7, 1500, time.Hour, 1)
		on, all := 0, 0
		perSecond := map[int64]map[int]bool{}
		for i, h := range p.hosts {
			if !h.spammer || h.role == "misbehaving" {
				continue
			}
			all++
			if h.st != &stLinuxNew {
				continue
			}
			on++
			if h.role != "spammer" {
				continue
			}
			for _, ts := range tr.deliveryTimes[i] {
				s := ts / int64(time.Second)
				if perSecond[s] == nil {
					perSecond[s] = map[int]bool{}
				}
				perSecond[s][i] = true
			}
		}
		for _, hs := range perSecond {
			most = max(most, len(hs))
		}
		return float64(on) / float64(all), most
	}
	share, most := peak("generic")
	_, base := peak("default")
	if share < 0.6 {
		t.Errorf("%.2f of spammers and bots on Linux 5.x", share)
	}
	if most < 20 || most < 3*base {
		t.Errorf("at most %d Linux 5.x spammers start in one second (default mix: %d)", most, base)
	}
}

// TestAdversarial: the combined mix has every family, and its truth pairs
// each attempt of a dual-stack delivery with the other family's attempt of
// the same host.
func TestAdversarial(t *testing.T) {
	p, _ := build(t, "adversarial", 8, 1000, 10*time.Minute, 1)
	reps, decoys := 0, 0
	for _, h := range p.hosts {
		switch {
		case h.rep != nil:
			reps++
		case h.addrType == "embedded-other" || h.addrType == "low-byte":
			decoys++
		}
	}
	if m := p.m; reps == 0 || decoys == 0 || m.waveRate == 0 || m.waveStack != &stLinuxNew {
		t.Errorf("%d repeat senders, %d decoys, waves %v", reps, decoys, m.waveRate)
	}

	dir, _ := gen(t, "adversarial", 8, 1000, 20*time.Minute)
	hosts, attempts := readTruth(t, dir)
	paired := map[string]int{}
	eachPair(t, hosts, attempts, func(h, _, _ record.Truth) {
		paired[h.Role]++
	})
	if paired["misbehaving"] == 0 || paired["spammer"] == 0 {
		t.Errorf("paired attempts by role: %v", paired)
	}
}

func TestMixHelp(t *testing.T) {
	for n := range mixes {
		if mixHelp[n] == "" {
			t.Errorf("mix %s has no -help line", n)
		}
	}
}
