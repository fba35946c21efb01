package fingerprint

import "strconv"

// AppendRawSig appends the SYN's signature as p0f prints it in raw_sig=,
// e.g. "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0".
func (r *Result) AppendRawSig(b []byte) []byte { return r.Sig.AppendText(b) }

// RawSig returns the SYN's signature as p0f prints it in raw_sig=.
func (r *Result) RawSig() string { return string(r.AppendRawSig(nil)) }

// AppendText appends the signature in p0f's raw_sig form. The TTL part is
// the TTL as received plus p0f's guess of the distance ("?" when that guess
// exceeds 35 hops), whatever signature matched.
func (o *Observed) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(o.Version), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(o.TTL), 10)
	b = append(b, '+')
	if d := guessDist(o.TTL); d > maxDist {
		b = append(b, '?')
	} else {
		b = strconv.AppendUint(b, uint64(d), 10)
	}
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(o.IPOptLen), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(o.MSS), 10)
	b = append(b, ':')
	switch {
	case o.WinMul > 0 && o.WinMTU:
		b = append(b, "mtu*"...)
		b = strconv.AppendInt(b, int64(o.WinMul), 10)
	case o.WinMul > 0:
		b = append(b, "mss*"...)
		b = strconv.AppendInt(b, int64(o.WinMul), 10)
	default:
		b = strconv.AppendUint(b, uint64(o.Window), 10)
	}
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(o.WScale), 10)
	b = append(b, ':')
	for i, k := range o.Options() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOption(b, k, o.EOLPad)
	}
	b = append(b, ':')
	b = o.Quirks.AppendText(b)
	if o.Payload {
		return append(b, ":+"...)
	}
	return append(b, ":0"...)
}

func appendOption(b []byte, kind, eolPad uint8) []byte {
	switch kind {
	case optEOL:
		b = append(b, "eol+"...)
		return strconv.AppendUint(b, uint64(eolPad), 10)
	case optNOP:
		return append(b, "nop"...)
	case optMSS:
		return append(b, "mss"...)
	case optWS:
		return append(b, "ws"...)
	case optSACKOK:
		return append(b, "sok"...)
	case optSACK:
		return append(b, "sack"...)
	case optTS:
		return append(b, "ts"...)
	}
	b = append(b, '?')
	return strconv.AppendUint(b, uint64(kind), 10)
}

// String returns the signature in p0f's raw_sig form.
func (o *Observed) String() string { return string(o.AppendText(nil)) }

// AppendParams appends what p0f prints as params=: space-separated
// "generic", "fuzzy", "random_ttl", "excess_dist" and "tos:0xNN" (the DSCP
// bits), or "none".
func (r *Result) AppendParams(b []byte) []byte {
	start := len(b)
	add := func(s string) {
		if len(b) > start {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	if r.Matched {
		if r.Generic {
			add("generic")
		}
		if r.Fuzzy {
			add("fuzzy")
		}
		if r.RandomTTL {
			add("random_ttl")
		}
	}
	if r.Dist > maxDist {
		add("excess_dist")
	}
	if r.Sig.TOS != 0 {
		add("tos:0x")
		const hex = "0123456789abcdef"
		b = append(b, hex[r.Sig.TOS>>4], hex[r.Sig.TOS&15])
	}
	if len(b) == start {
		b = append(b, "none"...)
	}
	return b
}

// AppendDist appends the distance as p0f prints it in dist=: "N", or
// "<= N" for a signature with a randomised TTL.
func (r *Result) AppendDist(b []byte) []byte {
	if r.Matched && r.RandomTTL {
		b = append(b, "<= "...)
	}
	return strconv.AppendInt(b, int64(r.Dist), 10)
}
