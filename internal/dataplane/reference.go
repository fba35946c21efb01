package dataplane

import (
	"encoding/binary"
	"net/netip"
)

// Verdict is an XDP return code.
type Verdict uint32

// XDP return codes (uapi enum xdp_action).
const (
	XDPAborted  Verdict = 0
	XDPDrop     Verdict = 1
	XDPPass     Verdict = 2
	XDPTX       Verdict = 3
	XDPRedirect Verdict = 4
)

func (v Verdict) String() string {
	switch v {
	case XDPAborted:
		return "XDP_ABORTED"
	case XDPDrop:
		return "XDP_DROP"
	case XDPPass:
		return "XDP_PASS"
	case XDPTX:
		return "XDP_TX"
	case XDPRedirect:
		return "XDP_REDIRECT"
	}
	return "XDP_UNKNOWN"
}

// Result is what the program does with one frame.
type Result struct {
	Verdict Verdict
	// Outcome is the one outcome counter the frame bumps (RST_SENT, DROPPED, a PASS_* reason, ...).
	Outcome Counter
	// Anomaly is the anomaly counter bumped too, or CounterNone.
	Anomaly Counter
	// Matched is true when the frame is a SYN to the sensor and a record was produced.
	Matched bool
}

// Reference is the XDP program's parser and decision logic in Go. It is the
// offline path (pcap files produce the same records as the kernel) and the
// oracle in tests. It mirrors bpf/mxsensor.c check for check: change both
// together. The rate limiter is mirrored with a map bounded like the
// kernel's LRU (see bound) and a caller-supplied clock.
type Reference struct {
	cfg   Config
	kcfg  mxsensorMxsConfig
	local map[netip.Addr]struct{}
	tat   map[mxsensorMxsRlKey]uint64
	IfIdx uint32 // reported as Record.Ifindex
	RxQ   uint32 // reported as Record.RxQueue
}

// NewReference returns a reference data plane for cfg (which should be valid).
func NewReference(cfg Config) *Reference {
	r := &Reference{cfg: cfg, kcfg: cfg.kernelConfig(), local: map[netip.Addr]struct{}{}, tat: map[mxsensorMxsRlKey]uint64{}}
	for _, a := range cfg.LocalAddrs {
		r.local[a.Unmap()] = struct{}{}
	}
	return r
}

const (
	ethPVLAN   = 0x8100
	ethPQinQ   = 0x88a8
	ethPIPv4   = 0x0800
	ethPIPv6   = 0x86dd
	tcpFIN     = 0x01
	tcpSYN     = 0x02
	tcpRST     = 0x04
	tcpACK     = 0x10
	ipHopOpts  = 0
	ipRouting  = 43
	ipFragment = 44
	ipDstOpts  = 60
	ipTCP      = 6
)

func isExt(nh byte) bool { return nh == ipHopOpts || nh == ipRouting || nh == ipDstOpts }

func pass(c Counter) Result { return Result{Verdict: XDPPass, Outcome: c, Anomaly: CounterNone} }

func malformed(a Counter) Result {
	return Result{Verdict: XDPPass, Outcome: CntPassMalformed, Anomaly: a}
}

func (r *Reference) portWanted(p uint16) bool {
	for i := 0; i < int(r.kcfg.Nports) && i < MaxPorts; i++ {
		if r.kcfg.Ports[i] == p {
			return true
		}
	}
	return false
}

// badSource mirrors bad_source4 / bad_source6.
func badSource(family uint8, src, dst *[16]byte) bool {
	if family == 4 {
		top := src[0]
		if top == 0 || top == 127 || top >= 224 {
			return true
		}
		return [4]byte(src[:4]) == [4]byte(dst[:4])
	}
	if src[0] == 0xff {
		return true
	}
	hi := binary.BigEndian.Uint64(src[:8])
	lo := binary.BigEndian.Uint64(src[8:])
	if hi == 0 && (lo == 0 || lo == 1 || lo>>32 == 0xffff) {
		return true
	}
	return *src == *dst
}

// rateOK mirrors rate_ok with the clock now (ns).
func (r *Reference) rateOK(family uint8, src *[16]byte, now uint64) bool {
	if r.kcfg.RlIntervalNs == 0 {
		return true
	}
	k := mxsensorMxsRlKey{Family: family}
	if family == 4 {
		copy(k.Prefix[:], src[:4])
	} else {
		copy(k.Prefix[:], src[:8])
	}
	t, ok := r.tat[k]
	if !ok {
		r.bound(now)
		r.tat[k] = now + r.kcfg.RlIntervalNs
		return true
	}
	if t < now {
		t = now
	}
	if t-now > r.kcfg.RlBurstNs {
		return false
	}
	r.tat[k] = t + r.kcfg.RlIntervalNs
	return true
}

// bound keeps the limiter's table within RateLimitEntries, as the kernel's
// LRU map is: sources whose budget is full again are forgotten first (they
// would start afresh anyway); if that is not enough, the table is reset.
// Captures with millions of sources thus cost bounded memory.
func (r *Reference) bound(now uint64) {
	limit := int(r.cfg.RateLimitEntries)
	if limit <= 0 || len(r.tat) < limit {
		return
	}
	for k, t := range r.tat {
		if t <= now {
			delete(r.tat, k)
		}
	}
	if len(r.tat) >= limit {
		clear(r.tat)
	}
}

// ReplyAck is the acknowledgment number of the RST that answers the SYN
// recorded in rec: the SYN, its payload and a FIN each take sequence space,
// as Linux counts them when it resets (seq + SYN + FIN + payload).
func ReplyAck(rec *Record) uint32 {
	return rec.Seq + 1 + uint32(rec.PayloadLen) + uint32(rec.TcpFlags&tcpFIN)
}

// Run decides what the program would do with frame at time now (ns) and,
// when the frame is a matched SYN, fills rec. rec is untouched otherwise.
func (r *Reference) Run(frame []byte, now uint64, rec *Record) Result {
	n := len(frame)
	be := binary.BigEndian
	if n < 14 {
		return malformed(CntAnomTruncEth)
	}
	proto := be.Uint16(frame[12:])
	l3 := 14
	var vlan [2]uint16
	for i := 0; i < 2; i++ {
		if proto != ethPVLAN && proto != ethPQinQ {
			break
		}
		if l3+4 > n {
			return malformed(CntAnomTruncVLAN)
		}
		vlan[i] = be.Uint16(frame[l3:]) & 0x0fff
		proto = be.Uint16(frame[l3+2:])
		l3 += 4
	}
	if proto == ethPVLAN || proto == ethPQinQ {
		return pass(CntPassVLANDepth)
	}

	var (
		family, ttl, tos, ipFlags, extCount uint8
		ipID, ipHdrLen, ipOptLen            uint16
		flow                                uint32
		l3Payload                           int
		src, dst                            [16]byte
		l4                                  int
	)
	switch proto {
	case ethPIPv4:
		if l3+20 > n {
			return malformed(CntAnomTruncIP)
		}
		ip := frame[l3:]
		if ip[0]>>4 != 4 {
			return malformed(CntAnomBadVersion)
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 {
			return malformed(CntAnomBadIHL)
		}
		if l3+ihl > n {
			return malformed(CntAnomTruncIP)
		}
		tot := int(be.Uint16(ip[2:]))
		if tot < ihl || l3+tot > n {
			return malformed(CntAnomBadIPLen)
		}
		frag := be.Uint16(ip[6:])
		if frag&0x3fff != 0 {
			return pass(CntPassFragment)
		}
		if ip[9] != ipTCP {
			return pass(CntPassNotTCP)
		}
		family, ttl, tos = 4, ip[8], ip[1]
		ipID = be.Uint16(ip[4:])
		if frag&0x4000 != 0 {
			ipFlags |= 0x02
		}
		if frag&0x8000 != 0 {
			ipFlags |= 0x04
		}
		ipHdrLen, ipOptLen = uint16(ihl), uint16(ihl-20)
		l3Payload = tot - ihl
		copy(src[:4], ip[12:16])
		copy(dst[:4], ip[16:20])
		l4 = l3 + ihl
	case ethPIPv6:
		if l3+40 > n {
			return malformed(CntAnomTruncIP)
		}
		ip := frame[l3:]
		vtcfl := be.Uint32(ip)
		if vtcfl>>28 != 6 {
			return malformed(CntAnomBadVersion)
		}
		plen := int(be.Uint16(ip[4:]))
		if l3+40+plen > n {
			return malformed(CntAnomBadIPLen)
		}
		family, ttl = 6, ip[7]
		tos = uint8(vtcfl >> 20)
		flow = vtcfl & 0xfffff
		nh := ip[6]
		ext := 0
		for i := 0; i < 4; i++ {
			if !isExt(nh) {
				break
			}
			pos := l3 + 40 + ext
			if pos+4 > n || ext+8 > plen {
				return malformed(CntAnomTruncExt)
			}
			hlen := (int(frame[pos+1]) + 1) * 8
			if ext+hlen > plen {
				return malformed(CntAnomTruncExt)
			}
			if nh == ipRouting && frame[pos+3] != 0 {
				return pass(CntPassExtHdr)
			}
			nh = frame[pos]
			ext += hlen
			extCount++
		}
		if isExt(nh) {
			return Result{Verdict: XDPPass, Outcome: CntPassExtHdr, Anomaly: CntAnomExtDepth}
		}
		if nh == ipFragment {
			return pass(CntPassFragment)
		}
		if nh != ipTCP {
			return pass(CntPassNotTCP)
		}
		ipHdrLen, ipOptLen = uint16(40+ext), uint16(ext)
		l3Payload = plen - ext
		copy(src[:], ip[8:24])
		copy(dst[:], ip[24:40])
		l4 = l3 + 40 + ext
	default:
		return pass(CntPassNotIP)
	}

	if l4+20 > n || l3Payload < 20 {
		return malformed(CntAnomTruncTCP)
	}
	tcp := frame[l4:]
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > l3Payload {
		return malformed(CntAnomBadDoff)
	}
	dport := be.Uint16(tcp[2:])
	if !r.portWanted(dport) {
		return pass(CntPassOtherPort)
	}
	flags := tcp[13]
	if flags&(tcpSYN|tcpACK|tcpRST) != tcpSYN {
		return pass(CntPassNotSYN)
	}
	if r.kcfg.FilterDst != 0 {
		var d netip.Addr
		if family == 4 {
			d = netip.AddrFrom4([4]byte(dst[:4]))
		} else {
			d = netip.AddrFrom16(dst)
		}
		if _, ok := r.local[d]; !ok {
			return pass(CntPassNotLocal)
		}
	}
	if frame[6]&1 != 0 || badSource(family, &src, &dst) {
		return pass(CntPassBadSource)
	}

	res := Result{Matched: true, Anomaly: CounterNone}
	var action Action
	switch {
	case r.kcfg.Mode == uint8(ModeObserve):
		action, res.Verdict, res.Outcome = ActionObserved, XDPPass, CntObserved
	case r.kcfg.Mode == uint8(ModeDrop):
		action, res.Verdict, res.Outcome = ActionDropped, XDPDrop, CntDropped
	case !r.rateOK(family, &src, now):
		action, res.Verdict, res.Outcome = ActionRateLimited, XDPDrop, CntRateLimited
	default:
		action, res.Verdict, res.Outcome = ActionRST, XDPTX, CntRSTSent
	}

	*rec = Record{
		TsNs:       now,
		Ifindex:    r.IfIdx,
		RxQueue:    r.RxQ,
		Saddr:      src,
		Daddr:      dst,
		Sport:      be.Uint16(tcp[0:]),
		Dport:      dport,
		Seq:        be.Uint32(tcp[4:]),
		Ack:        be.Uint32(tcp[8:]),
		Window:     be.Uint16(tcp[14:]),
		UrgPtr:     be.Uint16(tcp[18:]),
		TcpFlags:   uint16(flags) | uint16(tcp[12]&1)<<8,
		VlanOuter:  vlan[0],
		VlanInner:  vlan[1],
		PayloadLen: uint16(l3Payload - doff),
		FlowLabel:  flow,
		IpId:       ipID,
		IpHdrLen:   ipHdrLen,
		IpOptLen:   ipOptLen,
		Family:     family,
		Ttl:        ttl,
		Tos:        tos,
		IpFlags:    ipFlags,
		Doff:       uint8(doff / 4),
		OptLen:     uint8(doff - 20),
		Action:     uint8(action),
		ExtCount:   extCount,
	}
	copy(rec.Options[:], tcp[20:doff])
	return res
}
