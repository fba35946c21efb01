package main

import (
	"bufio"
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

var routerMAC = []byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
var sensorMAC = []byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x25}

// writePcap writes every SYN of the deliveries keep takes (nil: all), in
// time order.
func writePcap(path string, tr *traffic, keep func(delivery int32) bool) error {
	_ = os.Remove(path)
	w, err := capture.NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		return err
	}
	dst4, dst6 := netip.MustParseAddr(sensor4), netip.MustParseAddr(sensor6)
	for _, s := range tr.syns {
		a := &tr.attempts[s.a]
		if keep != nil && !keep(a.delivery) {
			continue
		}
		spec := synframe.Spec{
			SrcMAC: routerMAC, DstMAC: sensorMAC,
			Src: a.src, Dst: dst4, TTL: a.ttl, ID: a.ipid, DF: a.df,
			SrcPort: a.sport, DstPort: 25, Seq: a.seq, Flags: synframe.SYN,
			Window: a.window, TCPOptions: a.opts,
		}
		if a.v6 {
			spec.Dst, spec.FlowLabel, spec.ID, spec.DF = dst6, a.flow, 0, false
		} else if a.ipid != 0 && s.k > 0 {
			spec.ID = a.ipid + uint16(s.k) // a retransmission is a new datagram
		}
		if err := w.WriteFrame(time.Unix(0, s.t).UTC(), spec.Build()); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// writeTruth writes the hosts, then the attempts (of the deliveries keep
// takes; nil: all) in order of first SYN.
func writeTruth(path string, p *population, tr *traffic, keep func(delivery int32) bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	var buf []byte
	for _, h := range p.hosts {
		l := record.Truth{Type: record.TruthHost, Host: h.id, OS: h.st.name, OSClass: h.st.class,
			AddrType: h.addrType, Spammer: h.spammer, Listed: h.listed, NAT: h.nat, Role: h.role,
			Software: h.software, Group: h.group, Hops4: int(h.hops4), Hops6: int(h.hops6), IPv6: h.v6}
		if h.v4.IsValid() {
			l.IPv4 = []netip.Addr{h.v4}
		} else {
			l.Hops4 = 0
		}
		if len(h.v6) == 0 {
			l.Hops6 = 0
		}
		buf = l.AppendJSON(buf[:0])
		bw.Write(buf)
	}
	order := make([]int32, len(tr.attempts))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(x, y int32) int { return cmp.Compare(tr.attempts[x].t0, tr.attempts[y].t0) })
	for _, i := range order {
		a := &tr.attempts[i]
		if keep != nil && !keep(a.delivery) {
			continue
		}
		l := record.Truth{Type: record.TruthAttempt, Host: p.hosts[a.host].id, Family: record.IPv4, Src: a.src,
			SrcPort: a.sport, FirstSeen: time.Unix(0, a.t0), SYNs: int(a.syns), Delivery: int(a.delivery)}
		if a.v6 {
			l.Family = record.IPv6
		}
		if a.pair >= 0 {
			b := &tr.attempts[a.pair]
			l.Pair = record.AttemptRef{Src: b.src, SrcPort: b.sport, FirstSeen: time.Unix(0, b.t0)}
		}
		buf = l.AppendJSON(buf[:0])
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type logLine struct {
	t    int64
	text string
}

var zones = []string{"zen.spamhaus.org", "zen.spamhaus.org", "zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net"}
var words = []string{"info", "sales", "news", "promo", "alice", "bob", "admin", "office", "deals", "support", "mary", "john"}
var tlds = []string{"com", "net", "ru", "cn", "info", "biz", "org", "br"}

func (r rng) word() string { return words[r.IntN(len(words))] }
func (r rng) domain() string {
	return r.word() + strconv.Itoa(r.IntN(1000)) + "." + tlds[r.IntN(len(tlds))]
}

// writeMailLog writes the production MTA's log: DNSBL rejections of the
// listed IPv4s near their deliveries, and other, non-DNSBL lines. With keep
// (one domain of several, -sensors), only the deliveries to that domain
// are rejected, and a listed host that sent none there is not.
func writeMailLog(path string, r rng, p *population, tr *traffic, start, end time.Time, keep func(delivery int32) bool) error {
	var lines []logLine
	// Sessions last up to 5 s and must end by the scenario's end: times
	// past the end are reflected back into it.
	lo, hi := start.Add(-2*time.Hour).UnixNano(), end.Add(-5*time.Second).UnixNano()
	clamp := func(t int64) int64 {
		if t > hi {
			t = 2*hi - t
		}
		return max(lo, min(hi, t))
	}
	pid := func() int { return r.between(1000, 32000) }
	queueID := func() string { return fmt.Sprintf("%X", r.Uint64()&0xffffffffff) }
	add := func(t int64, format string, args ...any) {
		lines = append(lines, logLine{t, fmt.Sprintf(format, args...)})
	}
	session := func(t int64, ip netip.Addr, body func(t int64, pd int)) {
		pd := pid()
		add(t, "postfix/smtpd[%d]: connect from unknown[%s]", pd, ip)
		body(t+int64(r.dur(200*time.Millisecond, 2*time.Second)), pd)
		add(t+int64(r.dur(2*time.Second, 4*time.Second)), "postfix/smtpd[%d]: disconnect from unknown[%s] ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5", pd, ip)
	}
	rcpt := func() string { return r.word() + "@example.org" }
	reject := func(t int64, ip netip.Addr) {
		t = clamp(t)
		zone := zones[r.IntN(len(zones))]
		from, to, helo := r.word()+"@"+r.domain(), rcpt(), r.domain()
		session(t, ip, func(t int64, pd int) {
			add(t, "postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable; Client host [%s] blocked using %s; from=<%s> to=<%s> proto=ESMTP helo=<%s>",
				pd, ip, ip, zone, from, to, helo)
		})
	}
	listedDone := map[netip.Addr]bool{}
	for i, h := range p.hosts {
		times := tr.deliveryTimes[i]
		if keep != nil {
			times = nil
			for j, id := range tr.deliveryIDs[i] {
				if keep(id) {
					times = append(times, tr.deliveryTimes[i][j])
				}
			}
		}
		switch {
		case h.listed:
			n := 0
			for _, t := range times {
				if r.chance(0.3) {
					if r.chance(0.5) {
						reject(t-int64(r.dur(time.Second, 10*time.Minute)), h.v4)
					} else {
						reject(t+int64(r.dur(-2*time.Hour, 2*time.Hour)), h.v4)
					}
					n++
				}
			}
			if n == 0 && !listedDone[h.v4] && keep == nil {
				t := lo + r.Int64N(hi-lo)
				if len(times) > 0 {
					t = times[0] - int64(r.dur(time.Second, time.Hour))
				}
				reject(t, h.v4)
			}
			listedDone[h.v4] = true
		case h.role == "spammer" && h.v4.IsValid() && len(times) > 0 && r.chance(0.5):
			// Unlisted spammers: other rejection reasons.
			ip := h.v4
			t := clamp(times[0] - int64(r.dur(0, time.Hour)))
			session(t, ip, func(t int64, pd int) {
				if r.chance(0.5) {
					add(t, "postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table; from=<%s@%s> to=<%s> proto=ESMTP helo=<%s>",
						pd, ip, rcpt(), r.word(), r.domain(), rcpt(), r.domain())
				} else {
					add(t, "postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[%s]: 450 4.7.1 Client host rejected: cannot find your reverse hostname, [%s]; from=<%s@%s> to=<%s> proto=ESMTP helo=<%s>",
						pd, ip, ip, r.word(), r.domain(), rcpt(), r.domain())
				}
			})
		case h.role == "legit" && h.v4.IsValid():
			// Legitimate mail accepted by the production MX.
			for _, t := range poisson(r, 2, lo, hi) {
				ip, q, name := h.v4, queueID(), "mail."+r.domain()
				pd := pid()
				add(t, "postfix/smtpd[%d]: connect from %s[%s]", pd, name, ip)
				add(t+int64(time.Second), "postfix/smtpd[%d]: %s: client=%s[%s]", pd, q, name, ip)
				add(t+int64(1200*time.Millisecond), "postfix/cleanup[%d]: %s: message-id=<%x@%s>", pid(), q, r.Uint32(), name)
				add(t+int64(1300*time.Millisecond), "postfix/qmgr[%d]: %s: from=<%s@%s>, size=%d, nrcpt=1 (queue active)", pid(), q, r.word(), name, r.between(800, 90000))
				add(t+int64(2*time.Second), "postfix/smtpd[%d]: disconnect from %s[%s] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5", pd, name, ip)
			}
		}
	}
	slices.SortStableFunc(lines, func(a, b logLine) int { return cmp.Compare(a.t, b.t) })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	var buf []byte
	for _, l := range lines {
		buf = time.Unix(0, l.t).UTC().AppendFormat(buf[:0], time.Stamp)
		buf = append(buf, " mx1 "...)
		buf = append(buf, l.text...)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Stats summarise a generated scenario.
type Stats struct {
	Hosts, Attempts, SYNs, Deliveries, Paired int
}

// generate writes the scenario cfg describes into cfg.Out.
func generate(cfg Config) (Stats, error) {
	m, err := lookupMix(cfg.Mix)
	if err != nil {
		return Stats{}, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return Stats{}, err
	}
	start := cfg.Start.Truncate(time.Second)
	r := newRNG(cfg.Seed)
	p := buildPopulation(r, m, cfg.Hosts, start)
	tr := generateTraffic(p, r, start, cfg.Duration, cfg.Density)
	if err := writePcap(filepath.Join(cfg.Out, "syns.pcap"), tr, nil); err != nil {
		return Stats{}, err
	}
	if err := writeTruth(filepath.Join(cfg.Out, "truth.jsonl"), p, tr, nil); err != nil {
		return Stats{}, err
	}
	if cfg.Sensors <= 1 {
		if err := writeMailLog(filepath.Join(cfg.Out, "mail.log"), r, p, tr, start, start.Add(cfg.Duration), nil); err != nil {
			return Stats{}, err
		}
	}
	for k := 1; cfg.Sensors > 1 && k <= cfg.Sensors; k++ {
		// One sensor MX per domain: each delivery goes to one domain.
		keep := func(d int32) bool { return sensorOf(cfg.Seed, d, cfg.Sensors) == k }
		dir := filepath.Join(cfg.Out, "s"+strconv.Itoa(k))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Stats{}, err
		}
		if err := writePcap(filepath.Join(dir, "syns.pcap"), tr, keep); err != nil {
			return Stats{}, err
		}
		if err := writeTruth(filepath.Join(dir, "truth.jsonl"), p, tr, keep); err != nil {
			return Stats{}, err
		}
		lr := newRNG(cfg.Seed ^ uint64(k)<<32)
		if err := writeMailLog(filepath.Join(dir, "mail.log"), lr, p, tr, start, start.Add(cfg.Duration), keep); err != nil {
			return Stats{}, err
		}
	}
	if err := writeASNTable(filepath.Join(cfg.Out, "asn.txt"), p); err != nil {
		return Stats{}, err
	}
	if err := writePTRTable(filepath.Join(cfg.Out, "ptr.txt"), newRNG(cfg.Seed^0x70747273), p); err != nil {
		return Stats{}, err
	}
	st := Stats{Hosts: len(p.hosts), Attempts: len(tr.attempts), SYNs: len(tr.syns), Deliveries: int(tr.deliveries)}
	for i := range tr.attempts {
		if tr.attempts[i].pair >= 0 {
			st.Paired++
		}
	}
	return st, nil
}

// sensorOf is the sensor (1..n) a delivery goes to: a fixed function of
// the seed and the delivery, independent of the other random draws.
func sensorOf(seed uint64, delivery int32, n int) int {
	x := seed ^ uint64(delivery)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x%uint64(n)) + 1
}
