package evaluate

import (
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// ListResult scores an IPv6 blocklist against the truth. The positives
// are the IPv6 sources of spammer hosts with a DNSBL-listed IPv4 (what a
// sensor, or a network of sensors, can know) that made an IPv6 attempt in
// the scenario.
type ListResult struct {
	Listed int // prefixes in the list
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

// ScoreList scores the list l against t.
func ScoreList(t *Truth, l *blocklist.List) ListResult {
	var r ListResult
	srcs := map[netip.Addr]bool{} // source -> positive
	for k, ta := range t.v6 {
		srcs[k.src] = srcs[k.src] || t.hostSpammer[ta.host]
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
// `mxsensor blocklist` writes them) and scores the list.
func ScoreListFiles(truthPath, listPath string) (ListResult, error) {
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
	return ScoreList(t, l), nil
}

// WriteText writes the list's scores as one line.
func (r ListResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "list: %d prefixes (%d true, %d false), %d of %d spammer IPv6 sources covered, %d other sources covered; precision %.4f  recall %.4f  F1 %.4f\n",
		r.Listed, r.TruePrefixes, r.FalsePrefixes, r.Covered, r.Positives, r.Collateral, r.Precision, r.Recall, r.F1)
	return err
}
