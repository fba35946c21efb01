// Package synevent holds the SYN event: one TCP SYN seen by the sensor, from
// the kernel ring buffer or from a capture file, with the same fields and
// semantics either way, and its JSON-lines form.
package synevent

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// Event is one SYN. Field meanings follow struct mxs_syn_event in bpf/mxsensor.h.
type Event struct {
	Time       time.Time // wall-clock time (kernel time converted, or the capture's)
	KernelNs   uint64    // CLOCK_MONOTONIC ns from the kernel; 0 for captures
	Ifindex    uint32
	RxQueue    uint32
	VLAN       uint16 // outer VLAN ID, 0 when untagged
	VLANInner  uint16
	Src, Dst   netip.Addr
	SrcPort    uint16
	DstPort    uint16
	Seq, Ack   uint32
	Window     uint16
	Urgent     uint16
	Flags      uint16 // TCP flags, NS in bit 8
	DataOffset uint8  // 32-bit words
	OptLen     uint8
	Options    [40]byte // raw TCP options; OptLen bytes in use
	TTL        uint8    // IPv4 TTL / IPv6 hop limit
	IPID       uint16
	IPFlags    uint8 // 1 MF, 2 DF, 4 reserved bit
	TOS        uint8 // TOS / traffic class
	FlowLabel  uint32
	IPHdrLen   uint16
	IPOptLen   uint16
	ExtHeaders uint8
	PayloadLen uint16
	Action     dataplane.Action
}

// FromRecord fills e from a ring record; t is its wall-clock time.
func (e *Event) FromRecord(r *dataplane.Record, t time.Time) {
	*e = Event{
		Time: t, KernelNs: r.TsNs, Ifindex: r.Ifindex, RxQueue: r.RxQueue,
		VLAN: r.VlanOuter, VLANInner: r.VlanInner,
		SrcPort: r.Sport, DstPort: r.Dport, Seq: r.Seq, Ack: r.Ack, Window: r.Window,
		Urgent: r.UrgPtr, Flags: r.TcpFlags, DataOffset: r.Doff, OptLen: r.OptLen, Options: r.Options,
		TTL: r.Ttl, IPID: r.IpId, IPFlags: r.IpFlags, TOS: r.Tos, FlowLabel: r.FlowLabel,
		IPHdrLen: r.IpHdrLen, IPOptLen: r.IpOptLen, ExtHeaders: r.ExtCount, PayloadLen: r.PayloadLen,
		Action: dataplane.Action(r.Action),
	}
	if r.OptLen > 40 {
		e.OptLen = 40
	}
	if r.Family == 4 {
		e.Src = netip.AddrFrom4([4]byte(r.Saddr[:4]))
		e.Dst = netip.AddrFrom4([4]byte(r.Daddr[:4]))
	} else {
		e.Src = netip.AddrFrom16(r.Saddr)
		e.Dst = netip.AddrFrom16(r.Daddr)
	}
}

// TCPOptions returns the raw TCP option bytes.
func (e *Event) TCPOptions() []byte { return e.Options[:e.OptLen] }

// Family is 4 or 6.
func (e *Event) Family() int {
	if e.Src.Is4() {
		return 4
	}
	return 6
}

// DF reports the IPv4 don't-fragment bit.
func (e *Event) DF() bool { return e.IPFlags&0x02 != 0 }

// AppendJSON appends e as one JSON object (no newline) to b without
// allocating beyond b's growth.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"ts":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ktime_ns":`...)
	b = strconv.AppendUint(b, e.KernelNs, 10)
	b = append(b, `,"family":`...)
	b = strconv.AppendInt(b, int64(e.Family()), 10)
	b = append(b, `,"src":"`...)
	b = e.Src.AppendTo(b)
	b = append(b, `","sport":`...)
	b = strconv.AppendUint(b, uint64(e.SrcPort), 10)
	b = append(b, `,"dst":"`...)
	b = e.Dst.AppendTo(b)
	b = append(b, `","dport":`...)
	b = strconv.AppendUint(b, uint64(e.DstPort), 10)
	b = appendUint(b, "ifindex", uint64(e.Ifindex))
	b = appendUint(b, "rxq", uint64(e.RxQueue))
	b = appendUint(b, "vlan", uint64(e.VLAN))
	b = appendUint(b, "vlan_inner", uint64(e.VLANInner))
	b = appendUint(b, "seq", uint64(e.Seq))
	b = appendUint(b, "ack", uint64(e.Ack))
	b = appendUint(b, "win", uint64(e.Window))
	b = appendUint(b, "urg", uint64(e.Urgent))
	b = appendUint(b, "flags", uint64(e.Flags))
	b = appendUint(b, "doff", uint64(e.DataOffset))
	b = append(b, `,"options":"`...)
	b = hex.AppendEncode(b, e.TCPOptions())
	b = append(b, '"')
	b = appendUint(b, "ttl", uint64(e.TTL))
	b = appendUint(b, "ip_id", uint64(e.IPID))
	b = appendUint(b, "ip_flags", uint64(e.IPFlags))
	b = appendUint(b, "tos", uint64(e.TOS))
	b = appendUint(b, "flow", uint64(e.FlowLabel))
	b = appendUint(b, "ip_hdr_len", uint64(e.IPHdrLen))
	b = appendUint(b, "ip_opt_len", uint64(e.IPOptLen))
	b = appendUint(b, "ext_headers", uint64(e.ExtHeaders))
	b = appendUint(b, "payload_len", uint64(e.PayloadLen))
	b = append(b, `,"action":"`...)
	b = append(b, e.Action.String()...)
	return append(b, `"}`...)
}

func appendUint(b []byte, key string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

// MarshalJSON implements json.Marshaler.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

type jsonEvent struct {
	TS         time.Time  `json:"ts"`
	KernelNs   uint64     `json:"ktime_ns"`
	Family     int        `json:"family"`
	Src        netip.Addr `json:"src"`
	SrcPort    uint16     `json:"sport"`
	Dst        netip.Addr `json:"dst"`
	DstPort    uint16     `json:"dport"`
	Ifindex    uint32     `json:"ifindex"`
	RxQueue    uint32     `json:"rxq"`
	VLAN       uint16     `json:"vlan"`
	VLANInner  uint16     `json:"vlan_inner"`
	Seq        uint32     `json:"seq"`
	Ack        uint32     `json:"ack"`
	Window     uint16     `json:"win"`
	Urgent     uint16     `json:"urg"`
	Flags      uint16     `json:"flags"`
	DataOffset uint8      `json:"doff"`
	Options    string     `json:"options"`
	TTL        uint8      `json:"ttl"`
	IPID       uint16     `json:"ip_id"`
	IPFlags    uint8      `json:"ip_flags"`
	TOS        uint8      `json:"tos"`
	FlowLabel  uint32     `json:"flow"`
	IPHdrLen   uint16     `json:"ip_hdr_len"`
	IPOptLen   uint16     `json:"ip_opt_len"`
	ExtHeaders uint8      `json:"ext_headers"`
	PayloadLen uint16     `json:"payload_len"`
	Action     string     `json:"action"`
}

// UnmarshalJSON implements json.Unmarshaler for the AppendJSON form.
func (e *Event) UnmarshalJSON(data []byte) error {
	var j jsonEvent
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("decoding SYN event: %w", err)
	}
	opts, err := hex.DecodeString(j.Options)
	if err != nil || len(opts) > 40 {
		return fmt.Errorf("decoding SYN event: bad options %q", j.Options)
	}
	if !j.Src.IsValid() || !j.Dst.IsValid() {
		return fmt.Errorf("decoding SYN event: missing src or dst")
	}
	act, ok := parseAction(j.Action)
	if !ok {
		return fmt.Errorf("decoding SYN event: unknown action %q", j.Action)
	}
	*e = Event{Time: j.TS, KernelNs: j.KernelNs, Ifindex: j.Ifindex, RxQueue: j.RxQueue, VLAN: j.VLAN,
		VLANInner: j.VLANInner, Src: j.Src, Dst: j.Dst, SrcPort: j.SrcPort, DstPort: j.DstPort, Seq: j.Seq,
		Ack: j.Ack, Window: j.Window, Urgent: j.Urgent, Flags: j.Flags, DataOffset: j.DataOffset,
		OptLen: uint8(len(opts)), TTL: j.TTL, IPID: j.IPID, IPFlags: j.IPFlags, TOS: j.TOS, FlowLabel: j.FlowLabel,
		IPHdrLen: j.IPHdrLen, IPOptLen: j.IPOptLen, ExtHeaders: j.ExtHeaders, PayloadLen: j.PayloadLen, Action: act}
	copy(e.Options[:], opts)
	return nil
}

func parseAction(s string) (dataplane.Action, bool) {
	for a := dataplane.ActionRST; a <= dataplane.ActionReplyFailed; a++ {
		if a.String() == s {
			return a, true
		}
	}
	return 0, false
}

// Frame rebuilds an Ethernet frame carrying this SYN, for pcap output: the
// headers and TCP options are exact; MACs are zero, IPv4 option bytes
// become zeros of the recorded length, IPv6 extension headers become
// destination-options padding of the same total length (so ext_headers may
// differ), VLAN tags use TPID 0x8100, and the payload is zero bytes of the
// recorded length.
func (e *Event) Frame() []byte {
	s := synframe.Spec{
		SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6),
		Src: e.Src, Dst: e.Dst, TTL: e.TTL, TOS: e.TOS, ID: e.IPID,
		DF: e.IPFlags&0x02 != 0, MF: e.IPFlags&0x01 != 0, Reserved: e.IPFlags&0x04 != 0,
		FlowLabel: e.FlowLabel, SrcPort: e.SrcPort, DstPort: e.DstPort, Seq: e.Seq, Ack: e.Ack,
		Flags: uint8(e.Flags), NS: e.Flags&0x100 != 0, Window: e.Window, Urgent: e.Urgent,
		TCPOptions: e.TCPOptions(), Payload: make([]byte, e.PayloadLen),
	}
	if s.Flags == 0 {
		s.Flags = synframe.SYN // never happens for a recorded SYN; keeps Build from defaulting oddly
	}
	if e.VLAN != 0 || e.VLANInner != 0 {
		s.VLANs = append(s.VLANs, synframe.VLAN{TPID: 0x8100, TCI: e.VLAN})
		if e.VLANInner != 0 {
			s.VLANs = append(s.VLANs, synframe.VLAN{TPID: 0x8100, TCI: e.VLANInner})
		}
	}
	if e.Src.Is4() {
		s.IPOptions = make([]byte, e.IPOptLen)
	} else if e.IPOptLen >= 8 {
		// Destination-options headers of the recorded total size, filled
		// with PadN options (at most 257 bytes each; a header is at most
		// 2048 bytes).
		for left := int(e.IPOptLen); left >= 8; {
			n := min(left, 2048)
			body := make([]byte, n-2)
			for off := 0; off < len(body); {
				k := min(len(body)-off, 257)
				if k == 1 {
					break // Pad1: the zero byte already there
				}
				body[off], body[off+1] = 1, byte(k-2)
				off += k
			}
			s.Ext = append(s.Ext, synframe.ExtHeader{Type: 60, Body: body})
			left -= n
		}
	}
	return s.Build()
}
