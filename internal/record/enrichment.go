package record

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"time"
)

// Enrichment is what the enricher found about one source address: a line
// of run --enrich-out and of the store's enrichment cache. The keys of
// PTR and ASN are their Go field names, as the file has always had them.
type Enrichment struct {
	Time  time.Time     `json:"ts"`
	IP    netip.Addr    `json:"ip"`
	DNSBL []DNSBLAnswer `json:"dnsbl"` // written when not empty
	PTR   PTR           `json:"ptr"`   // written when it has names
	ASN   ASN           `json:"asn"`   // written when it has origins
	Error string        `json:"error"` // written when not empty
}

// DNSBLAnswer is one DNSBL zone's answer about an address.
type DNSBLAnswer struct {
	Zone   string `json:"zone"`
	Listed bool   `json:"listed"`
	// Codes are the listing's return codes (127.0.0.2, 127.0.0.4, ...),
	// sorted; written when not empty.
	Codes []netip.Addr `json:"codes"`
	// Reasons are the TXT records at the same name, each one's strings
	// concatenated; written when not empty.
	Reasons []string `json:"reasons"`
	// Error says why the zone could not be asked or answered with an
	// error code (Listed is false then); written when not empty.
	Error string `json:"error"`
}

// PTR is the reverse DNS of an address.
type PTR struct {
	// Names are the PTR names, without the trailing dot, in answer order.
	Names []string `json:"Names"`
	// Confirmed is the first of Names (of at most enrich.MaxPTRNames
	// checked) whose A (IPv4) or AAAA (IPv6) records contain the address,
	// or "".
	Confirmed string `json:"Confirmed"`
}

// AS is an origin autonomous system.
type AS struct {
	Number uint32 `json:"Number"`
	Name   string `json:"Name"` // "" when unknown
}

// ASN is the routing origin of an address. A zero Source means the
// address is not routed as far as the sources know.
type ASN struct {
	// Origins are the origin ASes of Prefix; more than one for a
	// multi-origin prefix.
	Origins []AS         `json:"Origins"`
	Prefix  netip.Prefix `json:"Prefix"`
	// Country, Registry and Allocated (a date, as written by Team Cymru)
	// describe Prefix; the table does not give them.
	Country   string `json:"Country"`
	Registry  string `json:"Registry"`
	Allocated string `json:"Allocated"`
	// Source is "table" or "cymru", or "" when nothing was found.
	Source string `json:"Source"`
}

// AppendJSON appends e as one JSON line (with its newline).
func (e *Enrichment) AppendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = AppendTime(b, e.Time)
	b = append(b, `,"ip":`...)
	b = appendAddr(b, e.IP)
	if len(e.DNSBL) > 0 {
		b = append(b, `,"dnsbl":[`...)
		for i := range e.DNSBL {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.DNSBL[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if len(e.PTR.Names) > 0 {
		b = append(b, `,"ptr":{"Names":`...)
		b = appendStrings(b, e.PTR.Names)
		b = append(b, `,"Confirmed":`...)
		b = AppendString(b, e.PTR.Confirmed)
		b = append(b, '}')
	}
	if len(e.ASN.Origins) > 0 {
		b = append(b, `,"asn":`...)
		b = e.ASN.appendJSON(b)
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = AppendString(b, e.Error)
	}
	return append(b, "}\n"...)
}

func (d *DNSBLAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"zone":`...)
	b = AppendString(b, d.Zone)
	b = append(b, `,"listed":`...)
	b = strconv.AppendBool(b, d.Listed)
	if len(d.Codes) > 0 {
		b = append(b, `,"codes":`...)
		b = appendAddrs(b, d.Codes)
	}
	if len(d.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendStrings(b, d.Reasons)
	}
	if d.Error != "" {
		b = append(b, `,"error":`...)
		b = AppendString(b, d.Error)
	}
	return append(b, '}')
}

func (a *ASN) appendJSON(b []byte) []byte {
	b = append(b, `{"Origins":[`...)
	for i, o := range a.Origins {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Number":`...)
		b = strconv.AppendUint(b, uint64(o.Number), 10)
		b = append(b, `,"Name":`...)
		b = AppendString(b, o.Name)
		b = append(b, '}')
	}
	b = append(b, `],"Prefix":"`...)
	if a.Prefix.IsValid() {
		b = a.Prefix.AppendTo(b)
	}
	b = append(b, `","Country":`...)
	b = AppendString(b, a.Country)
	b = append(b, `,"Registry":`...)
	b = AppendString(b, a.Registry)
	b = append(b, `,"Allocated":`...)
	b = AppendString(b, a.Allocated)
	b = append(b, `,"Source":`...)
	b = AppendString(b, a.Source)
	return append(b, '}')
}

// UnmarshalJSON decodes the line AppendJSON writes; one without an
// address is an error.
func (e *Enrichment) UnmarshalJSON(data []byte) error {
	type plain Enrichment // without this method
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if !v.IP.IsValid() {
		return errors.New("enrichment without an address")
	}
	*e = Enrichment(v)
	return nil
}

// ScanEnrichments calls fn for each enrichment result of r inside w (by
// Time). Lines that do not parse are skipped and counted, and so are lines
// without an address.
func ScanEnrichments(r io.Reader, w Window, fn func(*Enrichment) error) (Stats, error) {
	return scan(r, "enrichments", w, func(e *Enrichment) time.Time { return e.Time }, fn)
}
