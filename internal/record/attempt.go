package record

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// File names of a measurement's results directory.
const (
	AttemptsFile     = "attempts.jsonl"
	AssociationsFile = "associations.jsonl"
)

// Family is an address family, written "ipv4" or "ipv6".
type Family uint8

// The families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return "family" + strconv.Itoa(int(f))
}

// MarshalText implements encoding.TextMarshaler.
func (f Family) MarshalText() ([]byte, error) {
	if f != IPv4 && f != IPv6 {
		return nil, fmt.Errorf("invalid family %d", f)
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Family) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipv4":
		*f = IPv4
	case "ipv6":
		*f = IPv6
	default:
		return fmt.Errorf("invalid family %q (want ipv4 or ipv6)", b)
	}
	return nil
}

// Attempt is one connect() attempt: a line of attempts.jsonl.
type Attempt struct {
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	Family    Family     `json:"family"`
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"sport"`
	Dst       netip.Addr `json:"dst"`
	DstPort   uint16     `json:"dport"`
	SYNs      int        `json:"syns"`
	OS        string     `json:"os"`
	OSClass   string     `json:"os_class"`
	Dist      int        `json:"dist"`
	RawSig    string     `json:"raw_sig"`
	// AddrType is the IPv6 source's address kind (IPv6 only).
	AddrType string `json:"addr_type"`
	// Blocklisted: the IPv4 source was rejected by the production MTA's
	// DNSBLs within the spam window (IPv4 only).
	Blocklisted bool `json:"blocklisted"`
}

// AppendJSON appends a as one JSON line (with its newline).
func (a *Attempt) AppendJSON(b []byte) []byte {
	b = append(b, `{"first_seen":`...)
	b = AppendTime(b, a.FirstSeen)
	b = append(b, `,"last_seen":`...)
	b = AppendTime(b, a.LastSeen)
	b = append(b, `,"family":"ipv`...)
	b = strconv.AppendInt(b, int64(a.Family), 10)
	b = append(b, `","src":"`...)
	b = a.Src.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(a.SrcPort), 10)
	b = append(b, `,"dst":"`...)
	b = a.Dst.AppendTo(b)
	b = append(b, `","dport":`...)
	b = strconv.AppendUint(b, uint64(a.DstPort), 10)
	b = append(b, `,"syns":`...)
	b = strconv.AppendInt(b, int64(a.SYNs), 10)
	b = append(b, `,"os":`...)
	b = AppendString(b, a.OS)
	b = append(b, `,"os_class":`...)
	b = AppendString(b, a.OSClass)
	b = append(b, `,"dist":`...)
	b = strconv.AppendInt(b, int64(a.Dist), 10)
	b = append(b, `,"raw_sig":`...)
	b = AppendString(b, a.RawSig)
	if a.Family == IPv6 {
		b = append(b, `,"addr_type":`...)
		b = AppendString(b, a.AddrType)
	} else {
		b = append(b, `,"blocklisted":`...)
		b = strconv.AppendBool(b, a.Blocklisted)
	}
	return append(b, "}\n"...)
}

// IPv4Ref is the IPv4 side of an association: an attempt, or an address
// only (SrcPort and FirstSeen zero, written null). A zero IPv4Ref (Src not
// valid) is no association, written null.
type IPv4Ref struct {
	Src         netip.Addr `json:"src"`
	SrcPort     uint16     `json:"sport"`
	FirstSeen   time.Time  `json:"first_seen"`
	Blocklisted bool       `json:"blocklisted"`
}

// AddressOnly reports an association with an IPv4 address but no attempt.
func (r *IPv4Ref) AddressOnly() bool { return r.FirstSeen.IsZero() }

// Association is the decision for one IPv6 connect() attempt: a line of
// associations.jsonl.
type Association struct {
	FirstSeen time.Time  `json:"first_seen"`
	Src       netip.Addr `json:"src"`
	SrcPort   uint16     `json:"sport"`
	SYNs      int        `json:"syns"`
	OSClass   string     `json:"os_class"`
	AddrType  string     `json:"addr_type"`
	IPv4      IPv4Ref    `json:"ipv4"`
	Score     float64    `json:"score"` // written with 4 decimals
	Evidence  []string   `json:"evidence"`
	Spammer   bool       `json:"spammer"`
}

// Associated reports whether the attempt was associated (with an attempt
// or an address).
func (a *Association) Associated() bool { return a.IPv4.Src.IsValid() }

// AppendJSON appends a as one JSON line (with its newline).
func (a *Association) AppendJSON(b []byte) []byte {
	b = append(b, `{"first_seen":`...)
	b = AppendTime(b, a.FirstSeen)
	b = append(b, `,"src":"`...)
	b = a.Src.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(a.SrcPort), 10)
	b = append(b, `,"syns":`...)
	b = strconv.AppendInt(b, int64(a.SYNs), 10)
	b = append(b, `,"os_class":`...)
	b = AppendString(b, a.OSClass)
	b = append(b, `,"addr_type":`...)
	b = AppendString(b, a.AddrType)
	b = append(b, `,"ipv4":`...)
	v4 := &a.IPv4
	switch {
	case !v4.Src.IsValid():
		b = append(b, "null"...)
	case v4.AddressOnly():
		b = append(b, `{"src":"`...)
		b = v4.Src.AppendTo(b)
		b = append(b, `","sport":null,"first_seen":null,"blocklisted":`...)
		b = strconv.AppendBool(b, v4.Blocklisted)
		b = append(b, '}')
	default:
		b = append(b, `{"src":"`...)
		b = v4.Src.AppendTo(b)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(v4.SrcPort), 10)
		b = append(b, `,"first_seen":`...)
		b = AppendTime(b, v4.FirstSeen)
		b = append(b, `,"blocklisted":`...)
		b = strconv.AppendBool(b, v4.Blocklisted)
		b = append(b, '}')
	}
	b = append(b, `,"score":`...)
	b = appendFloat(b, a.Score, 4)
	b = append(b, `,"evidence":`...)
	b = appendStrings(b, a.Evidence)
	b = append(b, `,"spammer":`...)
	b = strconv.AppendBool(b, a.Spammer)
	return append(b, "}\n"...)
}
