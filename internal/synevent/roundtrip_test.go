package synevent

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// randomEvent draws every field of an event from r: either family, any
// option bytes up to 40, any action.
func randomEvent(r *rand.Rand) Event {
	e := Event{
		Time:     time.Unix(0, r.Int64N(4e18)).UTC(),
		KernelNs: r.Uint64(), Ifindex: r.Uint32(), RxQueue: r.Uint32(),
		VLAN: uint16(r.Uint32()), VLANInner: uint16(r.Uint32()),
		SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Seq: r.Uint32(), Ack: r.Uint32(),
		Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()), Flags: uint16(r.Uint32()),
		DataOffset: uint8(r.Uint32()), OptLen: uint8(r.IntN(41)), TTL: uint8(r.Uint32()),
		IPID: uint16(r.Uint32()), IPFlags: uint8(r.Uint32()), TOS: uint8(r.Uint32()), FlowLabel: r.Uint32(),
		IPHdrLen: uint16(r.Uint32()), IPOptLen: uint16(r.Uint32()), ExtHeaders: uint8(r.Uint32()),
		PayloadLen: uint16(r.Uint32()),
		Action:     dataplane.ActionRST + dataplane.Action(r.IntN(int(dataplane.ActionReplyFailed-dataplane.ActionRST)+1)),
	}
	for i := range e.OptLen {
		e.Options[i] = byte(r.Uint32())
	}
	if r.IntN(2) == 0 {
		var a, b [4]byte
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		e.Src, e.Dst = netip.AddrFrom4(a), netip.AddrFrom4(b)
	} else {
		var a, b [16]byte
		for i := range a {
			a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		e.Src, e.Dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
	}
	return e
}

func checkRoundTrip(t *testing.T, e Event) {
	t.Helper()
	line := e.AppendJSON(nil)
	if !json.Valid(line) {
		t.Fatalf("not JSON: %s", line)
	}
	var back Event
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if back != e {
		t.Fatalf("round trip of %s:\n got %+v\nwant %+v", line, back, e)
	}
}

func TestJSONRoundTripRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		r := rand.New(rand.NewPCG(seed, 15))
		for range 2000 {
			checkRoundTrip(t, randomEvent(r))
		}
	}
}

func FuzzJSONRoundTrip(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		checkRoundTrip(t, randomEvent(rand.New(rand.NewPCG(seed, 15))))
	})
}
