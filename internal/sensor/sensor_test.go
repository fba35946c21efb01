package sensor

import (
	"context"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/synevent"
	"github.com/mxsensor/mxsensor/internal/synframe"
)

// countSink counts events and checks they are distinct SYNs in order.
type countSink struct {
	n       int
	lastSeq uint32
	bad     int
	flushes int
}

func (c *countSink) Write(ev *synevent.Event) error {
	if c.n > 0 && ev.Seq != c.lastSeq+1 {
		c.bad++
	}
	c.lastSeq = ev.Seq
	c.n++
	return nil
}
func (c *countSink) Flush() error { c.flushes++; return nil }
func (c *countSink) Close() error { return nil }

// TestDrainTakesEverythingWithoutAllocating: records the program wrote are
// all delivered, in order, after a stop; draining allocates nothing per record.
func TestDrainTakesEverythingWithoutAllocating(t *testing.T) {
	netlab.RequireRoot(t)
	dp := dataplane.DefaultConfig()
	dp.Mode = dataplane.ModeObserve
	dp.RingSize = 8 << 20
	objs, err := dataplane.Load(dp)
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	ring, err := dataplane.NewRingReader(objs.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()

	const n = 20000
	out := make([]byte, 256)
	for i := 0; i < n; i++ {
		frame := synframe.Spec{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.25"),
			SrcPort: uint16(1024 + i%60000), Seq: uint32(i), TCPOptions: synframe.LinuxOptions}.Build()
		if _, err := objs.Program().Run(&ebpf.RunOptions{Data: frame, DataOut: out}); err != nil {
			t.Fatal(err)
		}
	}
	sink := &countSink{}
	jl := NewJSONLinesWriter(discard{})
	cfg := DefaultConfig()
	cfg.Iface = "test0"
	cfg.Dataplane = dp
	s, err := New(cfg, zap.NewNop(), sink, jl)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.drainRemaining(ring); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if sink.n != n || sink.bad != 0 || s.Stats().Events != n {
		t.Fatalf("delivered %d events (%d out of order), want %d", sink.n, sink.bad, n)
	}
	if allocs := after.Mallocs - before.Mallocs; allocs > n/100 {
		t.Errorf("%d allocations for %d records: the drain allocates per record", allocs, n)
	}
	if ring.Pending() != 0 {
		t.Errorf("%d bytes left in the ring", ring.Pending())
	}
}

// TestLiveDrainStopsUnderLoad: a stop request ends the live drain even while
// records keep coming, so the agent can detach.
func TestLiveDrainStopsUnderLoad(t *testing.T) {
	netlab.RequireRoot(t)
	dp := dataplane.DefaultConfig()
	dp.Mode = dataplane.ModeObserve
	objs, err := dataplane.Load(dp)
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	ring, err := dataplane.NewRingReader(objs.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	frame := synframe.Spec{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.25"), SrcPort: 999}.Build()
	stop := make(chan struct{})
	produced := make(chan int)
	var running atomic.Int64
	go func() {
		out := make([]byte, 256)
		k := 0
		for {
			select {
			case <-stop:
				produced <- k
				return
			default:
			}
			if _, err := objs.Program().Run(&ebpf.RunOptions{Data: frame, DataOut: out}); err == nil {
				k++
				running.Store(int64(k))
			}
		}
	}()
	sink := &countSink{}
	cfg := DefaultConfig()
	cfg.Iface = "test0"
	cfg.Dataplane = dp
	s, _ := New(cfg, zap.NewNop(), sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.drain(ctx, ring, false) }()
	for running.Load() < 5000 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(stop)
	k := <-produced
	if err := s.drainRemaining(ring); err != nil {
		t.Fatal(err)
	}
	c, _, _ := objs.ReadCounters()
	if uint64(s.Stats().Events)+c[dataplane.CntRecordsLost] != uint64(k) {
		t.Errorf("produced %d, delivered %d, lost %d", k, s.Stats().Events, c[dataplane.CntRecordsLost])
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
