// Package report turns a measurement's attempts and associations into the
// talk's tables and figures, and what a mail operator asks next: who sends
// abusive IPv6 SMTP, from where, how much, and how sure we are.
package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/associate"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// ASNLookup gives the origin AS of an address (number and name), if known.
type ASNLookup func(ip netip.Addr) (asn uint32, name string, ok bool)

// Config selects what a report covers.
type Config struct {
	Window record.Window
	// Bucket is the width of the over-time series; 0 picks the finest of
	// 1m, 5m, 15m, 1h, 6h, 1d and 7d that gives at most 100 points.
	Bucket time.Duration
	// Top is the number of rows of the ranked tables (default 10).
	Top int
	// ASN, if set, names the origin AS of IPv6 spammers and busy /64s.
	ASN ASNLookup
	// Compare, if set, is another results directory of the same SYNs (for
	// example the naive rule's) to compare with.
	Compare string
}

// Report is everything the report shows; every output format renders it.
type Report struct {
	Period      Period       `json:"period"`
	Summary     Summary      `json:"summary"`
	OS          []SpammerRow `json:"ipv6_spammers_by_os"`
	AddrTypes   []SpammerRow `json:"ipv6_spammers_by_address_type"`
	OverTime    OverTime     `json:"spammer_attempts_over_time"`
	SYNs        []SYNRow     `json:"syns_per_attempt"`
	PortCDF     []PortCDFRow `json:"port_distance_cdf"`
	Busy64s     []PrefixRow  `json:"busiest_ipv6_64s"`
	SpamASNs    []ASNRow     `json:"spammer_asns"`
	Spam48s     []PrefixRow  `json:"spammer_48s"`
	Evidence    EvidenceMix  `json:"evidence"`
	Comparison  *Comparison  `json:"comparison,omitempty"`
	Fleet       *Fleet       `json:"fleet,omitempty"` // a store of several sensors
	Input       InputStats   `json:"input"`
	Definitions []string     `json:"definitions"`
}

// Period is the time covered: the first and last attempt seen.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Summary is the headline.
type Summary struct {
	Attempts4         int     `json:"ipv4_attempts"`
	Attempts6         int     `json:"ipv6_attempts"`
	SYNs              int     `json:"syns"`
	Blocklisted4      int     `json:"ipv4_attempts_blocklisted"`
	BlocklistedAddrs4 int     `json:"ipv4_addresses_blocklisted"`
	Associated6       int     `json:"ipv6_attempts_associated"`
	AssociatedPct     float64 `json:"ipv6_attempts_associated_pct"`
	SpamAttemptsAssoc int     `json:"ipv6_spammer_attempts_associated"`
	SpamAttemptsUnasc int     `json:"ipv6_spammer_attempts_unassociated"`
	SpamHostsAssoc    int     `json:"ipv6_spammer_hosts_associated"`
	SpamHostsUnasc    int     `json:"ipv6_spammer_hosts_unassociated"`
	Spam64s           int     `json:"ipv6_spammer_64s"`
	SpamSharePct      float64 `json:"ipv6_attempts_from_spammers_pct"`
	// SpamDiscounted: attempts associated with a listed IPv4 from hosts
	// most of whose associations point to unlisted ones (not counted as spam).
	SpamDiscounted      int     `json:"ipv6_spammer_attempts_discounted"`
	BlocklistedSharePct float64 `json:"ipv4_attempts_blocklisted_pct"`
}

// SpammerRow is one row of the talk's tables: IPv6 spammer hosts and
// attempts of one OS class or address type, associated or not, with their
// share of all IPv6 spammer hosts (attempts).
type SpammerRow struct {
	Name             string  `json:"name"`
	HostsAssoc       int     `json:"hosts_associated"`
	HostsAssocPct    float64 `json:"hosts_associated_pct"`
	HostsUnasc       int     `json:"hosts_unassociated"`
	HostsUnascPct    float64 `json:"hosts_unassociated_pct"`
	AttemptsAssoc    int     `json:"attempts_associated"`
	AttemptsAssocPct float64 `json:"attempts_associated_pct"`
	AttemptsUnasc    int     `json:"attempts_unassociated"`
	AttemptsUnascPct float64 `json:"attempts_unassociated_pct"`
}

// OverTime is connect() attempts from spammers per time bucket.
type OverTime struct {
	Bucket  string      `json:"bucket"` // "1h" or "24h0m0s"
	Buckets []TimePoint `json:"buckets"`
}

// TimePoint is one bucket of OverTime.
type TimePoint struct {
	Start     time.Time `json:"start"`
	IPv4      int       `json:"ipv4_blocklisted"`
	IPv6Assoc int       `json:"ipv6_spammer_associated"`
	IPv6Unasc int       `json:"ipv6_spammer_unassociated"`
}

// SYNRow is the histogram of SYNs per connect() attempt for one OS class.
type SYNRow struct {
	OSClass string `json:"os_class"`
	// Counts[i] is the number of attempts with i+1 SYNs; the last counts
	// MaxSYNs or more.
	Counts []int `json:"counts"`
	Total  int   `json:"total"`
}

// MaxSYNs is the last bin of the SYN histogram (that many or more).
const MaxSYNs = 6

// PortCDFRow is the CDF of the TCP source-port distance between associated
// IPv4 and IPv6 attempts of one OS class, at distances PortDistances.
type PortCDFRow struct {
	OSClass string    `json:"os_class"`
	Pairs   int       `json:"pairs"`
	CDF     []float64 `json:"cdf"` // CDF[i]: share of pairs with distance <= PortDistances[i]
	Median  int       `json:"median"`
}

// PortDistances are the points of the port-distance CDF.
var PortDistances = []int{1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384, 65535}

// PrefixRow is one IPv6 prefix (a /64 or a /48) with its traffic.
type PrefixRow struct {
	Prefix        netip.Prefix `json:"prefix"`
	Addresses     int          `json:"addresses"`
	Attempts      int          `json:"attempts"`
	Associated    int          `json:"attempts_associated"`
	AssociatedPct float64      `json:"attempts_associated_pct"`
	Spammer       int          `json:"spammer_attempts"`
	PerHour       float64      `json:"attempts_per_hour"`
	First         time.Time    `json:"first_seen"`
	Last          time.Time    `json:"last_seen"`
	ASN           uint32       `json:"asn,omitempty"`
	ASName        string       `json:"as_name,omitempty"`
	// Misbehaving: at least one attempt a minute, fewer than 5% of them
	// associated (the talk's misbehaving MTAs).
	Misbehaving bool `json:"misbehaving"`
}

// ASNRow is an origin AS of IPv6 spammers.
type ASNRow struct {
	ASN      uint32 `json:"asn"`
	Name     string `json:"name"`
	Hosts    int    `json:"hosts"`
	Attempts int    `json:"attempts"`
}

// EvidenceMix says on what the associations rest.
type EvidenceMix struct {
	Associations int `json:"associations"` // with an IPv4 attempt
	AddressOnly  int `json:"address_only"`
	// Families: associations (with an attempt) carrying each family.
	Families []FamilyCount `json:"families"`
	// Scores: associations by score, in the bins of record.ScoreEdges
	// from 0.5 up (from lower down if a lower --min-score made some).
	Scores []ScoreBin `json:"scores"`
}

// FamilyCount is how many associations carry one evidence family.
type FamilyCount struct {
	Family string  `json:"family"`
	Count  int     `json:"count"`
	Pct    float64 `json:"pct"`
}

// ScoreBin counts associations with From <= score < To (To 1 inclusive).
type ScoreBin struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Count int     `json:"count"`
}

// Comparison sets this run beside another over the same SYNs.
type Comparison struct {
	Other            string `json:"other"`
	Attempts6        int    `json:"ipv6_attempts"`
	ThisAssociated   int    `json:"this_associated"`
	OtherAssociated  int    `json:"other_associated"`
	ThisSpammer      int    `json:"this_spammer_attempts"`
	OtherSpammer     int    `json:"other_spammer_attempts"`
	ThisSpamHosts    int    `json:"this_spammer_hosts"`
	OtherSpamHosts   int    `json:"other_spammer_hosts"`
	SameIPv4         int    `json:"both_same_ipv4_attempt"`
	DifferentIPv4    int    `json:"both_different_ipv4_attempt"`
	OnlyThis         int    `json:"only_this"`
	OnlyOther        int    `json:"only_other"`
	SpammerAgreement int    `json:"spammer_label_agreement"`
}

// InputStats counts what was read.
type InputStats struct {
	Dir              string `json:"dir"`
	AttemptLines     int    `json:"attempt_lines"`
	AssociationLines int    `json:"association_lines"`
	BadLines         int    `json:"bad_lines"`
	TooLongLines     int    `json:"too_long_lines,omitempty"` // of BadLines: over record.MaxLine
	FirstBad         string `json:"first_bad,omitempty"`
	Filtered         int    `json:"outside_window"`
}

// SkipDetail says why the bad lines were skipped: how many were too long,
// and the first one.
func (s InputStats) SkipDetail() string {
	if s.TooLongLines > 0 {
		return fmt.Sprintf("%d longer than %d bytes; first: %s", s.TooLongLines, record.MaxLine, s.FirstBad)
	}
	return "first: " + s.FirstBad
}

// definitions explain the tables' terms; every format prints them.
var definitions = []string{
	"connect() attempt: the SYNs from one source address and port within a 25 s sliding window.",
	"IPv6 spammer attempt, associated: an attempt of an IPv6 spammer host associated with an IPv4 address that a DNSBL rejected at the production MTA.",
	"IPv6 spammer host, associated: an IPv6 address most of whose associated attempts are spammer attempts (its associations vote; the attempts of outvoted hosts are listed as discounted).",
	"Unassociated (spammer) attempt: an IPv6 attempt not itself associated with a listed IPv4, from a spammer host or from the /64 of one.",
	"Unassociated spammer host: an IPv6 address without associated spammer attempts in the /64 of a spammer host.",
	"Percentages in the OS and address-type tables are of all IPv6 spammer hosts (attempts), associated and not.",
	"Teredo addresses (2001::/32) are their own prefix: the bits after /32 name a Teredo server and a NAT, not a site.",
	"Misbehaving /64: at least one attempt a minute, fewer than 5% of them associated with IPv4 (the talk's misbehaving MTAs).",
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(1000*float64(a)/float64(b)) / 10
}

// osOrder lists OS classes in report order; others go under "other".
var osOrder = []string{"Windows", "Linux", "Mac OS X", "FreeBSD", "other"}

func osRow(class string) string {
	for _, c := range osOrder[:len(osOrder)-1] {
		if class == c {
			return c
		}
	}
	return "other"
}

// addrOrder lists the address-type rows (the talk's, plus Teredo and
// low-byte interface identifiers, which it counted as other).
var addrOrder = []string{"6to4", "Teredo", "EUI-64", "embedded IPv4", "low-byte", "other"}

func addrRow(kind string) string {
	switch kind {
	case "6to4":
		return "6to4"
	case "teredo":
		return "Teredo"
	case "eui64":
		return "EUI-64"
	case "embedded-ipv4", "isatap", "ipv4-mapped", "ipv4-compatible", "nat64":
		return "embedded IPv4"
	case "low-byte":
		return "low-byte"
	}
	return "other"
}

// hostAgg is what the report keeps per IPv6 address.
type hostAgg struct {
	os    map[string]int
	kind  string
	assoc int // spammer attempts associated
	unasc int // other attempts (counted as spammer attempts when the host or its /64 is a spammer's)
}

// prefixAgg is what the report keeps per /64 or /48.
type prefixAgg struct {
	addrs       map[netip.Addr]struct{}
	attempts    int
	associated  int
	spammer     int
	first, last time.Time
}

func (p *prefixAgg) add(ip netip.Addr, t time.Time, associated, spammer bool) {
	if p.addrs == nil {
		p.addrs = map[netip.Addr]struct{}{}
		p.first, p.last = t, t
	}
	p.addrs[ip] = struct{}{}
	p.attempts++
	if associated {
		p.associated++
	}
	if spammer {
		p.spammer++
	}
	if t.Before(p.first) {
		p.first = t
	}
	if t.After(p.last) {
		p.last = t
	}
}

func (p *prefixAgg) row(pfx netip.Prefix) PrefixRow {
	r := PrefixRow{Prefix: pfx, Addresses: len(p.addrs), Attempts: p.attempts, Associated: p.associated,
		AssociatedPct: pct(p.associated, p.attempts), Spammer: p.spammer, First: p.first.UTC(), Last: p.last.UTC()}
	hours := max(p.last.Sub(p.first).Hours(), 1)
	r.PerHour = math.Round(10*float64(p.attempts)/hours) / 10
	r.Misbehaving = p.attempts >= 60 && r.PerHour >= 60 && float64(p.associated) < 0.05*float64(p.attempts)
	return r
}

// Build reads the results directory dir and computes its report.
func Build(dir string, cfg Config) (*Report, error) { return BuildFrom(results.Dir(dir), cfg) }

// BuildFrom computes the report of the results in src (a directory or a
// store).
func BuildFrom(src results.Source, cfg Config) (*Report, error) {
	if cfg.Top <= 0 {
		cfg.Top = 10
	}
	r := &Report{Input: InputStats{Dir: src.String()}, Definitions: definitions}
	addStats := func(st record.Stats, assoc bool) {
		if assoc {
			r.Input.AssociationLines += st.Lines
		} else {
			r.Input.AttemptLines += st.Lines
		}
		r.Input.BadLines += st.Bad
		r.Input.TooLongLines += st.TooLong
		r.Input.Filtered += st.Filtered
		if r.Input.FirstBad == "" {
			r.Input.FirstBad = st.FirstBad
		}
	}

	// Pass 1: the spammer hosts and their /64s. A host's associations vote:
	// it is a spammer when most of them point to a listed IPv4. One
	// wrong association of a busy host (a misbehaving MTA trying every few
	// seconds) then cannot make all its attempts spam.
	votes := map[netip.Addr][2]int{} // address -> associated, of them spammer
	_, err := results.Scan(src, record.AssociationsFile, func(f io.Reader) (record.Stats, error) {
		return record.ScanAssociations(f, cfg.Window, func(a *record.Association) error {
			if a.Associated() {
				v := votes[a.Src]
				v[0]++
				if a.Spammer {
					v[1]++
				}
				votes[a.Src] = v
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	spamHosts := map[netip.Addr]bool{}
	spam64 := map[netip.Prefix]bool{}
	for ip, v := range votes {
		if results.SpammerHost(v[0], v[1]) {
			spamHosts[ip] = true
			spam64[results.HostPrefix(ip, 64)] = true
		}
	}
	clear(votes)

	// Pass 2 over the attempts: totals, IPv4 spammers, SYN histogram.
	var from, to time.Time
	see := func(t time.Time) {
		if from.IsZero() || t.Before(from) {
			from = t
		}
		if t.After(to) {
			to = t
		}
	}
	// Spammer attempts per minute (the bucket is chosen at the end).
	perMin := map[int64]*[3]int{}
	count := func(t time.Time, series int) {
		m := t.Unix() / 60
		c := perMin[m]
		if c == nil {
			c = new([3]int)
			perMin[m] = c
		}
		c[series]++
	}
	synHist := map[string][]int{}
	blocked4 := map[netip.Addr]bool{}
	st, err := results.Scan(src, record.AttemptsFile, func(f io.Reader) (record.Stats, error) {
		return record.ScanAttempts(f, cfg.Window, func(a *record.Attempt) error {
			see(a.FirstSeen)
			r.Summary.SYNs += a.SYNs
			if a.Family == record.IPv4 {
				r.Summary.Attempts4++
				if a.Blocklisted {
					r.Summary.Blocklisted4++
					blocked4[a.Src] = true
					count(a.FirstSeen, 0)
				}
			} else {
				r.Summary.Attempts6++
			}
			row := osRow(a.OSClass)
			h := synHist[row]
			if h == nil {
				h = make([]int, MaxSYNs)
				synHist[row] = h
			}
			h[min(max(a.SYNs, 1), MaxSYNs)-1]++
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	addStats(st, false)
	r.Summary.BlocklistedAddrs4 = len(blocked4)

	// Pass 3 over the associations: everything IPv6.
	hosts := map[netip.Addr]*hostAgg{}
	p64 := map[netip.Prefix]*prefixAgg{}
	p48 := map[netip.Prefix]*prefixAgg{}
	portDist := map[string]*[65536]int{} // OS class -> histogram of distances
	families := map[string]int{}
	var scores [record.NumScoreBins]int
	assocN := 0
	st, err = results.Scan(src, record.AssociationsFile, func(f io.Reader) (record.Stats, error) {
		return record.ScanAssociations(f, cfg.Window, func(a *record.Association) error {
			see(a.FirstSeen)
			pfx64 := results.HostPrefix(a.Src, 64)
			spammerSource := spamHosts[a.Src] || spam64[pfx64]
			if a.Associated() {
				r.Summary.Associated6++
			}
			pa := p64[pfx64]
			if pa == nil {
				pa = &prefixAgg{}
				p64[pfx64] = pa
			}
			pa.add(a.Src, a.FirstSeen, a.Associated(), a.Spammer)
			if a.Associated() && !a.IPv4.AddressOnly() {
				assocN++
				row := osRow(a.OSClass)
				d := int(a.SrcPort) - int(a.IPv4.SrcPort)
				if d < 0 {
					d = -d
				}
				h := portDist[row]
				if h == nil {
					h = new([65536]int)
					portDist[row] = h
				}
				h[d]++
				seen := map[string]bool{}
				for _, ev := range a.Evidence {
					f := associate.EvidenceFamily(ev)
					if !seen[f] {
						seen[f] = true
						families[f]++
					}
				}
				scores[record.ScoreBin(a.Score)]++
			} else if a.Associated() {
				r.Evidence.AddressOnly++
			}
			if a.Spammer && !spamHosts[a.Src] {
				r.Summary.SpamDiscounted++
			}
			if !spammerSource {
				return nil
			}
			h := hosts[a.Src]
			if h == nil {
				h = &hostAgg{os: map[string]int{}, kind: a.AddrType}
				hosts[a.Src] = h
			}
			h.os[osRow(a.OSClass)]++
			if a.Spammer && spamHosts[a.Src] {
				h.assoc++
				count(a.FirstSeen, 1)
			} else {
				h.unasc++
				count(a.FirstSeen, 2)
			}
			pb := results.HostPrefix(a.Src, 48)
			pp := p48[pb]
			if pp == nil {
				pp = &prefixAgg{}
				p48[pb] = pp
			}
			pp.add(a.Src, a.FirstSeen, a.Associated(), a.Spammer)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	addStats(st, true)
	r.Period = Period{From: from.UTC(), To: to.UTC()}
	r.Summary.AssociatedPct = pct(r.Summary.Associated6, r.Summary.Attempts6)
	r.Summary.BlocklistedSharePct = pct(r.Summary.Blocklisted4, r.Summary.Attempts4)

	// The talk's two tables.
	osRows := map[string]*SpammerRow{}
	addrRows := map[string]*SpammerRow{}
	for _, n := range osOrder {
		osRows[n] = &SpammerRow{Name: n}
	}
	for _, n := range addrOrder {
		addrRows[n] = &SpammerRow{Name: n}
	}
	var hostsA, hostsU, attA, attU int
	for _, h := range hosts {
		o := majority(h.os)
		k := addrRow(h.kind)
		for _, row := range []*SpammerRow{osRows[o], addrRows[k]} {
			if h.assoc > 0 {
				row.HostsAssoc++
			} else {
				row.HostsUnasc++
			}
			row.AttemptsAssoc += h.assoc
			row.AttemptsUnasc += h.unasc
		}
		if h.assoc > 0 {
			hostsA++
		} else {
			hostsU++
		}
		attA += h.assoc
		attU += h.unasc
	}
	fill := func(order []string, rows map[string]*SpammerRow) []SpammerRow {
		var out []SpammerRow
		for _, n := range order {
			row := rows[n]
			row.HostsAssocPct = pct(row.HostsAssoc, hostsA+hostsU)
			row.HostsUnascPct = pct(row.HostsUnasc, hostsA+hostsU)
			row.AttemptsAssocPct = pct(row.AttemptsAssoc, attA+attU)
			row.AttemptsUnascPct = pct(row.AttemptsUnasc, attA+attU)
			out = append(out, *row)
		}
		return out
	}
	r.OS = fill(osOrder, osRows)
	r.AddrTypes = fill(addrOrder, addrRows)
	r.Summary.SpamHostsAssoc, r.Summary.SpamHostsUnasc = hostsA, hostsU
	r.Summary.SpamAttemptsAssoc, r.Summary.SpamAttemptsUnasc = attA, attU
	r.Summary.Spam64s = len(spam64)
	r.Summary.SpamSharePct = pct(attA+attU, r.Summary.Attempts6)

	// Over time.
	r.OverTime = overTime(cfg.Bucket, from, to, perMin)

	// SYNs per attempt.
	for _, n := range osOrder {
		if h := synHist[n]; h != nil {
			row := SYNRow{OSClass: n, Counts: h}
			for _, c := range h {
				row.Total += c
			}
			r.SYNs = append(r.SYNs, row)
		}
	}

	// Port distance CDF.
	for _, n := range osOrder {
		h := portDist[n]
		if h == nil {
			continue
		}
		total := 0
		for _, c := range h {
			total += c
		}
		row := PortCDFRow{OSClass: n, Pairs: total, Median: -1}
		cum, next := 0, 0
		for d, c := range h {
			cum += c
			if row.Median < 0 && 2*cum >= total {
				row.Median = d
			}
			for next < len(PortDistances) && PortDistances[next] == d {
				row.CDF = append(row.CDF, math.Round(10000*float64(cum)/float64(total))/10000)
				next++
			}
		}
		r.PortCDF = append(r.PortCDF, row)
	}

	// Busiest /64s (all IPv6 attempts), spammer /48s and ASNs.
	r.Busy64s = topPrefixes(p64, cfg.Top, cfg.ASN)
	r.Spam48s = topPrefixes(p48, cfg.Top, cfg.ASN)
	if cfg.ASN != nil {
		r.SpamASNs = spamASNs(hosts, cfg.ASN, cfg.Top)
	}

	// Evidence.
	r.Evidence.Associations = assocN
	for _, f := range associate.Families {
		r.Evidence.Families = append(r.Evidence.Families, FamilyCount{Family: f, Count: families[f], Pct: pct(families[f], assocN)})
	}
	lowest := record.ScoreBin(0.5)
	for i, c := range scores[:lowest] {
		if c > 0 {
			lowest = i
			break
		}
	}
	for i := lowest; i < len(scores); i++ {
		r.Evidence.Scores = append(r.Evidence.Scores, ScoreBin{From: record.ScoreEdges[i], To: record.ScoreEdges[i+1], Count: scores[i]})
	}
	if cfg.Compare != "" {
		c, err := compare(src, results.Dir(cfg.Compare), cfg.Window)
		if err != nil {
			return nil, err
		}
		r.Comparison = c
	}
	if fs, ok := src.(FleetSource); ok {
		ids, err := fs.Sensors()
		if err != nil {
			return nil, err
		}
		if len(ids) > 1 {
			if r.Fleet, err = buildFleet(fs, ids, cfg, spam64); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// majority returns the most frequent key (ties: first in osOrder).
func majority(m map[string]int) string {
	best, n := "other", -1
	for _, k := range osOrder {
		if m[k] > n {
			best, n = k, m[k]
		}
	}
	return best
}

func topPrefixes(m map[netip.Prefix]*prefixAgg, top int, asn ASNLookup) []PrefixRow {
	rows := make([]PrefixRow, 0, len(m))
	for p, a := range m {
		rows = append(rows, a.row(p))
	}
	slices.SortFunc(rows, func(a, b PrefixRow) int {
		if c := cmp.Compare(b.Attempts, a.Attempts); c != 0 {
			return c
		}
		return a.Prefix.Addr().Compare(b.Prefix.Addr())
	})
	if len(rows) > top {
		rows = rows[:top]
	}
	if asn != nil {
		for i := range rows {
			rows[i].ASN, rows[i].ASName, _ = asn(rows[i].Prefix.Addr())
		}
	}
	return rows
}

func spamASNs(hosts map[netip.Addr]*hostAgg, asn ASNLookup, top int) []ASNRow {
	by := map[uint32]*ASNRow{}
	for ip, h := range hosts {
		n, name, ok := asn(ip)
		if !ok {
			continue
		}
		row := by[n]
		if row == nil {
			row = &ASNRow{ASN: n, Name: name}
			by[n] = row
		}
		row.Hosts++
		row.Attempts += h.assoc + h.unasc
	}
	rows := make([]ASNRow, 0, len(by))
	for _, r := range by {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b ASNRow) int {
		if c := cmp.Compare(b.Attempts, a.Attempts); c != 0 {
			return c
		}
		return cmp.Compare(a.ASN, b.ASN)
	})
	if len(rows) > top {
		rows = rows[:top]
	}
	return rows
}

// autoBucketSizes are the bucket widths picked when none is given.
var autoBucketSizes = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// autoBuckets is the most points an automatic bucket gives.
const autoBuckets = 100

// maxBuckets bounds the over-time series; a finer bucket is coarsened.
const maxBuckets = 2000

func overTime(bucket time.Duration, from, to time.Time, perMin map[int64]*[3]int) OverTime {
	if bucket <= 0 {
		// The finest of these that gives at most autoBuckets points.
		for _, b := range autoBucketSizes {
			bucket = b
			if to.Sub(from)/b < autoBuckets {
				break
			}
		}
	}
	bucket = max(bucket.Truncate(time.Minute), time.Minute)
	for to.Sub(from)/bucket >= maxBuckets {
		bucket *= 2
	}
	ot := OverTime{Bucket: bucket.String()}
	if from.IsZero() {
		return ot
	}
	start := from.UTC().Truncate(bucket)
	n := int(to.Sub(start)/bucket) + 1
	ot.Buckets = make([]TimePoint, n)
	for i := range ot.Buckets {
		ot.Buckets[i].Start = start.Add(time.Duration(i) * bucket)
	}
	for m, c := range perMin {
		i := min(max(int(time.Unix(m*60, 0).Sub(start)/bucket), 0), n-1)
		ot.Buckets[i].IPv4 += c[0]
		ot.Buckets[i].IPv6Assoc += c[1]
		ot.Buckets[i].IPv6Unasc += c[2]
	}
	return ot
}

// attemptKey identifies an IPv6 attempt across two runs.
type attemptKey struct {
	src  netip.Addr
	port uint16
	ns   int64
}

type v4Key struct {
	src  netip.Addr
	port uint16
	ns   int64
}

func keyOf(a *record.Association) (attemptKey, v4Key, bool) {
	k := attemptKey{a.Src, a.SrcPort, a.FirstSeen.UnixNano()}
	if !a.Associated() || a.IPv4.AddressOnly() {
		return k, v4Key{}, false
	}
	return k, v4Key{a.IPv4.Src, a.IPv4.SrcPort, a.IPv4.FirstSeen.UnixNano()}, true
}

// compare sets the associations of src beside those of other.
func compare(src, other results.Source, w record.Window) (*Comparison, error) {
	type dec struct {
		v4      v4Key
		ok      bool
		spammer bool
	}
	load := func(d results.Source) (map[attemptKey]dec, map[netip.Addr]bool, error) {
		m := map[attemptKey]dec{}
		spam := map[netip.Addr]bool{}
		_, err := results.Scan(d, record.AssociationsFile, func(f io.Reader) (record.Stats, error) {
			return record.ScanAssociations(f, w, func(a *record.Association) error {
				k, v, ok := keyOf(a)
				m[k] = dec{v, ok, a.Spammer}
				if a.Spammer {
					spam[a.Src] = true
				}
				return nil
			})
		})
		return m, spam, err
	}
	this, thisSpam, err := load(src)
	if err != nil {
		return nil, err
	}
	that, thatSpam, err := load(other)
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	c := &Comparison{Other: other.String(), Attempts6: len(this), ThisSpamHosts: len(thisSpam), OtherSpamHosts: len(thatSpam)}
	for k, d := range this {
		o, in := that[k]
		if d.ok {
			c.ThisAssociated++
		}
		if d.spammer {
			c.ThisSpammer++
		}
		if in && d.spammer == o.spammer {
			c.SpammerAgreement++
		}
		switch {
		case d.ok && in && o.ok && d.v4 == o.v4:
			c.SameIPv4++
		case d.ok && in && o.ok:
			c.DifferentIPv4++
		case d.ok:
			c.OnlyThis++
		case in && o.ok:
			c.OnlyOther++
		}
	}
	for k, o := range that {
		if o.ok {
			c.OtherAssociated++
		}
		if o.spammer {
			c.OtherSpammer++
		}
		if _, in := this[k]; !in && o.ok {
			c.OnlyOther++
		}
	}
	return c, nil
}

// osLabel is how an OS class is printed.
func osLabel(c string) string {
	if c == "Mac OS X" {
		return "macOS"
	}
	return c
}
