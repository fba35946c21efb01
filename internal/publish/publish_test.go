package publish

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/store"
)

// server is an embedded JetStream server that a test can stop and start
// again on the same port and store.
type server struct {
	t    testing.TB
	addr string
	dir  string
	e    *fleet.Embedded
}

func startServer(t testing.TB) *server {
	t.Helper()
	s := &server{t: t, addr: "127.0.0.1:0", dir: t.TempDir()}
	s.start()
	_, port, _ := net.SplitHostPort(s.e.Server().Addr().String())
	s.addr = "127.0.0.1:" + port
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	e, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: s.addr, StoreDir: s.dir})
	if err != nil {
		s.t.Fatal(err)
	}
	s.e = e
}

func (s *server) stop() {
	if s.e != nil {
		s.e.Stop()
		s.e = nil
	}
}

func (s *server) url() string { return "nats://" + s.addr }

// stream calls fn with the fleet's stream (which must exist).
func (s *server) stream(fn func(context.Context, jetstream.Stream)) {
	s.t.Helper()
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: []string{s.url()}, Name: "test reader"}, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, fleet.StreamName)
	if err != nil {
		s.t.Fatal(err)
	}
	fn(ctx, st)
}

// msgs returns the stream's message count.
func (s *server) msgs() uint64 {
	s.t.Helper()
	var n uint64
	s.stream(func(ctx context.Context, st jetstream.Stream) {
		info, err := st.Info(ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		n = info.State.Msgs
	})
	return n
}

// last is the stream's last message on subj.
func (s *server) last(subj string) *jetstream.RawStreamMsg {
	s.t.Helper()
	var m *jetstream.RawStreamMsg
	s.stream(func(ctx context.Context, st jetstream.Stream) {
		var err error
		if m, err = st.GetLastMsgForSubject(ctx, subj); err != nil {
			s.t.Fatal(err)
		}
	})
	return m
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Outbox = store.OutboxConfig{MaxBytes: 64 << 20, DropFirst: DropFirst}
	st, err := store.Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newPublisher(t testing.TB, url string, st *store.Store) *Publisher {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Sensor = "s1"
	cfg.Conn = fleet.ConnConfig{URLs: []string{url}, ReconnectWait: 20 * time.Millisecond}
	cfg.Retry, cfg.RetryMax, cfg.Poll = 10*time.Millisecond, 100*time.Millisecond, 10*time.Millisecond
	cfg.AckWait = 2 * time.Second
	p, err := New(cfg, Dependencies{Outbox: st})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// setup starts a server, a store and a publisher sending it the store's
// outbox (all stopped at the end of the test).
func setup(t testing.TB) (*server, *store.Store, *Publisher) {
	t.Helper()
	srv := startServer(t)
	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	t.Cleanup(func() { st.Close() })
	p := newPublisher(t, srv.url(), st)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return srv, st, p
}

// records enqueues n attempts, n associations and n rejections, numbered
// from first.
func records(t *testing.T, p *Publisher, first, n int) {
	t.Helper()
	base := time.Unix(1700000000, 0).UTC()
	for i := first; i < first+n; i++ {
		a := record.Attempt{FirstSeen: base.Add(time.Duration(i) * time.Second), LastSeen: base.Add(time.Duration(i) * time.Second),
			Family: record.IPv4, Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), SrcPort: uint16(1024 + i), DstPort: 25,
			Dst: netip.MustParseAddr("192.0.2.25"), SYNs: 1}
		as := record.Association{}
		as.FirstSeen, as.Src, as.SrcPort = a.FirstSeen, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)), a.SrcPort
		rj := record.Rejection{Time: a.FirstSeen, IP: a.Src, Zone: "zen.example", MTA: record.MTAPostfixSMTPD}
		if err := p.WriteAttempt(&a); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteAssociation(&as); err != nil {
			t.Fatal(err)
		}
		if err := p.RecordRejection(&rj); err != nil {
			t.Fatal(err)
		}
	}
}

func wait(t *testing.T, p *Publisher, st *store.Store) {
	t.Helper()
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	// A guard against a hang, not a measure.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if left, err := p.Wait(ctx); err != nil {
		t.Fatalf("%d messages not acknowledged: %v", left, err)
	}
}

// TestPublishOnce: every record reaches the stream once, even when
// written twice, with its sensor in the body.
func TestPublishOnce(t *testing.T) {
	srv, st, p := setup(t)
	records(t, p, 0, 50)
	wait(t, p, st)
	records(t, p, 0, 50) // again: a second run over the same capture
	wait(t, p, st)
	if n := srv.msgs(); n != 150 {
		t.Errorf("%d messages in the stream, want 150", n)
	}
	s := p.Stats()
	if s.Acknowledged != 300 || s.Duplicates != 150 || s.InFlight != 0 || !s.Connected || s.Outbox.Rows != 0 {
		t.Errorf("stats %+v", s)
	}

	m := srv.last(fleet.Subject("s1", fleet.KindAttempt))
	var a struct {
		fleet.Body
		record.Attempt
	}
	if sensor, err := fleet.DecodeBody(m.Data, &a); err != nil || sensor != "s1" || a.SrcPort != 1024+49 {
		t.Errorf("body %s: %v", m.Data, err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != fleet.MsgID("s1", fleet.KindAttempt, a.Src, a.SrcPort, a.FirstSeen, "") {
		t.Errorf("msg id %q", id)
	}
}

// TestBrokerOutage: with the server down the outbox grows; once it is back
// (same port, same store) everything arrives, once.
func TestBrokerOutage(t *testing.T) {
	srv, st, p := setup(t)
	records(t, p, 0, 20)
	wait(t, p, st)

	srv.stop()
	records(t, p, 20, 40)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if o := st.OutboxStats(); o.Rows != 120 {
		t.Errorf("outbox holds %d rows during the outage, want 120", o.Rows)
	}
	srv.start()
	records(t, p, 40, 20) // half of them again
	wait(t, p, st)
	if n := srv.msgs(); n != 180 {
		t.Errorf("%d messages in the stream, want 180", n)
	}
}

// TestRestartResumes: a publisher stopped with messages in the outbox (the
// server down) leaves them there; the next one, on the reopened store,
// sends them.
func TestRestartResumes(t *testing.T) {
	srv := startServer(t)
	url := srv.url()
	srv.stop()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openStore(t, path)
	p := newPublisher(t, url, st)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	records(t, p, 0, 30)
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv.start()
	st = openStore(t, path)
	defer st.Close()
	if o := st.OutboxStats(); o.Rows != 90 {
		t.Fatalf("reopened outbox: %+v", o)
	}
	p = newPublisher(t, url, st)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	wait(t, p, st)
	if n := srv.msgs(); n != 90 {
		t.Errorf("%d messages in the stream, want 90", n)
	}
}

// TestStatus: a status is a message of its own kind whose body holds the
// counters.
func TestStatus(t *testing.T) {
	srv, st, p := setup(t)
	p.cnt = func() map[string]uint64 { return map[string]uint64{"sensor_events": 42} }
	if err := p.Status(time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	wait(t, p, st)
	m := srv.last(fleet.Subject("s1", fleet.KindStatus))
	var s struct {
		fleet.Body
		record.Status
	}
	if _, err := fleet.DecodeBody(m.Data, &s); err != nil || s.Counters["sensor_events"] != 42 {
		t.Errorf("status %s: %v", m.Data, err)
	}
}

// TestDeadLetters: messages the server refuses for good (a permissions
// violation on their subject, a message larger than the stream takes) do
// not hold the outbox for ever: after MaxRefusals tries they are given up,
// counted by kind; every other message is published.
func TestDeadLetters(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	// s1 may publish its attempts and rejections, not its associations.
	err := os.WriteFile(conf, fmt.Appendf(nil, `listen: "127.0.0.1:-1"
jetstream { store_dir: %q }
authorization { users = [ { user: s1, password: pw, permissions: {
	publish: { allow: ["mxsensor.v1.s1.attempts", "mxsensor.v1.s1.rejections", "$JS.API.>"] },
	subscribe: { allow: ["_INBOX.>"] } } } ] }
`, filepath.Join(dir, "js")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	e, err := fleet.StartEmbedded(fleet.EmbeddedConfig{ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	conn := fleet.ConnConfig{URLs: []string{e.URL()}, User: "s1", Password: "pw", ReconnectWait: 20 * time.Millisecond}
	nc, err := fleet.Connect(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fleet.StreamName, Subjects: []string{fleet.AllSubjects}, MaxMsgSize: 1024}); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, filepath.Join(t.TempDir(), "s.db"))
	t.Cleanup(func() { st.Close() })
	cfg := DefaultConfig()
	cfg.Sensor, cfg.Conn = "s1", conn
	cfg.Retry, cfg.RetryMax, cfg.Poll = 10*time.Millisecond, 50*time.Millisecond, 10*time.Millisecond
	cfg.AckWait, cfg.MaxRefusals = 300*time.Millisecond, 3
	p, err := New(cfg, Dependencies{Outbox: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	records(t, p, 0, 10)
	big := record.Rejection{Time: time.Unix(1700000000, 0).UTC(), IP: netip.MustParseAddr("192.0.2.99"), Zone: strings.Repeat("z", 2000)}
	if err := p.RecordRejection(&big); err != nil {
		t.Fatal(err)
	}
	records(t, p, 10, 10)
	wait(t, p, st)

	s := p.Stats()
	if s.DeadLetters[string(fleet.KindAssociation)] != 20 || s.DeadLetters[string(fleet.KindRejection)] != 1 || len(s.DeadLetters) != 2 {
		t.Errorf("dead letters %v, want 20 associations and 1 rejection", s.DeadLetters)
	}
	info, err := js.Stream(ctx, fleet.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx, jetstream.WithSubjectFilter(fleet.AllSubjects))
	if err != nil {
		t.Fatal(err)
	}
	if got := si.State.Subjects; got[fleet.Subject("s1", fleet.KindAttempt)] != 20 || got[fleet.Subject("s1", fleet.KindRejection)] != 20 || len(got) != 2 {
		t.Errorf("stream holds %v, want 20 attempts and 20 rejections", got)
	}
}
