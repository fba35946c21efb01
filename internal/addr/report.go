package addr

import (
	"fmt"
	"net/netip"
)

// Report is what `mxsensor addr` says about an address: its class and
// prefixes, what its class encodes, and the IPv4 addresses it may embed.
// Its JSON form is the --json line.
type Report struct {
	Addr         string           `json:"addr"`
	Kind         string           `json:"kind"`
	Prefix64     string           `json:"prefix64,omitempty"`
	Prefix48     string           `json:"prefix48,omitempty"`
	Gateway6to4  string           `json:"6to4_gateway,omitempty"`
	TeredoServer string           `json:"teredo_server,omitempty"`
	TeredoClient string           `json:"teredo_client,omitempty"`
	TeredoPort   uint16           `json:"teredo_port,omitempty"`
	MAC          string           `json:"mac,omitempty"`
	PublicIPv4   *bool            `json:"plausible_public,omitempty"` // IPv4 addresses only
	Embedded     []ReportEmbedded `json:"embedded"`                   // never null
}

// ReportEmbedded is an IPv4 address a Report's address may embed.
type ReportEmbedded struct {
	IPv4       string  `json:"ipv4"`
	How        string  `json:"how"`
	Confidence float64 `json:"confidence"`
}

// ReportOf classifies a and reports what it found.
func ReportOf(a netip.Addr) Report {
	info := Classify(a)
	r := Report{Addr: a.String(), Kind: info.Kind.String(), Embedded: []ReportEmbedded{}}
	if a.Is4() {
		p := PlausiblePublicIPv4(a)
		r.PublicIPv4 = &p
	} else {
		r.Prefix64, r.Prefix48 = Prefix64(a).String(), Prefix48(a).String()
	}
	if info.SixToFour.IsValid() {
		r.Gateway6to4 = info.SixToFour.String()
	}
	if info.Kind == KindTeredo {
		r.TeredoServer, r.TeredoClient, r.TeredoPort = info.TeredoServer.String(), info.TeredoClient.String(), info.TeredoPort
	}
	if m := info.MAC(); m != nil {
		r.MAC = m.String()
	}
	for _, e := range info.Embedded {
		r.Embedded = append(r.Embedded, ReportEmbedded{IPv4: e.IPv4.String(), How: e.How, Confidence: e.Confidence})
	}
	return r
}

// AppendText appends r as `mxsensor addr` prints it: the address, its
// class and what the class encodes on one line, then a line per embedded
// IPv4 address.
func (r *Report) AppendText(b []byte) []byte {
	b = fmt.Appendf(b, "%s\t%s", r.Addr, r.Kind)
	if r.Gateway6to4 != "" {
		b = append(b, " gateway="+r.Gateway6to4...)
	}
	if r.TeredoClient != "" {
		b = fmt.Appendf(b, " server=%s client=%s port=%d", r.TeredoServer, r.TeredoClient, r.TeredoPort)
	}
	if r.MAC != "" {
		b = append(b, " mac="+r.MAC...)
	}
	if r.PublicIPv4 != nil {
		b = fmt.Appendf(b, " plausible_public=%v", *r.PublicIPv4)
	}
	if r.Prefix64 != "" {
		b = append(b, " /64="+r.Prefix64+" /48="+r.Prefix48...)
	}
	b = append(b, '\n')
	for _, e := range r.Embedded {
		b = fmt.Appendf(b, "\tembeds %s (%s, confidence %.2f)\n", e.IPv4, e.How, e.Confidence)
	}
	return b
}
