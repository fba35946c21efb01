package capture

import (
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/synevent"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// TestEventsRoundTrip: SYNs written to a pcap, read back through the
// reference data plane, give the events they were built from; events rebuilt
// as frames (the agent's --pcap-out) read back as the same events.
func TestEventsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "syns.pcap")
	w, err := NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	specs := []synframe.Spec{
		{Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("198.51.100.25"), SrcPort: 40001, Seq: 1, TTL: 50, DF: true, ID: 7, Window: 64240, TCPOptions: synframe.LinuxOptions},
		{Src: netip.MustParseAddr("2001:db8::7"), Dst: netip.MustParseAddr("2001:db8::25"), SrcPort: 40002, Seq: 2, TTL: 110, FlowLabel: 99, Window: 65535, TCPOptions: synframe.WindowsOptions,
			VLANs: []synframe.VLAN{{TPID: 0x8100, TCI: 10}}, Ext: []synframe.ExtHeader{{Type: 60, Body: []byte{1, 4, 0, 0, 0, 0}}}},
		{Src: netip.MustParseAddr("192.0.2.8"), Dst: netip.MustParseAddr("198.51.100.25"), SrcPort: 443, DstPort: 443}, // not a sensor SYN
		{Src: netip.MustParseAddr("192.0.2.9"), Dst: netip.MustParseAddr("198.51.100.25"), SrcPort: 40003, IPOptions: []byte{1, 1, 1, 0}, Payload: []byte("xyz")},
	}
	for i, s := range specs {
		if err := w.WriteFrame(t0.Add(time.Duration(i)*time.Millisecond), s.Build()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(path string) []synevent.Event {
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cfg := dataplane.DefaultConfig()
		er := NewEventReader(r, cfg)
		var evs []synevent.Event
		for {
			ev, err := er.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, *ev)
		}
		if er.Counters[dataplane.CntPackets] != 4 || er.Counters[dataplane.CntPassOtherPort] != 1 || er.Counters[dataplane.CntRSTSent] != 3 {
			t.Errorf("counters %v", er.Counters.Map())
		}
		return evs
	}
	evs := read(path)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	want := []struct {
		src   string
		sport uint16
		ttl   uint8
		opts  int
		pl    uint16
		ts    time.Time
	}{{"192.0.2.7", 40001, 50, 20, 0, t0}, {"2001:db8::7", 40002, 110, 12, 0, t0.Add(time.Millisecond)}, {"192.0.2.9", 40003, 64, 0, 3, t0.Add(3 * time.Millisecond)}}
	for i, w := range want {
		e := evs[i]
		if e.Src.String() != w.src || e.SrcPort != w.sport || e.TTL != w.ttl || int(e.OptLen) != w.opts || e.PayloadLen != w.pl || !e.Time.Equal(w.ts) {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if evs[1].VLAN != 10 || evs[1].IPOptLen != 8 || evs[1].FlowLabel != 99 || evs[2].IPOptLen != 4 {
		t.Errorf("vlan/ext/options: %+v %+v", evs[1], evs[2])
	}

	// Rebuild frames from the events, as --pcap-out does, and read them again.
	path2 := filepath.Join(t.TempDir(), "rebuilt.pcap")
	w2, err := NewRotatingWriter(path2, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if err := w2.WriteFrame(evs[i].Time, evs[i].Frame()); err != nil {
			t.Fatal(err)
		}
	}
	// Pad to the 4 frames the counter check above expects.
	if err := w2.WriteFrame(t0, specs[2].Build()); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	again := read(path2)
	for i := range evs {
		if again[i] != evs[i] {
			t.Errorf("rebuilt event %d differs:\n got %+v\nwant %+v", i, again[i], evs[i])
		}
	}
}
