package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/collector"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// The fleet's fault tests run a sensor's publisher (its outbox in its
// store), NATS JetStream servers and the collector in the test process;
// each ends with every record the sensor produced in the collector's
// store exactly once.

// fleetRig is a sensor's publisher and a collector on servers at urls.
type fleetRig struct {
	t    *testing.T
	st   *store.Store
	pub  *publish.Publisher
	col  *collector.Collector
	db   string
	want fleettest.Keys
	n    int // records written: the next one's number
}

func startRig(t *testing.T, urls []string, replicas int) *fleetRig {
	t.Helper()
	dir := t.TempDir()
	stream := fleet.DefaultStreamConfig()
	stream.Replicas = replicas
	conn := fleet.ConnConfig{URLs: urls, ReconnectWait: 20 * time.Millisecond}
	r := &fleetRig{t: t, db: filepath.Join(dir, "c.db"), want: fleettest.Keys{}}

	col, err := collector.New(collector.Config{DB: r.db, Store: store.DefaultConfig(), Conn: conn, Stream: stream,
		List: fleet.ListConfig{Replicas: replicas, Expire: time.Hour}, ListOptions: blocklist.DefaultOptions(),
		ListInterval: time.Hour, SpamWindow: 24 * time.Hour, Batch: 100}, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("collector"))
	if err != nil {
		t.Fatal(err)
	}
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	r.col = col
	t.Cleanup(func() { r.stopCollector() })

	scfg := store.DefaultConfig()
	scfg.FlushInterval = 20 * time.Millisecond
	scfg.Outbox = store.OutboxConfig{MaxBytes: 64 << 20, DropFirst: publish.DropFirst}
	if r.st, err = store.Open(filepath.Join(dir, "sensor.db"), scfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	pcfg := publish.DefaultConfig()
	pcfg.Sensor, pcfg.Conn, pcfg.Stream = "s1", conn, stream
	pcfg.AckWait, pcfg.Retry, pcfg.RetryMax, pcfg.Poll = 2*time.Second, 10*time.Millisecond, 200*time.Millisecond, 10*time.Millisecond
	if r.pub, err = publish.New(pcfg, publish.Dependencies{Outbox: r.st, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("sensor")}); err != nil {
		t.Fatal(err)
	}
	if err := r.pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.pub.Stop() })
	return r
}

func (r *fleetRig) stopCollector() {
	if r.col != nil {
		if err := r.col.Stop(); err != nil {
			r.t.Error(err)
		}
		r.col = nil
	}
}

// write has the sensor record n deliveries: an IPv4 attempt, its
// rejection and an IPv6 attempt's association with it.
func (r *fleetRig) write(n int) {
	r.t.Helper()
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for range n {
		i := r.n
		r.n++
		at := base.Add(time.Duration(i) * time.Second)
		v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		a := record.Attempt{FirstSeen: at, LastSeen: at, Family: record.IPv4, Src: v4, SrcPort: uint16(1024 + i%60000),
			Dst: netip.MustParseAddr("192.0.2.25"), DstPort: 25, SYNs: 1}
		as := record.Association{FirstSeen: at.Add(time.Second), Src: netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%x", i>>16, i&0xffff)),
			SrcPort: a.SrcPort, SYNs: 1, IPv4: record.IPv4Ref{Src: v4, SrcPort: a.SrcPort, FirstSeen: at}, Score: 0.9}
		rj := record.Rejection{Time: at.Add(time.Minute), IP: v4, Zone: "zen.example", MTA: record.MTAPostfixSMTPD}
		for _, err := range []error{r.pub.WriteAttempt(&a), r.pub.WriteAssociation(&as), r.pub.RecordRejection(&rj)} {
			if err != nil {
				r.t.Fatal(err)
			}
		}
		r.want.AddAttempt(&a)
		r.want.AddAssociation(&as)
		r.want.AddRejection(&rj)
	}
}

// stored is how many records the collector has stored so far.
func (r *fleetRig) stored() uint64 {
	s := r.col.Stats()
	return s.Ingested[fleet.KindAttempt] + s.Ingested[fleet.KindAssociation] + s.Ingested[fleet.KindRejection]
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out (%s) waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumerInfo describes the collector's consumer, for a failure.
func (r *fleetRig) consumerInfo() string {
	js := fleettest.Connect(r.t, "test reader", r.col.URLs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, fleet.StreamName, collector.DefaultDurable)
	if err != nil {
		return err.Error()
	}
	i, err := c.Info(ctx)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("delivered %+v, ack floor %+v, ack pending %d, redelivered %d, pending %d, waiting %d",
		i.Delivered, i.AckFloor, i.NumAckPending, i.NumRedelivered, i.NumPending, i.NumWaiting)
}

// finish waits until the sensor's outbox is empty and the collector has
// stored every record, stops the collector and compares its store with
// what the sensor recorded.
func (r *fleetRig) finish() {
	r.t.Helper()
	if err := r.st.Sync(); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if left, err := r.pub.Wait(ctx); err != nil {
		r.t.Fatalf("%d messages not acknowledged: %v (publisher %+v)", left, err, r.pub.Stats())
	}
	want := uint64(3 * r.n)
	deadline := time.Now().Add(40 * time.Second)
	for r.stored() < want {
		if time.Now().After(deadline) {
			r.t.Fatalf("the collector stored %d records of %d within 40 s; its consumer: %s", r.stored(), want, r.consumerInfo())
		}
		time.Sleep(20 * time.Millisecond)
	}
	x := r.col.Stats()
	r.stopCollector()
	r.t.Logf("publisher %+v; collector ingested %v, duplicates %v", r.pub.Stats(), x.Ingested, x.Duplicates)
	fleettest.Compare(r.t, "the collector's store", fleettest.StoredKeys(r.t, r.db, "s1"), r.want)
	if st := r.pub.Stats(); len(st.DeadLetters) > 0 || len(st.Outbox.Dropped) > 0 {
		r.t.Errorf("lost by the sensor: %+v", st)
	}
}

// TestFleetClusterNodeKilled: a 3-node cluster, the stream replicated on
// all three; its leader is killed while the sensor publishes and the
// collector consumes. The publisher and the collector fail over to the
// other nodes, and every record reaches the collector's store once.
func TestFleetClusterNodeKilled(t *testing.T) {
	c := fleettest.StartCluster(t, 3)
	r := startRig(t, c.URLs(), 3)
	const total, chunk = 3000, 30
	third := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the sensor records at a steady pace meanwhile
		defer wg.Done()
		for r.n < total {
			r.write(chunk)
			if r.n >= total/3 && r.n < total/3+chunk {
				close(third)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-third
	waitUntil(t, "the first records stored", 40*time.Second, func() bool { return r.stored() > 0 })
	leader := c.Leader(fleet.StreamName)
	if leader == nil {
		t.Fatal("the stream has no leader")
	}
	t.Logf("killing %s, the stream's leader, with %d records stored", leader.Config.Name, r.stored())
	leader.Stop()
	wg.Wait()
	r.finish()
	if l := c.Leader(fleet.StreamName); l == nil || l == leader {
		t.Errorf("the stream's leader after the kill: %v", l)
	}
}

// TestFleetBrokerOutage: the single server goes down while the sensor
// keeps recording (its outbox grows) and comes back on the same port and
// store; the publisher and the collector reconnect, and every record
// reaches the collector's store once.
func TestFleetBrokerOutage(t *testing.T) {
	n := fleettest.Start(t)
	r := startRig(t, []string{"nats://" + n.Config.Listen}, 1)
	r.write(500)
	waitUntil(t, "the first records stored", 40*time.Second, func() bool { return r.stored() > 0 })
	n.Stop()
	r.write(1000)
	if err := r.st.Sync(); err != nil {
		t.Fatal(err)
	}
	if o := r.st.OutboxStats(); o.Rows < 3000 {
		t.Errorf("the outbox holds %d messages during the outage, want the 3000 recorded meanwhile at least", o.Rows)
	}
	n.Restart(t)
	r.write(500)
	r.finish()
}
