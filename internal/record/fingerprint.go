package record

import (
	"io"
	"net/netip"
	"strconv"
	"time"
)

// Fingerprint is the p0f fingerprint of one SYN: a line of mxsensor
// fingerprint --json.
type Fingerprint struct {
	Time    time.Time  `json:"ts"`
	Src     netip.Addr `json:"src"`
	SrcPort uint16     `json:"sport"`
	Dst     netip.Addr `json:"dst"`
	DstPort uint16     `json:"dport"`
	// Label is what p0f prints as os=, "???" when nothing matched.
	Label   string `json:"label"`
	OSClass string `json:"os_class"`
	Generic bool   `json:"generic"`
	Fuzzy   bool   `json:"fuzzy"`
	Dist    int    `json:"dist"`
	RawSig  string `json:"raw_sig"`
}

// AppendJSON appends f as one JSON line (with its newline).
func (f *Fingerprint) AppendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = AppendTime(b, f.Time)
	b = append(b, `,"src":`...)
	b = appendAddr(b, f.Src)
	b = append(b, `,"sport":`...)
	b = strconv.AppendUint(b, uint64(f.SrcPort), 10)
	b = append(b, `,"dst":`...)
	b = appendAddr(b, f.Dst)
	b = append(b, `,"dport":`...)
	b = strconv.AppendUint(b, uint64(f.DstPort), 10)
	b = append(b, `,"label":`...)
	b = AppendString(b, f.Label)
	b = append(b, `,"os_class":`...)
	b = AppendString(b, f.OSClass)
	b = append(b, `,"generic":`...)
	b = strconv.AppendBool(b, f.Generic)
	b = append(b, `,"fuzzy":`...)
	b = strconv.AppendBool(b, f.Fuzzy)
	b = append(b, `,"dist":`...)
	b = strconv.AppendInt(b, int64(f.Dist), 10)
	b = append(b, `,"raw_sig":`...)
	b = AppendString(b, f.RawSig)
	return append(b, "}\n"...)
}

// AppendText appends f as mxsensor fingerprint prints it (one line, with
// its newline): time, source address and port, then p0f's os=, the class,
// the distance and raw_sig=.
func (f *Fingerprint) AppendText(b []byte) []byte {
	b = f.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, ' ')
	b = netip.AddrPortFrom(f.Src, f.SrcPort).AppendTo(b)
	b = append(b, " os="...)
	b = append(b, f.Label...)
	if f.Generic {
		b = append(b, " (generic)"...)
	}
	if f.Fuzzy {
		b = append(b, " (fuzzy)"...)
	}
	b = append(b, " class="...)
	b = append(b, f.OSClass...)
	b = append(b, " dist="...)
	b = strconv.AppendInt(b, int64(f.Dist), 10)
	b = append(b, " raw_sig="...)
	b = append(b, f.RawSig...)
	return append(b, '\n')
}

// ScanFingerprints calls fn for each fingerprint of r inside w (by Time).
// Lines that do not parse are skipped and counted.
func ScanFingerprints(r io.Reader, w Window, fn func(*Fingerprint) error) (Stats, error) {
	return scan(r, "fingerprints", w, func(f *Fingerprint) time.Time { return f.Time }, fn)
}
