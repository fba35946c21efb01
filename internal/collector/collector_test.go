package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/report"
	"github.com/mxsensor/mxsensor/internal/store"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// publisher publishes records as a sensor does.
type publisher struct {
	t  *testing.T
	js jetstream.JetStream
}

func newPublisher(t *testing.T, url string) *publisher {
	t.Helper()
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: []string{url}, Name: "test-sensor"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := fleet.EnsureStream(ctx, js, fleet.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	return &publisher{t: t, js: js}
}

// raw publishes data on subject with message id id; it reports whether
// the stream dropped it as a duplicate.
func (p *publisher) raw(subject string, data []byte, id string) bool {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := p.js.Publish(ctx, subject, data, jetstream.WithMsgID(id))
	if err != nil {
		p.t.Fatal(err)
	}
	return ack.Duplicate
}

// line publishes a record line of sensor with kind k under msg id id.
func (p *publisher) line(sensor string, k fleet.Kind, line []byte, id string) bool {
	p.t.Helper()
	b, err := fleet.AppendBody(nil, sensor, line)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.raw(fleet.Subject(sensor, k), b, id)
}

func attemptID(sensor string, a *record.Attempt) string {
	return fleet.MsgID(sensor, fleet.KindAttempt, a.Src, a.SrcPort, a.FirstSeen, "")
}

func startServer(t *testing.T) *fleet.Embedded {
	t.Helper()
	e, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func testConfig(t *testing.T, db string) Config {
	return Config{DB: db, Store: store.DefaultConfig(), Stream: fleet.DefaultStreamConfig(),
		List: fleet.ListConfig{Expire: time.Hour}, ListOptions: blocklist.DefaultOptions(), ListInterval: time.Hour,
		SpamWindow: 24 * time.Hour, Batch: 2}
}

// runIdle runs a collector until it has been idle for a moment.
func runIdle(t *testing.T, cfg Config) StatsSnapshot {
	t.Helper()
	cfg.ExitIdle = 300 * time.Millisecond
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the collector did not exit when idle")
	}
	return c.Stats()
}

func count(t *testing.T, db, q string) int {
	t.Helper()
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	if err := st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fleetSample: s1 sees an IPv4 attempt and the IPv6 attempt associated
// with it, s3 another IPv6 attempt of the same /64 associated with the
// same IPv4; only s2's reject log lists the IPv4, and its rejection is
// published last.
func fleetSample() (*record.Attempt, *record.Association, *record.Association, *record.Rejection) {
	v4 := &record.Attempt{FirstSeen: t0, LastSeen: t0, Family: record.IPv4, Src: netip.MustParseAddr("192.0.2.7"), SrcPort: 4000,
		Dst: netip.MustParseAddr("198.51.100.25"), DstPort: 25, SYNs: 1, OSClass: "Linux"}
	as := func(src string, dt time.Duration) *record.Association {
		return &record.Association{FirstSeen: t0.Add(dt), Src: netip.MustParseAddr(src), SrcPort: 4001, SYNs: 1, OSClass: "Linux",
			AddrType: "eui64", IPv4: record.IPv4Ref{Src: v4.Src, SrcPort: v4.SrcPort, FirstSeen: v4.FirstSeen}, Score: 0.9,
			Evidence: []string{"order:x"}}
	}
	rej := &record.Rejection{Time: t0.Add(time.Hour), IP: v4.Src, Zone: "zen.example", MTA: record.MTAPostfixSMTPD}
	return v4, as("2001:db8:1:2::7", time.Second), as("2001:db8:1:2::8", 2*time.Second), rej
}

// TestCollectExactlyOnceAnyOrder: every record is stored once whether it
// is published again within the duplicate window (the stream drops it) or
// beyond it (another message id: the store's keys ignore it); the
// associations published before the rejection that lists their IPv4 end
// up spammer; malformed messages are counted, not stored; the shared list
// holds the prefix with both sensors that saw it.
func TestCollectExactlyOnceAnyOrder(t *testing.T) {
	srv := startServer(t)
	p := newPublisher(t, srv.URL())
	v4, as1, as3, rej := fleetSample()
	type msg struct {
		sensor string
		k      fleet.Kind
		line   []byte
		id     string
	}
	msgs := []msg{
		{"s1", fleet.KindAttempt, v4.AppendJSON(nil), attemptID("s1", v4)},
		{"s1", fleet.KindAssociation, as1.AppendJSON(nil), fleet.MsgID("s1", fleet.KindAssociation, as1.Src, as1.SrcPort, as1.FirstSeen, "")},
		{"s3", fleet.KindAssociation, as3.AppendJSON(nil), fleet.MsgID("s3", fleet.KindAssociation, as3.Src, as3.SrcPort, as3.FirstSeen, "")},
		{"s2", fleet.KindRejection, rej.AppendJSON(nil), fleet.MsgID("s2", fleet.KindRejection, rej.IP, 0, rej.Time, rej.Zone)},
	}
	for _, m := range msgs {
		if p.line(m.sensor, m.k, m.line, m.id) {
			t.Fatalf("first publish of %s dropped", m.id)
		}
		if !p.line(m.sensor, m.k, m.line, m.id) {
			t.Errorf("second publish of %s within the window kept", m.id)
		}
	}
	// Beyond the window: the same records under other ids.
	for _, m := range msgs {
		p.line(m.sensor, m.k, m.line, m.id+".again")
	}
	p.raw(fleet.Subject("s1", fleet.KindAttempt), []byte("{not json"), "bad1")
	p.raw(fleet.Subject("s1", fleet.KindAttempt), []byte(`{"sensor":"s2","src":"192.0.2.1"}`), "bad2")
	p.raw(fleet.SubjectPrefix+".s1.mail", []byte(`{"sensor":"s1"}`), "bad3")
	p.raw(fleet.Subject("s1", fleet.KindStatus), []byte(`{"sensor":"s1","version":"dev"}`), "status1")

	db := filepath.Join(t.TempDir(), "c.db")
	cfg := testConfig(t, db)
	cfg.Conn = fleet.ConnConfig{URLs: []string{srv.URL()}}
	x := runIdle(t, cfg)

	for k, want := range map[fleet.Kind]uint64{fleet.KindAttempt: 1, fleet.KindAssociation: 2, fleet.KindRejection: 1, fleet.KindStatus: 1} {
		if x.Ingested[k] != want {
			t.Errorf("%s ingested %d, want %d", k, x.Ingested[k], want)
		}
	}
	for k, want := range map[fleet.Kind]uint64{fleet.KindAttempt: 1, fleet.KindAssociation: 2, fleet.KindRejection: 1} {
		if x.Duplicates[k] != want {
			t.Errorf("%s duplicates %d, want %d", k, x.Duplicates[k], want)
		}
	}
	if x.Malformed != 3 || x.Relabelled != 3 || x.Sensors != 3 {
		t.Errorf("malformed %d (want 3), relabelled %d (want 3), sensors %d (want 3)", x.Malformed, x.Relabelled, x.Sensors)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM associations WHERE spammer = 1"); n != 2 {
		t.Errorf("%d spammer associations, want 2", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM attempts WHERE blocklisted = 1"); n != 1 {
		t.Errorf("%d blocklisted attempts, want 1", n)
	}

	// The shared list.
	js := fleettest.Connect(t, "test reader", srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, fleet.ListBucket)
	if err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix("2001:db8:1:2::/64")
	e, err := kv.Get(ctx, fleet.PrefixKey(pfx))
	if err != nil {
		t.Fatal(err)
	}
	var entry blocklist.Entry
	if err := json.Unmarshal(e.Value(), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Prefix != pfx || entry.Attempts != 2 || !slices.Equal(entry.Sensors, []string{"s1", "s3"}) || entry.FirstListed.IsZero() {
		t.Errorf("list entry %+v", entry)
	}
	if x.ListEntries != 1 || x.ListPuts != 1 {
		t.Errorf("list entries %d, puts %d", x.ListEntries, x.ListPuts)
	}

	// The fleet report: both sensors side by side, and the /64 they share.
	st, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.BuildFrom(st, report.Config{})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Attempts4 != 1 || r.Fleet == nil || len(r.Fleet.Sensors) != 2 || r.Fleet.Sensors[1].Sensor != "s3" ||
		r.Fleet.Sensors[1].Summary.SpamHostsAssoc != 1 || len(r.Fleet.Shared) != 1 || r.Fleet.Shared[0].Prefix != pfx ||
		!slices.Equal(r.Fleet.Shared[0].Sensors, []string{"s1", "s3"}) || r.Fleet.Shared[0].Spammer != 2 {
		t.Errorf("fleet report %+v %+v", r.Summary, r.Fleet)
	}
	var text strings.Builder
	if err := report.WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`2001:db8:1:2::/64 +s1,s3 +2 +2 `).MatchString(text.String()) ||
		!strings.Contains(text.String(), "Per sensor") {
		t.Errorf("text report:\n%s", text.String())
	}

	// A second run over the same store writes nothing: the entry has not
	// changed.
	x = runIdle(t, cfg)
	if x.ListPuts != 0 || x.Ingested[fleet.KindAttempt] != 0 {
		t.Errorf("second run: %+v", x)
	}
}

// TestCollectResumes: a collector stopped mid-stream and started again
// resumes from its durable consumer: every record stored once.
func TestCollectResumes(t *testing.T) {
	srv := startServer(t)
	p := newPublisher(t, srv.URL())
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			a := &record.Attempt{FirstSeen: t0.Add(time.Duration(i) * time.Second), Family: record.IPv6,
				Src: netip.MustParseAddr("2001:db8::1"), SrcPort: uint16(1000 + i), Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25, SYNs: 1}
			a.LastSeen = a.FirstSeen
			p.line("s1", fleet.KindAttempt, a.AppendJSON(nil), attemptID("s1", a))
		}
	}
	publish(0, 40)
	db := filepath.Join(t.TempDir(), "c.db")
	cfg := testConfig(t, db)
	cfg.Conn = fleet.ConnConfig{URLs: []string{srv.URL()}}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().Ingested[fleet.KindAttempt] == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	first := c.Stats().Ingested[fleet.KindAttempt]
	if first == 0 || first == 40 {
		t.Logf("stopped after %d of 40 (not mid-stream; the test still checks the resume)", first)
	}
	publish(40, 60)
	x := runIdle(t, cfg)
	if got := first + x.Ingested[fleet.KindAttempt]; got != 60 {
		t.Errorf("stored %d + %d, want 60 in all", first, x.Ingested[fleet.KindAttempt])
	}
	if n := count(t, db, "SELECT COUNT(*) FROM attempts"); n != 60 {
		t.Errorf("%d rows, want 60", n)
	}
}

// TestCollectEmbedded: the collector's own server takes sensors'
// messages; the metrics count them.
func TestCollectEmbedded(t *testing.T) {
	db := filepath.Join(t.TempDir(), "c.db")
	cfg := testConfig(t, db)
	cfg.Embedded = &fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}
	c := startCollector(t, cfg)
	p := newPublisher(t, c.URLs()[0])
	v4, _, _, _ := fleetSample()
	p.line("s9", fleet.KindAttempt, v4.AppendJSON(nil), attemptID("s9", v4))
	p.raw(fleet.Subject("s9", fleet.KindAttempt), []byte("[]"), "bad")
	deadline := time.Now().Add(30 * time.Second)
	for (c.Stats().Ingested[fleet.KindAttempt] == 0 || c.Stats().Malformed == 0) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().Ingested[fleet.KindAttempt]; n != 1 {
		t.Errorf("%d attempts ingested, want 1", n)
	}
	want := `
# HELP mxsensor_collector_malformed_total Messages that could not be ingested (a body that does not decode, an unknown kind, a sensor id other than the subject's): acknowledged and dropped.
# TYPE mxsensor_collector_malformed_total counter
mxsensor_collector_malformed_total 1
# HELP mxsensor_collector_sensors Sensors whose records the collector holds.
# TYPE mxsensor_collector_sensors gauge
mxsensor_collector_sensors 1
`
	if err := testutil.GatherAndCompare(c.Gatherer(), strings.NewReader(want), "mxsensor_collector_malformed_total", "mxsensor_collector_sensors"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(c.Gatherer(), "mxsensor_collector_messages_ingested_total"); err != nil || n != len(fleet.Kinds) {
		t.Errorf("ingested series %d %v", n, err)
	}
}

// startCollector starts a collector, stopped at the test's end.
func startCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

// publishSample publishes fleetSample's records to a new server, and
// returns its publisher and a collector's configuration for it.
func publishSample(t *testing.T) (*publisher, Config) {
	t.Helper()
	srv := startServer(t)
	p := newPublisher(t, srv.URL())
	v4, as1, as3, rej := fleetSample()
	p.line("s1", fleet.KindAttempt, v4.AppendJSON(nil), attemptID("s1", v4))
	p.line("s1", fleet.KindAssociation, as1.AppendJSON(nil), "as1")
	p.line("s3", fleet.KindAssociation, as3.AppendJSON(nil), "as3")
	p.line("s2", fleet.KindRejection, rej.AppendJSON(nil), "rej")
	cfg := testConfig(t, filepath.Join(t.TempDir(), "c.db"))
	cfg.Conn = fleet.ConnConfig{URLs: []string{srv.URL()}}
	return p, cfg
}

// TestListRefilled: entries the shared list's bucket loses (purged, or
// the bucket deleted and created again) are written again at the next
// interval, though nothing new was ingested.
func TestListRefilled(t *testing.T) {
	p, cfg := publishSample(t)
	cfg.ListInterval = 50 * time.Millisecond
	startCollector(t, cfg)

	js := p.js
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := fleet.PrefixKey(netip.MustParsePrefix("2001:db8:1:2::/64"))
	// listed waits (at most until ctx is done) for the bucket to hold key.
	listed := func(what string) {
		t.Helper()
		for ctx.Err() == nil {
			if kv, err := js.KeyValue(ctx, fleet.ListBucket); err == nil {
				if _, err := kv.Get(ctx, key); err == nil {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: %s not in the bucket", what, key)
	}
	listed("first write")
	s, err := js.Stream(ctx, "KV_"+fleet.ListBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	listed("after a purge")
	if err := js.DeleteKeyValue(ctx, fleet.ListBucket); err != nil {
		t.Fatal(err)
	}
	listed("after the bucket was deleted")
}

// TestCollectAbandonedPull: messages the server delivered to a pull
// request nobody reads any more (a fetch the client gave up on, resent by
// its reconnection; a collector killed with a batch) are delivered again
// soon, not a minute later, and --exit-idle waits for them.
func TestCollectAbandonedPull(t *testing.T) {
	p, cfg := publishSample(t)
	cfg.Durable = DefaultDurable
	// The collector's consumer, and a pull request for 2 messages whose
	// reply subject nobody listens on, before the collector fetches.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, fleet.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, consumerConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	nc := p.js.Conn()
	sub, err := nc.SubscribeSync("_INBOX.abandoned") // never read
	if err != nil {
		t.Fatal(err)
	}
	next := fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", fleet.StreamName, cfg.Durable)
	if err := nc.PublishRequest(next, "_INBOX.abandoned", []byte(`{"batch":2}`)); err != nil {
		t.Fatal(err)
	}
	for {
		if i, err := cons.Info(ctx); err == nil && i.NumAckPending == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the abandoned pull request was not answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}

	// An idle collector waits for them before it exits.
	x := runIdle(t, cfg)
	if n := x.Ingested[fleet.KindAttempt] + x.Ingested[fleet.KindAssociation] + x.Ingested[fleet.KindRejection]; n != 4 {
		t.Errorf("%d records stored, want 4: %+v", n, x)
	}
}
