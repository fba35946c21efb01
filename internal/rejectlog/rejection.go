package rejectlog

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// MTA names as they appear in [Rejection.MTA].
const (
	MTAPostfixSMTPD      = "postfix-smtpd"
	MTAPostfixPostscreen = "postfix-postscreen"
	MTAExim              = "exim"
	MTASendmail          = "sendmail"
)

// Rejection is one DNSBL rejection found in a log.
type Rejection struct {
	// Time is when the MTA logged the rejection.
	Time time.Time
	// IP is the client address: IPv4, or IPv6 when the MTA logged one.
	// IPv4-mapped IPv6 addresses are unmapped to IPv4.
	IP netip.Addr
	// Zone is the DNSBL zone, lower-case, without a trailing dot. It is
	// empty for postscreen's "DNSBL rank" line, which names no list.
	Zone string
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
	// Raw is the log line, without its line ending.
	Raw string
}

// AppendJSON appends r as a one-line JSON object to dst and returns the
// extended slice. The keys are ts (RFC 3339 with nanoseconds, in UTC), ip,
// zone and mta, followed by rank when it is not zero or the line is
// postscreen's rank line, and reason when it is not empty. Raw is not
// included.
func AppendJSON(dst []byte, r Rejection) []byte {
	dst = append(dst, `{"ts":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","ip":"`...)
	if r.IP.IsValid() {
		dst = r.IP.AppendTo(dst)
	}
	dst = append(dst, `","zone":`...)
	dst = appendJSONString(dst, r.Zone)
	dst = append(dst, `,"mta":`...)
	dst = appendJSONString(dst, r.MTA)
	if r.Rank != 0 || (r.MTA == MTAPostfixPostscreen && r.Zone == "") {
		dst = append(dst, `,"rank":`...)
		dst = strconv.AppendInt(dst, int64(r.Rank), 10)
	}
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, r.Reason)
	}
	return append(dst, '}')
}

// MarshalJSON encodes r as [AppendJSON] does.
func (r Rejection) MarshalJSON() ([]byte, error) {
	return AppendJSON(nil, r), nil
}

// UnmarshalJSON decodes the object [AppendJSON] writes. Raw stays empty.
func (r *Rejection) UnmarshalJSON(data []byte) error {
	var aux struct {
		TS     string `json:"ts"`
		IP     string `json:"ip"`
		Zone   string `json:"zone"`
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
	out.Zone, out.MTA, out.Rank, out.Reason = aux.Zone, aux.MTA, aux.Rank, aux.Reason
	*r = out
	return nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; control characters, quotes and backslashes are escaped, and so are
// U+2028 and U+2029 so that the output is also valid JavaScript.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028':
			dst = append(dst, `\u2028`...)
		case r == '\u2029':
			dst = append(dst, `\u2029`...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
