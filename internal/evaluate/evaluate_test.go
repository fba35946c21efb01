package evaluate

import (
	"strings"
	"testing"
)

const truth = `{"type":"host","host":1,"spammer":true,"listed":true,"ipv4":["192.0.2.1"]}
{"type":"host","host":2,"spammer":false,"listed":false,"ipv4":["192.0.2.2"]}
{"type":"host","host":3,"spammer":true,"listed":true}
{"type":"attempt","host":1,"family":"ipv6","src":"2001:db8::1","sport":1000,"first_seen":"2026-11-26T10:00:00Z","pair":{"src":"192.0.2.1","sport":2000,"first_seen":"2026-11-26T10:00:00.002Z"}}
{"type":"attempt","host":1,"family":"ipv4","src":"192.0.2.1","sport":2000,"first_seen":"2026-11-26T10:00:00.002Z","pair":{"src":"2001:db8::1","sport":1000,"first_seen":"2026-11-26T10:00:00Z"}}
{"type":"attempt","host":2,"family":"ipv6","src":"2001:db8::2","sport":1001,"first_seen":"2026-11-26T10:00:01Z","pair":{"src":"192.0.2.2","sport":2001,"first_seen":"2026-11-26T10:00:01.001Z"}}
{"type":"attempt","host":3,"family":"ipv6","src":"2001:db8::3","sport":1002,"first_seen":"2026-11-26T10:00:02Z","pair":null}
`

func TestScore(t *testing.T) {
	tr, err := ReadTruth(strings.NewReader(truth))
	if err != nil {
		t.Fatal(err)
	}
	// Host 1: correct association, spammer. Host 2: associated with the wrong
	// IPv4 attempt and wrongly labelled. Host 3: IPv6 only, unassociated, missed.
	assoc := `{"src":"2001:db8::1","sport":1000,"first_seen":"2026-11-26T10:00:00Z","ipv4":{"src":"192.0.2.1","sport":2000,"first_seen":"2026-11-26T10:00:00.002Z"},"spammer":true}
{"src":"2001:db8::2","sport":1001,"first_seen":"2026-11-26T10:00:01Z","ipv4":{"src":"192.0.2.1","sport":2000,"first_seen":"2026-11-26T10:00:00.002Z"},"spammer":true}
{"src":"2001:db8::3","sport":1002,"first_seen":"2026-11-26T10:00:02Z","ipv4":null,"spammer":false}
{"src":"2001:db8::9","sport":9,"first_seen":"2026-11-26T10:00:09Z","ipv4":null,"spammer":false}
`
	r, err := Score(tr, strings.NewReader(assoc))
	if err != nil {
		t.Fatal(err)
	}
	if r.IPv6Attempts != 4 || r.Unknown != 1 || r.Associated != 2 || r.Correct != 1 || r.Pairable != 2 {
		t.Errorf("counts %+v", r)
	}
	if r.Precision != 0.5 || r.Recall != 0.5 {
		t.Errorf("attempt precision %v recall %v", r.Precision, r.Recall)
	}
	if r.HostTP != 1 || r.HostFP != 1 || r.HostFN != 1 || r.HostF1 != 0.5 {
		t.Errorf("hosts %+v", r)
	}
	if r.AddrAssociated != 2 || r.AddrCorrect != 1 || r.AddrFound != 1 {
		t.Errorf("address level %+v", r)
	}
}

// An association to the right IPv4 address without an attempt (hosts behind
// one NAT) counts at the address level only.
func TestScoreAddressOnly(t *testing.T) {
	tr, err := ReadTruth(strings.NewReader(truth))
	if err != nil {
		t.Fatal(err)
	}
	assoc := `{"src":"2001:db8::1","sport":1000,"first_seen":"2026-11-26T10:00:00Z","ipv4":{"src":"192.0.2.1","sport":0,"first_seen":null},"spammer":true}
{"src":"2001:db8::2","sport":1001,"first_seen":"2026-11-26T10:00:01Z","ipv4":{"src":"192.0.2.7","sport":0,"first_seen":null},"spammer":false}
`
	r, err := Score(tr, strings.NewReader(assoc))
	if err != nil {
		t.Fatal(err)
	}
	if r.Associated != 0 || r.AddressOnly != 2 || r.AddrAssociated != 2 || r.AddrCorrect != 1 || r.AddrFound != 1 || r.AddrPrecision != 0.5 || r.AddrRecall != 0.5 {
		t.Errorf("%+v", r)
	}
}

func TestReadTruthErrors(t *testing.T) {
	for _, s := range []string{"{", `{"type":"bogus"}`} {
		if _, err := ReadTruth(strings.NewReader(s)); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
}

func TestResultText(t *testing.T) {
	r := Result{IPv6Attempts: 4, Unknown: 1, Associated: 2, AddressOnly: 1, Correct: 1, Pairable: 2, Precision: 0.5, Recall: 1.0 / 3,
		AddrAssociated: 2, AddrPrecision: 1, AddrRecall: 0.25, HostTP: 1, HostFP: 2, HostFN: 3, HostPrecision: 1.0 / 3, HostRecall: 0.25, HostF1: 2.0 / 7,
		AddrCorrect: 1, AddrWrongNoIPv4: 1, NoIPv4Wrong: 1, Brier: 0.125, MaxCalibrationError: 0.05, CalibrationBins: 1, CalibrationNoise: 0.0365}
	edges := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1}
	r.Reliability = make([]Bin, 12)
	for i := range r.Reliability {
		r.Reliability[i] = Bin{Lo: edges[i], Hi: edges[i+1]}
	}
	r.Reliability[0] = Bin{Lo: 0, Hi: 0.1, Count: 3, MeanScore: 0.05, Correct: 1.0 / 3}
	r.Reliability[10] = Bin{Lo: 0.95, Hi: 0.99, Count: 100, MeanScore: 0.97, Correct: 0.92}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `attempts: 4 IPv6 (1 not in the truth), 2 associated, 1 correct, 2 pairable
attempt-level association: precision 0.5000  recall 0.3333
address-level association: precision 1.0000  recall 0.2500  (2 associated incl. 1 to an address only)
IPv6 spammer hosts: TP 1  FP 2  FN 3  precision 0.3333  recall 0.2500  F1 0.2857
wrong associations with no IPv4 attempt of the host within 60 s: 1 of 1 (1.0000)
score reliability (address level): Brier 0.1250  max calibration error 0.0500 over 1 bins with >= 100 associations
  (chance alone: a perfectly calibrated score would show more than 0.0365 one time in ten with these bins)
  score           count mean score  correct
  [0.00,0.10)         3     0.0500   0.3333
  [0.10,0.20)         0          -        -
  [0.20,0.30)         0          -        -
  [0.30,0.40)         0          -        -
  [0.40,0.50)         0          -        -
  [0.50,0.60)         0          -        -
  [0.60,0.70)         0          -        -
  [0.70,0.80)         0          -        -
  [0.80,0.90)         0          -        -
  [0.90,0.95)         0          -        -
  [0.95,0.99)       100     0.9700   0.9200
  [0.99,1.00]         0          -        -
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
