package record

import (
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendTime appends t as a JSON string, RFC 3339 with nanoseconds, in UTC.
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// AppendString appends s as a JSON string, the project's one escaper:
// printable ASCII as it is (the common case, and the fast one); quotes,
// backslashes, control characters and DEL escaped; U+2028 and U+2029
// escaped too, so that a line is also valid JavaScript; each byte of
// invalid UTF-8 replaced by U+FFFD, as encoding/json does. What it writes
// decodes back to s wherever s is valid UTF-8.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				b = append(b, s[start:i]...)
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendArray appends xs as a JSON array ([] when empty), each element
// with app.
func appendArray[T any](b []byte, xs []T, app func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = app(b, x)
	}
	return append(b, ']')
}

// appendStrings appends ss as a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte { return appendArray(b, ss, AppendString) }

// appendAddr appends ip as a JSON string, "" when it is not valid.
func appendAddr(b []byte, ip netip.Addr) []byte {
	b = append(b, '"')
	b = ip.AppendTo(b)
	return append(b, '"')
}

// appendAddrs appends ips as a JSON array of strings.
func appendAddrs(b []byte, ips []netip.Addr) []byte { return appendArray(b, ips, appendAddr) }

// appendFloat appends f with prec decimals; null when it is not finite,
// which JSON cannot hold.
func appendFloat(b []byte, f float64, prec int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'f', prec, 64)
}
