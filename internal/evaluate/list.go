package evaluate

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/rejectlog"
)

// ListResult scores an IPv6 blocklist against the truth. The positives
// are the IPv6 sources of spammer hosts with a DNSBL-listed IPv4 that made
// an IPv6 attempt in the scenario. Scored against reject logs, only the
// hosts whose IPv4 one of the logs lists are positives: a listed host no
// domain of the fleet rejected is not knowable to its sensors.
type ListResult struct {
	// Rejected is the count of IPv4 addresses of the reject logs the
	// positives were restricted to (0: not restricted).
	Rejected int `json:",omitempty"`
	Listed   int // prefixes in the list
	// TruePrefixes hold at least one positive source; the others
	// (FalsePrefixes) hold none.
	TruePrefixes, FalsePrefixes int
	Positives                   int // positive IPv6 sources
	Covered                     int // of those, inside a listed prefix
	// Collateral counts the IPv6 sources of other hosts inside a listed
	// prefix (a legitimate MTA sharing a spammer's /64).
	Collateral            int
	Precision, Recall, F1 float64
}

// ScoreList scores the list l against t. A non-nil rejected (the IPv4
// addresses the fleet's reject logs list) keeps as positives only the
// spammer hosts with one of them.
func ScoreList(t *Truth, l *blocklist.List, rejected map[netip.Addr]bool) ListResult {
	r := ListResult{Rejected: len(rejected)}
	known := func(h int) bool {
		if !t.hostSpammer[h] {
			return false
		}
		if rejected == nil {
			return true
		}
		for _, a := range t.hostIPv4[h] {
			if rejected[a] {
				return true
			}
		}
		return false
	}
	srcs := map[netip.Addr]bool{} // source -> positive
	for k, ta := range t.v6 {
		srcs[k.src] = srcs[k.src] || known(ta.host)
	}
	for _, p := range srcs {
		if p {
			r.Positives++
		}
	}
	covered := map[netip.Addr]bool{}
	for _, e := range l.Entries {
		r.Listed++
		hit := false
		for a, pos := range srcs {
			if !e.Prefix.Contains(a) {
				continue
			}
			if pos {
				hit = true
				covered[a] = true
			} else {
				r.Collateral++
			}
		}
		if hit {
			r.TruePrefixes++
		} else {
			r.FalsePrefixes++
		}
	}
	r.Covered = len(covered)
	r.Precision, r.Recall = ratio(r.TruePrefixes, r.Listed), ratio(r.Covered, r.Positives)
	if r.Precision+r.Recall > 0 {
		r.F1 = 2 * r.Precision * r.Recall / (r.Precision + r.Recall)
	}
	return r
}

// ScoreListFiles reads a truth.jsonl and a list (plain or JSON lines, as
// `mxsensor blocklist` writes them) and scores the list; with reject logs
// (files or directories, as analyze's --reject-log), against the hosts
// they reject only, read with opts (the operator's patterns).
func ScoreListFiles(truthPath, listPath string, rejectLogs []string, opts rejectlog.Options) (ListResult, error) {
	var rejected map[netip.Addr]bool
	if len(rejectLogs) > 0 {
		rejected = map[netip.Addr]bool{}
		// Only the addresses count: the year of a timestamp does not.
		_, err := rejectlog.ScanArgs(context.Background(), rejectLogs, opts, nil,
			func(rj rejectlog.Rejection) error {
				rejected[rj.IP] = true
				return nil
			})
		if err != nil {
			return ListResult{}, err
		}
	}
	tf, err := os.Open(truthPath)
	if err != nil {
		return ListResult{}, err
	}
	defer tf.Close()
	t, err := ReadTruth(tf)
	if err != nil {
		return ListResult{}, fmt.Errorf("%s: %w", truthPath, err)
	}
	lf, err := os.Open(listPath)
	if err != nil {
		return ListResult{}, err
	}
	defer lf.Close()
	l, err := blocklist.ReadList(lf)
	if err != nil {
		return ListResult{}, fmt.Errorf("%s: %w", listPath, err)
	}
	if l.Stats.Bad > 0 {
		return ListResult{}, fmt.Errorf("%s: %d lines that are not prefixes (%s)", listPath, l.Stats.Bad, l.Stats.FirstBad)
	}
	return ScoreList(t, l, rejected), nil
}

// WriteText writes the list's scores as one line.
func (r ListResult) WriteText(w io.Writer) error {
	of := "spammer IPv6 sources"
	if r.Rejected > 0 {
		of = fmt.Sprintf("spammer IPv6 sources of hosts the reject logs list (%d IPv4 addresses)", r.Rejected)
	}
	_, err := fmt.Fprintf(w, "list: %d prefixes (%d true, %d false), %d of %d %s covered, %d other sources covered; precision %.4f  recall %.4f  F1 %.4f\n",
		r.Listed, r.TruePrefixes, r.FalsePrefixes, r.Covered, r.Positives, of, r.Collateral, r.Precision, r.Recall, r.F1)
	return err
}
