// Package evaluate scores an association run against a scenario's ground
// truth: attempt-level precision and recall of the IPv6-to-IPv4 association,
// and host-level precision, recall and F1 of the IPv6 spammer label.
package evaluate

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

// attemptKey identifies a connect() attempt: source address and port and
// the time of its first SYN.
type attemptKey struct {
	src  netip.Addr
	port uint16
	ns   int64
}

func keyOf(src netip.Addr, port uint16, firstSeen time.Time) attemptKey {
	return attemptKey{src, port, firstSeen.UnixNano()}
}

// Truth is a scenario's ground truth.
type Truth struct {
	hostSpammer map[int]bool // host -> spammer with a DNSBL-listed IPv4 (knowable at the sensor)
	hostIPv4    map[int][]netip.Addr
	v6          map[attemptKey]truthAttempt
}

type truthAttempt struct {
	host int
	pair *attemptKey
	// noIPv4: the host made no IPv4 attempt within noIPv4Window, so any
	// association is wrong and leaving it unassociated is right.
	noIPv4 bool
}

// ReadTruth reads a truth.jsonl.
func ReadTruth(r io.Reader) (*Truth, error) {
	t := &Truth{hostSpammer: map[int]bool{}, hostIPv4: map[int][]netip.Addr{}, v6: map[attemptKey]truthAttempt{}}
	v4 := map[int][]int64{} // host -> its IPv4 attempts' first SYN times
	st, err := record.ScanTruth(r, func(l *record.Truth) error {
		switch l.Type {
		case record.TruthHost:
			t.hostSpammer[l.Host] = l.Spammer && l.Listed
			t.hostIPv4[l.Host] = l.IPv4
		case record.TruthAttempt:
			if l.Family != record.IPv6 {
				v4[l.Host] = append(v4[l.Host], l.FirstSeen.UnixNano())
				return nil
			}
			ta := truthAttempt{host: l.Host}
			if p := l.Pair; p.Src.IsValid() {
				k := keyOf(p.Src, p.SrcPort, p.FirstSeen)
				ta.pair = &k
			}
			t.v6[keyOf(l.Src, l.SrcPort, l.FirstSeen)] = ta
		default:
			return fmt.Errorf("unknown truth line type %q", l.Type)
		}
		return nil
	})
	if err == nil && st.Bad > 0 {
		err = errors.New(st.FirstBad)
	}
	if err != nil {
		return nil, err
	}
	t.markNoIPv4(v4)
	return t, nil
}

// Result is the score of one run.
type Result struct {
	IPv6Attempts int // IPv6 attempts in the associations file
	Unknown      int // of those, not in the truth (counted, not scored)
	Associated   int // attempts the run associated with an IPv4 attempt
	AddressOnly  int // attempts associated with an IPv4 address only (no attempt)
	Correct      int // associated with the true IPv4 attempt
	Pairable     int // attempts the truth pairs with an IPv4 attempt
	Precision    float64
	Recall       float64
	// Address level: an association (to an attempt or to an address only)
	// is correct when its IPv4 address is the host's (or its NAT's): what
	// spammer labelling needs, and all a NAT lets anyone tell. Recall is
	// over the pairable attempts.
	AddrAssociated int
	AddrCorrect    int
	AddrFound      int // pairable attempts associated with the host's IPv4 address
	AddrPrecision  float64
	AddrRecall     float64
	HostTP         int // IPv6 hosts labelled spammer that are listed spammers
	HostFP         int
	HostFN         int
	HostPrecision  float64
	HostRecall     float64
	HostF1         float64
	// AddrWrongNoIPv4 counts the wrong address-level associations whose
	// host made no IPv4 attempt within 60 s of the IPv6 attempt (nothing to
	// associate with); NoIPv4Wrong is their share of the wrong ones.
	AddrWrongNoIPv4 int
	NoIPv4Wrong     float64
	// Reliability bins the address-level associations by score, with the
	// fraction of each bin correct; Brier is the mean of (score-correct)^2
	// over them; MaxCalibrationError is the largest |mean score - fraction
	// correct| over the CalibrationBins bins of >= 100 associations.
	// CalibrationNoise is what MaxCalibrationError a perfectly calibrated
	// score would exceed by chance one time in ten with these bins (a few
	// hundred associations in a bin leave its fraction correct uncertain
	// by several points): the part of the error that says nothing.
	Reliability         []Bin
	Brier               float64
	MaxCalibrationError float64
	CalibrationBins     int
	CalibrationNoise    float64
}

// Score compares an associations.jsonl with the truth.
func Score(t *Truth, assoc io.Reader) (Result, error) {
	var res Result
	var rel reliability
	predicted := map[int]bool{} // host -> labelled spammer (any attempt)
	seenHost := map[int]bool{}
	st, err := record.ScanAssociations(assoc, record.Window{}, func(a *record.Association) error {
		res.IPv6Attempts++
		ta, ok := t.v6[keyOf(a.Src, a.SrcPort, a.FirstSeen)]
		if !ok {
			res.Unknown++
			return nil
		}
		seenHost[ta.host] = true
		if a.Spammer {
			predicted[ta.host] = true
		}
		if ta.pair != nil {
			res.Pairable++
		}
		if !a.Associated() {
			return nil
		}
		res.AddrAssociated++
		addrOK := slices.Contains(t.hostIPv4[ta.host], a.IPv4.Src)
		rel.add(a.Score, addrOK)
		switch {
		case addrOK:
			res.AddrCorrect++
			if ta.pair != nil {
				res.AddrFound++
			}
		case ta.noIPv4:
			res.AddrWrongNoIPv4++
		}
		if a.IPv4.AddressOnly() {
			res.AddressOnly++ // associated with an address, not an attempt: host level only
			return nil
		}
		res.Associated++
		if ta.pair != nil && *ta.pair == keyOf(a.IPv4.Src, a.IPv4.SrcPort, a.IPv4.FirstSeen) {
			res.Correct++
		}
		return nil
	})
	if err == nil && st.Bad > 0 {
		err = errors.New(st.FirstBad)
	}
	if err != nil {
		return res, err
	}
	for h := range seenHost {
		switch p, s := predicted[h], t.hostSpammer[h]; {
		case p && s:
			res.HostTP++
		case p && !s:
			res.HostFP++
		case !p && s:
			res.HostFN++
		}
	}
	res.Precision = ratio(res.Correct, res.Associated)
	res.Recall = ratio(res.Correct, res.Pairable)
	res.AddrPrecision = ratio(res.AddrCorrect, res.AddrAssociated)
	res.AddrRecall = ratio(res.AddrFound, res.Pairable)
	res.NoIPv4Wrong = ratio(res.AddrWrongNoIPv4, res.AddrAssociated-res.AddrCorrect)
	rel.fill(&res)
	res.HostPrecision = ratio(res.HostTP, res.HostTP+res.HostFP)
	res.HostRecall = ratio(res.HostTP, res.HostTP+res.HostFN)
	if res.HostPrecision+res.HostRecall > 0 {
		res.HostF1 = 2 * res.HostPrecision * res.HostRecall / (res.HostPrecision + res.HostRecall)
	}
	return res, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ScoreFiles reads both files and scores them.
func ScoreFiles(truthPath, assocPath string) (Result, error) {
	tf, err := os.Open(truthPath)
	if err != nil {
		return Result{}, err
	}
	defer tf.Close()
	t, err := ReadTruth(tf)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", truthPath, err)
	}
	af, err := os.Open(assocPath)
	if err != nil {
		return Result{}, err
	}
	defer af.Close()
	r, err := Score(t, af)
	if err != nil {
		return r, fmt.Errorf("%s: %w", assocPath, err)
	}
	if r.IPv6Attempts == 0 {
		return r, errors.New("no IPv6 attempts in the associations file")
	}
	return r, nil
}

// WriteText writes the scores as `mxsensor eval` prints them: four lines
// of precision and recall, then the wrong associations without an IPv4
// attempt to find and the score's reliability table.
func (r Result) WriteText(w io.Writer) error {
	b := fmt.Appendf(nil, "attempts: %d IPv6 (%d not in the truth), %d associated, %d correct, %d pairable\n"+
		"attempt-level association: precision %.4f  recall %.4f\n"+
		"address-level association: precision %.4f  recall %.4f  (%d associated incl. %d to an address only)\n"+
		"IPv6 spammer hosts: TP %d  FP %d  FN %d  precision %.4f  recall %.4f  F1 %.4f\n",
		r.IPv6Attempts, r.Unknown, r.Associated, r.Correct, r.Pairable,
		r.Precision, r.Recall,
		r.AddrPrecision, r.AddrRecall, r.AddrAssociated, r.AddressOnly,
		r.HostTP, r.HostFP, r.HostFN, r.HostPrecision, r.HostRecall, r.HostF1)
	_, err := w.Write(r.appendReliability(b))
	return err
}
