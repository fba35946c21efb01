package record

import (
	"io"
	"net/netip"
	"strconv"
	"time"
)

// TruthFile is a generated scenario's ground truth (tools/genscenario).
const TruthFile = "truth.jsonl"

// The kinds of truth lines.
const (
	TruthHost    = "host"
	TruthAttempt = "attempt"
)

// Truth is one line of a scenario's ground truth: a host of the population
// (Type TruthHost, written first) or one of its connect() attempts (Type
// TruthAttempt, in order of first SYN). Each kind writes its own fields.
type Truth struct {
	Type string `json:"type"`
	Host int    `json:"host"`

	// Host lines.
	OS       string       `json:"os"`
	OSClass  string       `json:"os_class"`
	IPv4     []netip.Addr `json:"ipv4"` // the host's IPv4 (its NAT's, behind one)
	IPv6     []netip.Addr `json:"ipv6"`
	AddrType string       `json:"addr_type"`
	Spammer  bool         `json:"spammer"`
	Listed   bool         `json:"listed"` // its IPv4 is on a DNSBL
	NAT      bool         `json:"nat"`
	Role     string       `json:"role"`
	Software string       `json:"software"`
	Group    int          `json:"group"`
	Hops4    int          `json:"hops4"`
	Hops6    int          `json:"hops6"`

	// Attempt lines.
	Family    Family     `json:"family"`
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"sport"`
	FirstSeen time.Time  `json:"first_seen"`
	SYNs      int        `json:"syns"`
	// Pair is the attempt of the other family the same delivery made; a
	// zero Pair (Src not valid), written null, is none.
	Pair     AttemptRef `json:"pair"`
	Delivery int        `json:"delivery"`
}

// AttemptRef names a connect() attempt: source address and port and the
// time of its first SYN.
type AttemptRef struct {
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"sport"`
	FirstSeen time.Time  `json:"first_seen"`
}

// AppendJSON appends t as one JSON line (with its newline): the fields of
// its Type, in the order the generator has always written them.
func (t *Truth) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = AppendString(b, t.Type)
	b = append(b, `,"host":`...)
	b = strconv.AppendInt(b, int64(t.Host), 10)
	if t.Type == TruthHost {
		b = append(b, `,"os":`...)
		b = AppendString(b, t.OS)
		b = append(b, `,"os_class":`...)
		b = AppendString(b, t.OSClass)
		b = append(b, `,"ipv4":`...)
		b = appendAddrs(b, t.IPv4)
		b = append(b, `,"ipv6":`...)
		b = appendAddrs(b, t.IPv6)
		b = append(b, `,"addr_type":`...)
		b = AppendString(b, t.AddrType)
		b = append(b, `,"spammer":`...)
		b = strconv.AppendBool(b, t.Spammer)
		b = append(b, `,"listed":`...)
		b = strconv.AppendBool(b, t.Listed)
		b = append(b, `,"nat":`...)
		b = strconv.AppendBool(b, t.NAT)
		b = append(b, `,"role":`...)
		b = AppendString(b, t.Role)
		b = append(b, `,"software":`...)
		b = AppendString(b, t.Software)
		b = append(b, `,"group":`...)
		b = strconv.AppendInt(b, int64(t.Group), 10)
		b = append(b, `,"hops4":`...)
		b = strconv.AppendInt(b, int64(t.Hops4), 10)
		b = append(b, `,"hops6":`...)
		b = strconv.AppendInt(b, int64(t.Hops6), 10)
		return append(b, "}\n"...)
	}
	b = append(b, `,"family":"`...)
	b = append(b, t.Family.String()...)
	b = append(b, `","src":`...)
	b = appendAddr(b, t.Src)
	b = append(b, `,"sport":`...)
	b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	b = append(b, `,"first_seen":`...)
	b = AppendTime(b, t.FirstSeen)
	b = append(b, `,"syns":`...)
	b = strconv.AppendInt(b, int64(t.SYNs), 10)
	b = append(b, `,"pair":`...)
	if t.Pair.Src.IsValid() {
		b = append(b, `{"src":`...)
		b = appendAddr(b, t.Pair.Src)
		b = append(b, `,"sport":`...)
		b = strconv.AppendUint(b, uint64(t.Pair.SrcPort), 10)
		b = append(b, `,"first_seen":`...)
		b = AppendTime(b, t.Pair.FirstSeen)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"delivery":`...)
	b = strconv.AppendInt(b, int64(t.Delivery), 10)
	return append(b, "}\n"...)
}

// ScanTruth calls fn for each line of a truth file. Lines that do not
// parse are skipped and counted.
func ScanTruth(r io.Reader, fn func(*Truth) error) (Stats, error) {
	return scan(r, TruthFile, Window{}, nil, fn)
}
