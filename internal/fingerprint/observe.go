package fingerprint

import (
	"encoding/binary"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// Quirks is a set of p0f quirk flags. The bit order is the order in which
// p0f prints them in a signature.
type Quirks uint32

// The quirks of the p0f v3 signature format, with their signature names.
const (
	QuirkDF          Quirks = 1 << iota // df: IPv4 don't-fragment set
	QuirkNonZeroID                      // id+: DF set and IP ID non-zero
	QuirkZeroID                         // id-: DF clear and IP ID zero
	QuirkECN                            // ecn: ECN in the IP header, or ECE/CWR/NS in TCP
	QuirkMBZ                            // 0+: IPv4 reserved ("must be zero") bit set
	QuirkFlow                           // flow: IPv6 flow label non-zero
	QuirkZeroSeq                        // seq-: sequence number zero
	QuirkNonZeroAck                     // ack+: ACK number set without the ACK flag (see package doc)
	QuirkZeroAck                        // ack-: ACK flag with a zero ACK number
	QuirkNonZeroUrg                     // uptr+: urgent pointer without the URG flag
	QuirkURG                            // urgf+: URG flag set
	QuirkPush                           // pushf+: PSH flag set
	QuirkTS1Zero                        // ts1-: own timestamp zero
	QuirkTS2NonZero                     // ts2+: peer timestamp non-zero on a SYN
	QuirkOptAfterEOL                    // opt+: non-zero data after EOL
	QuirkExcessWS                       // exws: window scale above 14
	QuirkBadOptions                     // bad: malformed TCP options

	numQuirks = iota
)

var quirkNames = [numQuirks]string{
	"df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
	"uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad",
}

// Quirks that only make sense for one IP version.
const (
	ipv4OnlyQuirks = QuirkDF | QuirkNonZeroID | QuirkZeroID | QuirkMBZ
	ipv6OnlyQuirks = QuirkFlow
)

// AppendText appends the quirks in signature form ("df,id+") to b.
func (q Quirks) AppendText(b []byte) []byte {
	first := true
	for i := 0; i < numQuirks; i++ {
		if q&(1<<i) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		b = append(b, quirkNames[i]...)
		first = false
	}
	return b
}

// String returns the quirks in signature form.
func (q Quirks) String() string { return string(q.AppendText(nil)) }

// MaxOptions is the most TCP options p0f records in a layout (and accepts in
// a signature); further options make the options "bad".
const MaxOptions = 24

// maxDist is the largest hop distance p0f accepts as plausible (MAX_DIST).
const maxDist = 35

// TCP option kinds with a name in the signature format.
const (
	optEOL    = 0
	optNOP    = 1
	optMSS    = 2
	optWS     = 3
	optSACKOK = 4
	optSACK   = 5
	optTS     = 8
)

// TCP flag bits.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
	flagNS  = 0x100
)

// Observed is the signature of one SYN, in the terms of the p0f format.
type Observed struct {
	Version    uint8 // 4 or 6
	TTL        uint8 // as received
	IPOptLen   uint8 // IPv4 option bytes (0 for IPv6, as in p0f)
	TOS        uint8 // DSCP: the TOS / traffic class byte without the ECN bits
	MSS        uint16
	Window     uint16
	WScale     uint8
	NumOptions uint8
	Layout     [MaxOptions]uint8 // option kinds in order; NumOptions in use
	EOLPad     uint8             // bytes after an EOL option
	Quirks     Quirks
	Payload    bool   // the SYN carries data (payload class "+")
	TotalHdr   uint16 // IP header (without IPv6 extension headers) + TCP header bytes
	TS1        uint32 // own timestamp, 0 without the option
	// WinMul is the window expressed as a multiple of the MSS (or of an MTU
	// when WinMTU), as p0f detects it; -1 when the window is no such multiple.
	WinMul int16
	WinMTU bool
	// IPv6Ext reports an IPv6 SYN with extension headers, which p0f itself
	// would not fingerprint at all (see the package documentation).
	IPv6Ext bool
}

// Options returns the option layout.
func (o *Observed) Options() []uint8 { return o.Layout[:o.NumOptions] }

// Observe computes the signature of a SYN exactly as p0f 3.09b does.
func Observe(ev *synevent.Event) Observed {
	var o Observed
	o.TTL = ev.TTL
	opts := ev.Options[:min(int(ev.OptLen), len(ev.Options))]
	doff := int(ev.DataOffset) * 4
	if doff < 20 {
		doff = 20 + len(opts)
	}
	if ev.Src.Is4() {
		o.Version = 4
		o.IPOptLen = uint8(min(int(ev.IPOptLen), 255))
		o.TOS = ev.TOS >> 2
		if ev.TOS&0x03 != 0 {
			o.Quirks |= QuirkECN
		}
		if ev.IPFlags&0x04 != 0 {
			o.Quirks |= QuirkMBZ
		}
		if ev.IPFlags&0x02 != 0 {
			o.Quirks |= QuirkDF
			if ev.IPID != 0 {
				o.Quirks |= QuirkNonZeroID
			}
		} else if ev.IPID == 0 {
			o.Quirks |= QuirkZeroID
		}
		hdr := int(ev.IPHdrLen)
		if hdr < 20 {
			hdr = 20 + int(ev.IPOptLen)
		}
		o.TotalHdr = uint16(min(hdr+doff, 0xffff))
	} else {
		o.Version = 6
		o.IPv6Ext = ev.IPOptLen > 0
		o.TOS = ev.TOS >> 2
		if ev.FlowLabel&0xfffff != 0 {
			o.Quirks |= QuirkFlow
		}
		if ev.TOS&0x03 != 0 {
			o.Quirks |= QuirkECN
		}
		o.TotalHdr = uint16(40 + doff)
	}

	flags := ev.Flags
	if flags&(flagECE|flagCWR|flagNS) != 0 {
		o.Quirks |= QuirkECN
	}
	if ev.Seq == 0 {
		o.Quirks |= QuirkZeroSeq
	}
	if flags&flagACK != 0 {
		if ev.Ack == 0 {
			o.Quirks |= QuirkZeroAck
		}
	} else if flags&flagRST == 0 && ev.Ack&0x01000000 != 0 {
		// p0f ANDs the ACK field, loaded in (little-endian) host order,
		// with 1: that is the low bit of the first byte on the wire.
		o.Quirks |= QuirkNonZeroAck
	}
	if flags&flagURG != 0 {
		o.Quirks |= QuirkURG
	} else if ev.Urgent != 0 {
		o.Quirks |= QuirkNonZeroUrg
	}
	if flags&flagPSH != 0 {
		o.Quirks |= QuirkPush
	}
	o.Payload = ev.PayloadLen > 0
	o.Window = ev.Window

	pureSYN := flags&(flagSYN|flagACK|flagFIN|flagRST) == flagSYN
	o.parseOptions(opts, pureSYN)
	o.WinMul, o.WinMTU = windowMultiple(o.Window, int32(o.MSS), o.TS1, o.Version == 6, int32(o.TotalHdr))
	return o
}

// parseOptions walks the TCP options the way p0f does, recording the layout,
// the MSS, window scale and first timestamp, and the option quirks. Problems
// never stop the fingerprint: they set the "bad" quirk.
func (o *Observed) parseOptions(opts []byte, pureSYN bool) {
	end := len(opts)
	i := 0
	for i < end && o.NumOptions < MaxOptions {
		kind := opts[i]
		o.Layout[o.NumOptions] = kind
		o.NumOptions++
		i++ // i now indexes the length byte, if the option has one
		switch kind {
		case optEOL:
			// Everything after EOL is padding and should be zero. The scan
			// stops one byte past the first non-zero byte, so a non-zero
			// last byte is not noticed (as in p0f).
			o.EOLPad = uint8(end - i)
			for i < end {
				c := opts[i]
				i++
				if c != 0 {
					break
				}
			}
			if i != end {
				o.Quirks |= QuirkOptAfterEOL
				i = end
			}
		case optNOP:
		case optMSS:
			if i+3 > end {
				o.Quirks |= QuirkBadOptions
				return
			}
			if opts[i] != 4 {
				o.Quirks |= QuirkBadOptions
			}
			o.MSS = binary.BigEndian.Uint16(opts[i+1:])
			i += 3 // the stated length is not trusted for known options
		case optWS:
			if i+2 > end {
				o.Quirks |= QuirkBadOptions
				return
			}
			if opts[i] != 3 {
				o.Quirks |= QuirkBadOptions
			}
			o.WScale = opts[i+1]
			if o.WScale > 14 {
				o.Quirks |= QuirkExcessWS
			}
			i += 2
		case optSACKOK:
			if i+1 > end {
				o.Quirks |= QuirkBadOptions
				return
			}
			if opts[i] != 2 {
				o.Quirks |= QuirkBadOptions
			}
			i++
		case optTS:
			if i+9 > end {
				o.Quirks |= QuirkBadOptions
				return
			}
			if opts[i] != 10 {
				o.Quirks |= QuirkBadOptions
			}
			o.TS1 = binary.BigEndian.Uint32(opts[i+1:])
			if o.TS1 == 0 {
				o.Quirks |= QuirkTS1Zero
			}
			if pureSYN && binary.BigEndian.Uint32(opts[i+5:]) != 0 {
				o.Quirks |= QuirkTS2NonZero
			}
			i += 9
		default:
			// SACK blocks (10..34 bytes) and unknown options (2..40 bytes)
			// are skipped by their length, which must be sane.
			if i == end {
				o.Quirks |= QuirkBadOptions
				return
			}
			n := int(opts[i])
			lo, hi := 2, 40
			if kind == optSACK {
				lo, hi = 10, 34
			}
			if n < lo || n > hi || i-1+n > end {
				o.Quirks |= QuirkBadOptions
				return
			}
			i += n - 1
		}
	}
	if i != end {
		// Options left over once the layout is full.
		o.Quirks |= QuirkBadOptions
	}
}

// Window sizes p0f tries as divisors besides the MSS itself: the MSS of a
// 1500-byte MTU for IPv4 and IPv6, with and without 12 bytes of timestamps.
const (
	minTCP4 = 40 // IPv4 + TCP headers without options
	minTCP6 = 60 // IPv6 + TCP headers without options
)

// windowMultiple finds whether win is a whole multiple of the MSS or of an
// MTU, trying candidates in p0f's order; it returns the multiplier (-1 when
// none fits) and whether the divisor was an MTU.
func windowMultiple(win uint16, mss int32, ts1 uint32, v6 bool, totHdr int32) (int16, bool) {
	if win == 0 || mss < 100 {
		return -1, false
	}
	w := int32(win)
	type cand struct {
		div int32
		mtu bool
		on  bool
	}
	cands := [...]cand{
		{mss, false, true},
		{mss - 12, false, ts1 != 0},
		{1500 - minTCP4, false, true},
		{1500 - minTCP4 - 12, false, true},
		{1500 - minTCP6, false, v6},
		{1500 - minTCP6 - 12, false, v6},
		{mss + minTCP4, true, true},
		{mss + totHdr, true, true},
		{mss + minTCP6, true, v6},
		{1500, true, true},
	}
	for _, c := range cands {
		if c.on && c.div != 0 && w%c.div == 0 {
			return int16(w / c.div), c.mtu
		}
	}
	return -1, false
}

// guessDist is p0f's distance guess from a TTL alone: hops below the next
// common initial TTL (32, 64, 128 or 255).
func guessDist(ttl uint8) uint8 {
	switch {
	case ttl <= 32:
		return 32 - ttl
	case ttl <= 64:
		return 64 - ttl
	case ttl <= 128:
		return 128 - ttl
	}
	return 255 - ttl
}
