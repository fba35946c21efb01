package synevent

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/dataplane"
)

func sampleRecord() dataplane.Record {
	r := dataplane.Record{TsNs: 123456789, Ifindex: 3, RxQueue: 1, Sport: 50123, Dport: 25, Seq: 0xdeadbeef,
		Ack: 0, Window: 64240, UrgPtr: 0, TcpFlags: 0x02, VlanOuter: 10, FlowLabel: 0, IpId: 777, IpHdrLen: 24,
		IpOptLen: 4, Family: 4, Ttl: 57, Tos: 0x02, IpFlags: 0x02, Doff: 10, OptLen: 20, Action: 0, PayloadLen: 3}
	copy(r.Saddr[:], []byte{192, 0, 2, 7})
	copy(r.Daddr[:], []byte{198, 51, 100, 25})
	copy(r.Options[:], []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7})
	return r
}

func TestFromRecordAndJSON(t *testing.T) {
	r := sampleRecord()
	var ev Event
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	ev.FromRecord(&r, ts)
	if ev.Src != netip.MustParseAddr("192.0.2.7") || ev.Dst != netip.MustParseAddr("198.51.100.25") || ev.Family() != 4 || !ev.DF() {
		t.Fatalf("event %+v", ev)
	}
	line := string(ev.AppendJSON(nil))
	for _, want := range []string{`"ts":"2026-11-26T10:00:00.123456789Z"`, `"src":"192.0.2.7"`, `"sport":50123`,
		`"dst":"198.51.100.25"`, `"dport":25`, `"ttl":57`, `"win":64240`, `"options":"020405b40402080a010203040000000001030307"`, `"action":"rst"`} {
		if !strings.Contains(line, want) {
			t.Errorf("JSON lacks %s: %s", want, line)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, line)
	}
	var back Event
	if err := json.Unmarshal([]byte(line), &back); err != nil {
		t.Fatal(err)
	}
	if back != ev {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, ev)
	}

	r6 := sampleRecord()
	r6.Family = 6
	copy(r6.Saddr[:], netip.MustParseAddr("2001:db8::7").AsSlice())
	copy(r6.Daddr[:], netip.MustParseAddr("2001:db8::25").AsSlice())
	r6.FlowLabel = 0xabcde
	ev.FromRecord(&r6, ts)
	if ev.Src.String() != "2001:db8::7" || ev.Family() != 6 {
		t.Errorf("ipv6 event %+v", ev)
	}
	if err := json.Unmarshal(ev.AppendJSON(nil), &back); err != nil || back != ev {
		t.Errorf("ipv6 round trip: %v", err)
	}
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	for _, s := range []string{`{`, `{"src":"x"}`, `{"src":"192.0.2.1","dst":"192.0.2.2","options":"zz","action":"rst"}`,
		`{"src":"192.0.2.1","dst":"192.0.2.2","options":"","action":"bogus"}`, `{"dst":"192.0.2.2","action":"rst"}`} {
		var ev Event
		if err := json.Unmarshal([]byte(s), &ev); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}

// TestNoAllocs: the agent's hot path (record -> event -> JSON into a reused
// buffer) allocates nothing.
func TestNoAllocs(t *testing.T) {
	r := sampleRecord()
	var ev Event
	buf := make([]byte, 0, 1024)
	ts := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		ev.FromRecord(&r, ts)
		buf = ev.AppendJSON(buf[:0])
	}); n != 0 {
		t.Errorf("%v allocations per event", n)
	}
}

func BenchmarkRecordToJSON(b *testing.B) {
	r := sampleRecord()
	var ev Event
	buf := make([]byte, 0, 1024)
	ts := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		ev.FromRecord(&r, ts)
		buf = ev.AppendJSON(buf[:0])
	}
}

// TestFrameLongExtensionHeaders: a record of an IPv6 SYN with 2064 bytes of
// extension headers rebuilds into a valid frame carrying the same length.
func TestFrameLongExtensionHeaders(t *testing.T) {
	r := sampleRecord()
	r.Family = 6
	copy(r.Saddr[:], netip.MustParseAddr("2001:db8::7").AsSlice())
	copy(r.Daddr[:], netip.MustParseAddr("2001:db8::25").AsSlice())
	r.IpOptLen, r.IpHdrLen = 264, 40+264
	var ev Event
	ev.FromRecord(&r, time.Now())
	frame := ev.Frame()
	ref := dataplane.NewReference(dataplane.Config{Ports: []uint16{25}, ReplyTTL: 64, RateLimitEntries: 1, RingSize: 4096})
	var got dataplane.Record
	if res := ref.Run(frame, 0, &got); !res.Matched || got.IpOptLen != 264 || got.PayloadLen != r.PayloadLen {
		t.Fatalf("rebuilt frame: %+v, ip_opt_len %d", res, got.IpOptLen)
	}
}
