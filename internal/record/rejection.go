package record

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"
)

// MTA names as they appear in [Rejection.MTA].
const (
	MTAPostfixSMTPD      = "postfix-smtpd"
	MTAPostfixPostscreen = "postfix-postscreen"
	MTAExim              = "exim"
	MTASendmail          = "sendmail"
	MTARspamd            = "rspamd"
	// MTAPattern marks a rejection found by an operator's pattern
	// (--reject-pattern), not by a built-in parser.
	MTAPattern = "pattern"
)

// What [Rejection.Zone] holds when it is not a DNS zone the MTA queried
// ([Rejection.ZoneKind]): operators' own messages name the list in their
// own words.
const (
	ZoneKindName   = "name"   // a list's name as the message writes it ("Spamhaus")
	ZoneKindURL    = "url"    // the host of the URL the message points to
	ZoneKindSymbol = "symbol" // the rspamd symbol that fired (RBL_SPAMHAUS_XBL)
)

// Rejection is one DNSBL rejection found in a production MTA's log: a line
// of mxsensor rejectlog's output.
type Rejection struct {
	// Time is when the MTA logged the rejection.
	Time time.Time
	// IP is the client address: IPv4, or IPv6 when the MTA logged one.
	// IPv4-mapped IPv6 addresses are unmapped to IPv4.
	IP netip.Addr
	// Zone is the DNSBL zone, lower-case, without a trailing dot. It is
	// empty for postscreen's "DNSBL rank" line, which names no list, and
	// for an operator's message that names none. When ZoneKind is set it
	// is not a DNS zone but what the line names instead.
	Zone string
	// ZoneKind is empty when Zone is a DNS zone (or empty), else one of
	// the ZoneKind constants.
	ZoneKind string
	// MTA is one of the MTA constants.
	MTA string
	// Rank is postscreen's combined DNSBL score; zero for other lines.
	Rank int
	// Reason is the explanation the list or the MTA attached to the
	// rejection when one was logged: Postfix's "; reason" after the zone,
	// the text after the zone in an Exim message (without the parentheses
	// that usually enclose it). Empty when the line holds only the fixed
	// text.
	Reason string
	// Raw is the log line, without its line ending. It is not written.
	Raw string
}

// AppendJSON appends r as one JSON line (with its newline). The keys are
// ts (RFC 3339 with nanoseconds, in UTC), ip, zone, zone_kind when it is
// not empty, and mta, followed by rank when it is not zero or the line is
// postscreen's rank line, and reason when it is not empty. Raw is not
// written.
func (r *Rejection) AppendJSON(b []byte) []byte {
	b = append(b, `{"ts":`...)
	b = AppendTime(b, r.Time)
	b = append(b, `,"ip":`...)
	b = appendAddr(b, r.IP)
	b = append(b, `,"zone":`...)
	b = AppendString(b, r.Zone)
	if r.ZoneKind != "" {
		b = append(b, `,"zone_kind":`...)
		b = AppendString(b, r.ZoneKind)
	}
	b = append(b, `,"mta":`...)
	b = AppendString(b, r.MTA)
	if r.Rank != 0 || (r.MTA == MTAPostfixPostscreen && r.Zone == "") {
		b = append(b, `,"rank":`...)
		b = strconv.AppendInt(b, int64(r.Rank), 10)
	}
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = AppendString(b, r.Reason)
	}
	return append(b, "}\n"...)
}

// MarshalJSON encodes r as AppendJSON does, without the newline.
func (r Rejection) MarshalJSON() ([]byte, error) {
	b := r.AppendJSON(nil)
	return b[:len(b)-1], nil
}

// UnmarshalJSON decodes the object AppendJSON writes. Raw stays empty.
func (r *Rejection) UnmarshalJSON(data []byte) error {
	var aux struct {
		TS     string `json:"ts"`
		IP     string `json:"ip"`
		Zone   string `json:"zone"`
		Kind   string `json:"zone_kind"`
		MTA    string `json:"mta"`
		Rank   int    `json:"rank"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	var out Rejection
	if aux.TS != "" {
		t, err := time.Parse(time.RFC3339Nano, aux.TS)
		if err != nil {
			return fmt.Errorf("rejection ts: %w", err)
		}
		out.Time = t
	}
	if aux.IP != "" {
		ip, err := netip.ParseAddr(aux.IP)
		if err != nil {
			return fmt.Errorf("rejection ip: %w", err)
		}
		out.IP = ip
	}
	out.Zone, out.ZoneKind, out.MTA, out.Rank, out.Reason = aux.Zone, aux.Kind, aux.MTA, aux.Rank, aux.Reason
	*r = out
	return nil
}

// ScanRejections calls fn for each rejection of r inside w (by Time).
// Lines that do not parse are skipped and counted.
func ScanRejections(r io.Reader, w Window, fn func(*Rejection) error) (Stats, error) {
	return scan(r, "rejections", w, func(x *Rejection) time.Time { return x.Time }, fn)
}
