package fingerprint

import (
	"net/netip"
	"testing"

	"github.com/mxsensor/mxsensor/internal/synevent"
)

// testEvent is a Linux-like IPv4 SYN (window 29200 = 20 x 1460, options
// mss,sok,ts,nop,ws) that each test case modifies.
func testEvent(mod ...func(*synevent.Event)) *synevent.Event {
	e := &synevent.Event{
		Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.25"),
		SrcPort: 40000, DstPort: 25, TTL: 64, IPID: 4321, IPFlags: 0x02, IPHdrLen: 20,
		Seq: 1000, Window: 29200, Flags: 0x02,
	}
	setOptions(e, linuxOpts)
	for _, m := range mod {
		m(e)
	}
	return e
}

// setOptions installs raw TCP options (not padded) and a matching data offset.
func setOptions(e *synevent.Event, opts []byte) {
	e.Options = [40]byte{}
	copy(e.Options[:], opts)
	e.OptLen = uint8(len(opts))
	e.DataOffset = uint8(5 + (len(opts)+3)/4)
}

func opts(b ...byte) func(*synevent.Event) {
	return func(e *synevent.Event) { setOptions(e, b) }
}

func v6(e *synevent.Event) {
	e.Src, e.Dst = v6src, v6dst
	e.IPID, e.IPFlags, e.IPHdrLen = 0, 0, 40
}

type observeCase struct {
	name string
	mod  []func(*synevent.Event)
	want string
}

// observeCases are SYNs with the raw signature p0f prints for them. Those
// that p0f itself can be shown are also checked against it (TestObserveOracle).
var observeCases = []observeCase{
	{"plain", nil, "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},

	// IP-level quirks.
	{"no df, id set", []func(*synevent.Event){func(e *synevent.Event) { e.IPFlags = 0 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws::0"},
	{"no df, id zero", []func(*synevent.Event){func(e *synevent.Event) { e.IPFlags, e.IPID = 0, 0 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:id-:0"},
	{"df, id zero", []func(*synevent.Event){func(e *synevent.Event) { e.IPID = 0 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df:0"},
	{"ecn ect0", []func(*synevent.Event){func(e *synevent.Event) { e.TOS = 0x02 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ecn:0"},
	{"ecn ce", []func(*synevent.Event){func(e *synevent.Event) { e.TOS = 0x03 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ecn:0"},
	{"dscp only", []func(*synevent.Event){func(e *synevent.Event) { e.TOS = 0xb8 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"reserved bit", []func(*synevent.Event){func(e *synevent.Event) { e.IPFlags |= 0x04 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,0+:0"},
	{"ip options", []func(*synevent.Event){func(e *synevent.Event) { e.IPOptLen, e.IPHdrLen = 8, 28 }},
		"4:64+0:8:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"v6", []func(*synevent.Event){v6}, "6:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws::0"},
	{"v6 flow", []func(*synevent.Event){v6, func(e *synevent.Event) { e.FlowLabel = 0xabcde }},
		"6:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:flow:0"},
	{"v6 ecn", []func(*synevent.Event){v6, func(e *synevent.Event) { e.TOS = 0x01 }},
		"6:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:ecn:0"},
	{"v6 ext headers ignored", []func(*synevent.Event){v6, func(e *synevent.Event) { e.IPOptLen, e.IPHdrLen = 8, 48 }},
		"6:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws::0"},

	// TCP header quirks.
	{"ece cwr", []func(*synevent.Event){func(e *synevent.Event) { e.Flags = 0xc2 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ecn:0"},
	{"ns", []func(*synevent.Event){func(e *synevent.Event) { e.Flags = 0x102 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ecn:0"},
	{"seq zero", []func(*synevent.Event){func(e *synevent.Event) { e.Seq = 0 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,seq-:0"},
	{"ack 1: no quirk", []func(*synevent.Event){func(e *synevent.Event) { e.Ack = 1 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ack odd: no quirk", []func(*synevent.Event){func(e *synevent.Event) { e.Ack = 0xfeffffff }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ack bit 24", []func(*synevent.Event){func(e *synevent.Event) { e.Ack = 0x01000000 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ack+:0"},
	{"ack bit 24 with rst", []func(*synevent.Event){func(e *synevent.Event) { e.Ack, e.Flags = 0x01000000, 0x06 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"syn ack zero ack", []func(*synevent.Event){func(e *synevent.Event) { e.Flags = 0x12 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ack-:0"},
	{"urgent pointer", []func(*synevent.Event){func(e *synevent.Event) { e.Urgent = 1 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,uptr+:0"},
	{"urg flag", []func(*synevent.Event){func(e *synevent.Event) { e.Urgent, e.Flags = 1, 0x22 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,urgf+:0"},
	{"push", []func(*synevent.Event){func(e *synevent.Event) { e.Flags = 0x0a }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,pushf+:0"},
	{"payload", []func(*synevent.Event){func(e *synevent.Event) { e.PayloadLen = 10 }},
		"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:+"},
	{"every header quirk", []func(*synevent.Event){func(e *synevent.Event) {
		e.TOS, e.IPFlags, e.Seq, e.Ack, e.Urgent, e.Flags = 1, 0x06, 0, 0xff000000, 9, 0x0a
	}}, "4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+,ecn,0+,seq-,ack+,uptr+,pushf+:0"},

	// Options.
	{"no options", []func(*synevent.Event){opts()}, "4:64+0:0:0:29200,0::df,id+:0"},
	{"ts1 zero, ts2 set", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 0, 0, 0, 0, 1)},
		"4:64+0:0:1460:mss*20,0:mss,ts:df,id+,ts1-,ts2+:0"},
	{"ts2 set on syn+ack", []func(*synevent.Event){func(e *synevent.Event) { e.Flags, e.Ack = 0x12, 5 },
		opts(2, 4, 5, 0xb4, 8, 10, 0, 0, 0, 1, 0, 0, 0, 1)},
		"4:64+0:0:1460:mss*20,0:mss,ts:df,id+:0"},
	{"exws", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 3, 3, 15)}, "4:64+0:0:1460:mss*20,15:mss,ws:df,id+,exws:0"},
	{"ws 14 fine", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 3, 3, 14)}, "4:64+0:0:1460:mss*20,14:mss,ws:df,id+:0"},
	{"eol padding", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 0, 0, 0, 0)}, "4:64+0:0:1460:mss*20,0:mss,eol+3:df,id+:0"},
	{"eol last", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 0)}, "4:64+0:0:1460:mss*20,0:mss,eol+0:df,id+:0"},
	{"data after eol", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 0, 7, 0, 0)},
		"4:64+0:0:1460:mss*20,0:mss,eol+3:df,id+,opt+:0"},
	{"data after eol, middle", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 0, 0, 7, 0)},
		"4:64+0:0:1460:mss*20,0:mss,eol+3:df,id+,opt+:0"},
	{"data after eol, last byte unnoticed", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 0, 0, 0, 7)},
		"4:64+0:0:1460:mss*20,0:mss,eol+3:df,id+:0"},
	{"eol first", []func(*synevent.Event){opts(0, 2, 4, 5, 0xb4)}, "4:64+0:0:0:29200,0:eol+4:df,id+,opt+:0"},
	{"mss bad length", []func(*synevent.Event){opts(2, 5, 5, 0xb4)}, "4:64+0:0:1460:mss*20,0:mss:df,id+,bad:0"},
	{"mss truncated", []func(*synevent.Event){opts(1, 1, 2, 4, 5)}, "4:64+0:0:0:29200,0:nop,nop,mss:df,id+,bad:0"},
	{"mss kind last", []func(*synevent.Event){opts(1, 1, 1, 2)}, "4:64+0:0:0:29200,0:nop,nop,nop,mss:df,id+,bad:0"},
	{"ws bad length", []func(*synevent.Event){opts(3, 4, 7)}, "4:64+0:0:0:29200,7:ws:df,id+,bad:0"},
	{"ws truncated", []func(*synevent.Event){opts(1, 1, 3, 3)}, "4:64+0:0:0:29200,0:nop,nop,ws:df,id+,bad:0"},
	{"sackok bad length", []func(*synevent.Event){opts(4, 3)}, "4:64+0:0:0:29200,0:sok:df,id+,bad:0"},
	{"sackok truncated", []func(*synevent.Event){opts(1, 4)}, "4:64+0:0:0:29200,0:nop,sok:df,id+,bad:0"},
	{"ts bad length", []func(*synevent.Event){opts(8, 12, 0, 0, 0, 1, 0, 0, 0, 0)}, "4:64+0:0:0:29200,0:ts:df,id+,bad:0"},
	{"ts truncated", []func(*synevent.Event){opts(2, 4, 5, 0xb4, 8, 10, 1, 2, 3, 4)},
		"4:64+0:0:1460:mss*20,0:mss,ts:df,id+,bad:0"},
	{"sack", []func(*synevent.Event){opts(5, 10, 0, 0, 0, 1, 0, 0, 0, 2)}, "4:64+0:0:0:29200,0:sack:df,id+:0"},
	{"sack too short", []func(*synevent.Event){opts(5, 9, 0, 0, 0, 1, 0, 0, 0)}, "4:64+0:0:0:29200,0:sack:df,id+,bad:0"},
	{"sack overrun", []func(*synevent.Event){opts(5, 18, 0, 0, 0, 1, 0, 0, 0, 2)}, "4:64+0:0:0:29200,0:sack:df,id+,bad:0"},
	{"sack no length", []func(*synevent.Event){opts(1, 5)}, "4:64+0:0:0:29200,0:nop,sack:df,id+,bad:0"},
	{"unknown option", []func(*synevent.Event){opts(30, 4, 1, 2)}, "4:64+0:0:0:29200,0:?30:df,id+:0"},
	{"unknown option length 1", []func(*synevent.Event){opts(30, 1, 1, 2)}, "4:64+0:0:0:29200,0:?30:df,id+,bad:0"},
	{"unknown option overrun", []func(*synevent.Event){opts(30, 6, 1, 2)}, "4:64+0:0:0:29200,0:?30:df,id+,bad:0"},
	{"unknown option no length", []func(*synevent.Event){opts(1, 254)}, "4:64+0:0:0:29200,0:nop,?254:df,id+,bad:0"},
	{"25 nops", []func(*synevent.Event){opts(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
		"4:64+0:0:0:29200,0:nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop:df,id+,bad:0"},
	{"24 nops", []func(*synevent.Event){opts(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
		"4:64+0:0:0:29200,0:nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop,nop:df,id+:0"},

	// Window multiples, in p0f's order of candidates.
	{"mss", []func(*synevent.Event){func(e *synevent.Event) { e.Window = 1460 * 4 }},
		"4:64+0:0:1460:mss*4,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"mss-12 with ts", []func(*synevent.Event){func(e *synevent.Event) { e.Window = 1448 * 3 }},
		"4:64+0:0:1460:mss*3,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"mss-12 without ts is not tried", []func(*synevent.Event){opts(2, 4, 5, 0xa0, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1428 * 3 }},
		"4:64+0:0:1440:4284,7:mss,nop,ws:df,id+:0"},
	{"1460 when mss differs", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1460 * 5 }},
		"4:64+0:0:1280:mss*5,7:mss,nop,ws:df,id+:0"},
	{"1448 when mss differs", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1448 * 5 }},
		"4:64+0:0:1280:mss*5,7:mss,nop,ws:df,id+:0"},
	{"1440 v4 not tried", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1440 * 7 }},
		"4:64+0:0:1280:10080,7:mss,nop,ws:df,id+:0"},
	{"1440 v6", []func(*synevent.Event){v6, opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1440 * 7 }},
		"6:64+0:0:1280:mss*7,7:mss,nop,ws::0"},
	{"1428 v6", []func(*synevent.Event){v6, opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1428 * 7 }},
		"6:64+0:0:1280:mss*7,7:mss,nop,ws::0"},
	{"mtu mss+40", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1320 * 3 }},
		"4:64+0:0:1280:mtu*3,7:mss,nop,ws:df,id+:0"},
	{"mtu actual headers", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 1328 * 3 }},
		"4:64+0:0:1280:mtu*3,7:mss,nop,ws:df,id+:0"},
	{"mtu v6 mss+60", []func(*synevent.Event){v6, opts(2, 4, 5, 0x00, 1, 3, 3, 7, 1, 1, 1, 1, 1, 1, 1, 1), func(e *synevent.Event) { e.Window = 1340 * 3 }},
		"6:64+0:0:1280:mtu*3,7:mss,nop,ws,nop,nop,nop,nop,nop,nop,nop,nop::0"},
	{"mtu 1500", []func(*synevent.Event){opts(2, 4, 5, 0x00, 1, 3, 3, 7), func(e *synevent.Event) { e.Window = 3000 }},
		"4:64+0:0:1280:mtu*2,7:mss,nop,ws:df,id+:0"},
	{"mss below 100", []func(*synevent.Event){opts(2, 4, 0, 99), func(e *synevent.Event) { e.Window = 99 * 3 }},
		"4:64+0:0:99:297,0:mss:df,id+:0"},
	{"window zero", []func(*synevent.Event){func(e *synevent.Event) { e.Window = 0 }},
		"4:64+0:0:1460:0,7:mss,sok,ts,nop,ws:df,id+:0"},

	// TTL and the distance guess.
	{"ttl 40", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 40 }}, "4:40+24:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 32", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 32 }}, "4:32+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 1", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 1 }}, "4:1+31:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 100", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 100 }}, "4:100+28:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 65", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 65 }}, "4:65+?:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 200", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 200 }}, "4:200+?:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 255", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 255 }}, "4:255+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
	{"ttl 0", []func(*synevent.Event){func(e *synevent.Event) { e.TTL = 0 }}, "4:0+32:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0"},
}

func TestObserveRawSig(t *testing.T) {
	for _, tt := range observeCases {
		t.Run(tt.name, func(t *testing.T) {
			ev := testEvent(tt.mod...)
			o := Observe(ev)
			if got := o.String(); got != tt.want {
				t.Errorf("raw sig\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestObserveFields(t *testing.T) {
	o := Observe(testEvent(func(e *synevent.Event) { e.TOS = 0xb9 }))
	if o.Version != 4 || o.MSS != 1460 || o.WScale != 7 || o.TS1 != 0x12345678 || o.TOS != 0x2e ||
		o.TotalHdr != 60 || o.WinMul != 20 || o.WinMTU || o.IPv6Ext || o.NumOptions != 5 {
		t.Errorf("unexpected fields: %+v", o)
	}
	o = Observe(testEvent(v6, func(e *synevent.Event) { e.IPOptLen, e.IPHdrLen = 16, 56 }))
	if !o.IPv6Ext || o.IPOptLen != 0 || o.TotalHdr != 80 {
		t.Errorf("IPv6 extension headers: %+v", o)
	}
	// Synthetic events without header lengths still give the right totals.
	e := testEvent(func(e *synevent.Event) { e.IPHdrLen, e.DataOffset = 0, 0 })
	if o := Observe(e); o.TotalHdr != 60 {
		t.Errorf("total header length %d, want 60", o.TotalHdr)
	}
}

func TestQuirkNames(t *testing.T) {
	all := Quirks(1<<numQuirks - 1)
	want := "df,id+,id-,ecn,0+,flow,seq-,ack+,ack-,uptr+,urgf+,pushf+,ts1-,ts2+,opt+,exws,bad"
	if got := all.String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := Quirks(0).String(); got != "" {
		t.Errorf("no quirks: %q", got)
	}
}
