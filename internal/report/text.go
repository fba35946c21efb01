package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Formats lists the output formats.
var Formats = []string{"text", "json", "csv", "html"}

// Write renders r in format to w.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "text", "":
		return WriteText(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return WriteCSV(w, r, "")
	case "html":
		return WriteHTML(w, r)
	}
	return fmt.Errorf("unknown report format %q (want %s)", format, strings.Join(Formats, ", "))
}

// table is a titled grid of cells: the one shape text and CSV share.
type table struct {
	name   string // CSV section / --table name
	title  string
	header []string
	rows   [][]string
	note   string
}

func itoa(n int) string { return strconv.Itoa(n) }

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

func countPct(n int, p float64) string { return fmt.Sprintf("%d (%s%%)", n, f1(p)) }

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// tables lays the report out as tables, in report order.
func tables(r *Report) []table {
	s := r.Summary
	var out []table
	out = append(out, table{name: "summary", title: "Summary", header: []string{"measure", "value"}, rows: [][]string{
		{"period", ts(r.Period.From) + " .. " + ts(r.Period.To)},
		{"SYNs", itoa(s.SYNs)},
		{"IPv4 connect() attempts", itoa(s.Attempts4)},
		{"  from DNSBL-listed addresses", countPct(s.Blocklisted4, s.BlocklistedSharePct)},
		{"  listed IPv4 addresses", itoa(s.BlocklistedAddrs4)},
		{"IPv6 connect() attempts", itoa(s.Attempts6)},
		{"  associated with IPv4", countPct(s.Associated6, s.AssociatedPct)},
		{"  from spammers (associated + unassociated)", countPct(s.SpamAttemptsAssoc+s.SpamAttemptsUnasc, s.SpamSharePct)},
		{"  discounted (outvoted by the host's other associations)", itoa(s.SpamDiscounted)},
		{"IPv6 spammer hosts (associated / unassociated)", itoa(s.SpamHostsAssoc) + " / " + itoa(s.SpamHostsUnasc)},
		{"IPv6 spammer /64s", itoa(s.Spam64s)},
	}})
	spam := func(name, title, first string, rows []SpammerRow) table {
		t := table{name: name, title: title, header: []string{first, "hosts assoc", "hosts unassoc", "attempts assoc", "attempts unassoc"}}
		for _, x := range rows {
			t.rows = append(t.rows, []string{osLabel(x.Name), countPct(x.HostsAssoc, x.HostsAssocPct), countPct(x.HostsUnasc, x.HostsUnascPct),
				countPct(x.AttemptsAssoc, x.AttemptsAssocPct), countPct(x.AttemptsUnasc, x.AttemptsUnascPct)})
		}
		return t
	}
	out = append(out, spam("os", "IPv6 spammer OSes", "OS", r.OS))
	out = append(out, spam("address_types", "IPv6 address types of spammers", "address type", r.AddrTypes))

	ot := table{name: "over_time", title: "connect() attempts from spammers over time (per " + bucketName(r.OverTime.Bucket) + ")",
		header: []string{"start", "IPv4 listed", "IPv6 associated", "IPv6 unassociated"}}
	for _, b := range r.OverTime.Buckets {
		ot.rows = append(ot.rows, []string{ts(b.Start), itoa(b.IPv4), itoa(b.IPv6Assoc), itoa(b.IPv6Unasc)})
	}
	out = append(out, ot)

	sy := table{name: "syns", title: "SYNs per connect() attempt, by OS", header: []string{"OS", "1", "2", "3", "4", "5", "6+", "attempts"}}
	for _, x := range r.SYNs {
		row := []string{osLabel(x.OSClass)}
		for _, c := range x.Counts {
			row = append(row, itoa(c))
		}
		sy.rows = append(sy.rows, append(row, itoa(x.Total)))
	}
	out = append(out, sy)

	pc := table{name: "port_cdf", title: "TCP source-port distance between associated IPv4/IPv6 attempts (CDF), by OS",
		header: []string{"OS", "pairs", "median"}}
	for _, d := range PortDistances {
		pc.header = append(pc.header, "<="+itoa(d))
	}
	for _, x := range r.PortCDF {
		row := []string{osLabel(x.OSClass), itoa(x.Pairs), itoa(x.Median)}
		for _, c := range x.CDF {
			row = append(row, strconv.FormatFloat(c, 'f', 3, 64))
		}
		pc.rows = append(pc.rows, row)
	}
	out = append(out, pc)

	prefixes := func(name, title string, rows []PrefixRow, mark bool) table {
		t := table{name: name, title: title, header: []string{"prefix", "addresses", "attempts", "per hour", "associated", "spammer", "first", "last", "AS"}}
		if mark {
			t.header = append(t.header, "misbehaving")
		}
		for _, x := range rows {
			as := "-"
			if x.ASN != 0 {
				as = "AS" + strconv.FormatUint(uint64(x.ASN), 10)
				if x.ASName != "" {
					as += " " + x.ASName
				}
			}
			row := []string{x.Prefix.String(), itoa(x.Addresses), itoa(x.Attempts), f1(x.PerHour), countPct(x.Associated, x.AssociatedPct),
				itoa(x.Spammer), ts(x.First), ts(x.Last), as}
			if mark {
				row = append(row, map[bool]string{true: "yes", false: "no"}[x.Misbehaving])
			}
			t.rows = append(t.rows, row)
		}
		return t
	}
	out = append(out, prefixes("busy_64s", "Busiest IPv6 /64s (misbehaving MTAs: many attempts, few IPv4 ones)", r.Busy64s, true))
	out = append(out, prefixes("spammer_48s", "Top /48s of IPv6 spammers", r.Spam48s, false))

	as := table{name: "spammer_asns", title: "Top origin ASes of IPv6 spammers", header: []string{"AS", "name", "hosts", "attempts"}}
	for _, x := range r.SpamASNs {
		as.rows = append(as.rows, []string{"AS" + strconv.FormatUint(uint64(x.ASN), 10), x.Name, itoa(x.Hosts), itoa(x.Attempts)})
	}
	if len(r.SpamASNs) == 0 {
		as.note = "no origin AS data (give --asn-table)"
	}
	out = append(out, as)

	ev := table{name: "evidence", title: fmt.Sprintf("Association evidence (%d associations with an IPv4 attempt, %d with an address only)",
		r.Evidence.Associations, r.Evidence.AddressOnly), header: []string{"family", "associations"}}
	for _, f := range r.Evidence.Families {
		ev.rows = append(ev.rows, []string{f.Family, countPct(f.Count, f.Pct)})
	}
	out = append(out, ev)
	sc := table{name: "scores", title: "Association scores", header: []string{"score", "associations"}}
	for _, b := range r.Evidence.Scores {
		sc.rows = append(sc.rows, []string{strconv.FormatFloat(b.From, 'f', 2, 64) + "-" + strconv.FormatFloat(b.To, 'f', 2, 64), itoa(b.Count)})
	}
	out = append(out, sc)

	if c := r.Comparison; c != nil {
		out = append(out, table{name: "comparison", title: "Comparison with " + c.Other, header: []string{"measure", "this run", "other run"}, rows: [][]string{
			{"IPv6 attempts associated with an IPv4 attempt", itoa(c.ThisAssociated), itoa(c.OtherAssociated)},
			{"IPv6 spammer attempts", itoa(c.ThisSpammer), itoa(c.OtherSpammer)},
			{"IPv6 spammer hosts", itoa(c.ThisSpamHosts), itoa(c.OtherSpamHosts)},
			{"both associated, same IPv4 attempt", itoa(c.SameIPv4), ""},
			{"both associated, different IPv4 attempts", itoa(c.DifferentIPv4), ""},
			{"associated by one run only", itoa(c.OnlyThis), itoa(c.OnlyOther)},
			{"same spammer label", itoa(c.SpammerAgreement), ""},
		}})
	}
	if r.Fleet != nil {
		out = append(out, fleetTables(r.Fleet)...)
	}
	return out
}

// bucketName says a bucket width in words: "5 minutes", "hour", "day".
func bucketName(d string) string {
	b, err := time.ParseDuration(d)
	if err != nil {
		return d
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{7 * 24 * time.Hour, "week"}, {24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}} {
		if b%u.d == 0 {
			if n := b / u.d; n > 1 {
				return strconv.Itoa(int(n)) + " " + u.name + "s"
			}
			return u.name
		}
	}
	return d
}

// WriteText writes the report as aligned text tables.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mxsensor report: %s\n", r.Input.Dir)
	if r.Input.BadLines > 0 {
		fmt.Fprintf(&b, "warning: %d bad lines skipped (%s)\n", r.Input.BadLines, r.Input.SkipDetail())
	}
	for _, t := range tables(r) {
		b.WriteString("\n" + t.title + "\n")
		writeGrid(&b, t)
		if t.note != "" {
			b.WriteString("  (" + t.note + ")\n")
		}
	}
	b.WriteString("\nDefinitions\n")
	for _, d := range r.Definitions {
		b.WriteString("  - " + d + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeGrid(b *strings.Builder, t table) {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = len(h)
	}
	for _, row := range t.rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(cells []string) {
		b.WriteString(" ")
		for i, c := range cells {
			if i == 0 {
				fmt.Fprintf(b, " %-*s", widths[i], c)
			} else {
				fmt.Fprintf(b, "  %*s", widths[i], c)
			}
		}
		b.WriteString("\n")
	}
	line(t.header)
	sep := make([]string, len(widths))
	for i, wd := range widths {
		sep[i] = strings.Repeat("-", wd)
	}
	line(sep)
	for _, row := range t.rows {
		line(row)
	}
}

// WriteCSV writes the tables as CSV: one named table when only is not
// empty, else every table, each after a "# name" line and before a blank one.
func WriteCSV(w io.Writer, r *Report, only string) error {
	found := false
	for _, t := range tables(r) {
		if only != "" && t.name != only {
			continue
		}
		found = true
		if only == "" {
			if _, err := fmt.Fprintf(w, "# %s\n", t.name); err != nil {
				return err
			}
		}
		header, rows := csvCells(t)
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		if only == "" {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("no table %q (have %s)", only, strings.Join(TableNames(r), ", "))
	}
	return nil
}

// pctCell matches the "count (percent%)" cells of the text tables.
var pctCell = regexp.MustCompile(`^(-?[0-9]+) \(([0-9.]+)%\)$`)

// csvCells adapts a table for CSV: every "N (P%)" column becomes two
// numeric columns, "name" and "name %", and labels lose their indentation.
func csvCells(t table) ([]string, [][]string) {
	split := make([]bool, len(t.header))
	for c := range t.header {
		split[c] = len(t.rows) > 0
		for _, row := range t.rows {
			if c >= len(row) || !pctCell.MatchString(row[c]) {
				split[c] = false
				break
			}
		}
	}
	var header []string
	for c, h := range t.header {
		header = append(header, h)
		if split[c] {
			header = append(header, h+" %")
		}
	}
	rows := make([][]string, len(t.rows))
	for i, row := range t.rows {
		for c, cell := range row {
			if split[c] {
				m := pctCell.FindStringSubmatch(cell)
				rows[i] = append(rows[i], m[1], m[2])
				continue
			}
			rows[i] = append(rows[i], strings.TrimSpace(cell))
		}
	}
	return header, rows
}

// TableNames lists the names of the report's tables (for --table).
func TableNames(r *Report) []string {
	var n []string
	for _, t := range tables(r) {
		n = append(n, t.name)
	}
	return n
}
