package agent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/fleet/fleettest"
	"github.com/mxsensor/mxsensor/internal/publish"
	"github.com/mxsensor/mxsensor/internal/sensor"
	"github.com/mxsensor/mxsensor/internal/synevent"
)

func publishConfig(url string) *PublishConfig {
	c := publish.DefaultConfig()
	c.Sensor = "s1"
	c.Conn = fleet.ConnConfig{URLs: []string{url}, ReconnectWait: 20 * time.Millisecond}
	c.Poll = 10 * time.Millisecond
	return &PublishConfig{Config: c, OutboxSize: 1 << 20}
}

// TestAgentPublishOrder: the publisher starts after the store (its outbox)
// and before what writes to it; without the store it is refused.
func TestAgentPublishOrder(t *testing.T) {
	cfg := testConfig(t)
	cfg.Publish = publishConfig("nats://127.0.0.1:4222")
	a, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metrics", "store", "publisher", "outputs", "enricher", "pipeline", "reject logs", "heap limit", "sensor"}
	if got := partNames(a); !slices.Equal(got, want) {
		t.Errorf("start order %q, want %q", got, want)
	}
	mfs, err := a.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "mxsensor_publish_outbox_rows"
	}
	if !found {
		t.Error("no mxsensor_publish_outbox_rows")
	}
	cfg.Store.Path = ""
	if _, err := New(cfg, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("publishing without a store: %v", err)
	}
}

// TestAgentPublishes: the live measurement's attempts, associations and
// the reject log's rejections reach the stream through the agent's parts
// (all but the XDP sensor), and a restart sends each once.
func TestAgentPublishes(t *testing.T) { testAgentPublishes(t, true) }

// TestAgentPublishStopSends: the attempts the pipeline closes at stop
// reach the server before the agent exits, with no wait of the caller's
// (a sensor stopped for good, such as the lab's, leaves nothing behind).
func TestAgentPublishStopSends(t *testing.T) { testAgentPublishes(t, false) }

func testAgentPublishes(t *testing.T, wait bool) {
	srv, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg := testConfig(t)
	cfg.Events = ""
	cfg.Enrich.Out = ""
	cfg.Publish = publishConfig(srv.URL())
	if !wait {
		// The publisher asleep when the agent stops, as it mostly is.
		cfg.Publish.Poll = time.Second
	}
	dir := t.TempDir()
	rlog := filepath.Join(dir, "mail.log")
	now := time.Now()
	line := now.Format(time.Stamp) + " mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.example; https://x; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n"
	if err := os.WriteFile(rlog, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.RejectLog = RejectLogConfig{Paths: []string{rlog}, Location: time.Local}
	run := func() {
		st := newStorePart(cfg.Store, zap.NewNop())
		st.cfg.Outbox.DropFirst = publish.DropFirst
		pub := newPublishPart(cfg.Publish.Config, st, nil, zap.NewNop())
		rl := newRejectLogsPart(cfg.RejectLog, st, pub, zap.NewNop())
		pl := newPipelinePart(cfg, rl.set, nil, st, pub, zap.NewNop())
		parts := []Component{st, pub, pl, rl}
		for _, c := range parts {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		if !wait {
			// The rejection sent: the publisher then finds the outbox
			// empty and sleeps a Poll, through the stop below.
			for deadline := time.Now().Add(time.Minute); pub.p.Load().Stats().Acknowledged == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the rejection was never acknowledged")
				}
			}
		}
		for i := 0; i < 3; i++ {
			ev := synevent.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)}),
				Dst: netip.MustParseAddr("192.0.2.25"), SrcPort: uint16(40000 + i), DstPort: 25, TTL: 64, Window: 64240, Flags: 0x02, DataOffset: 5}
			if err := pl.Write(&ev); err != nil {
				t.Fatal(err)
			}
		}
		// Stopping the pipeline emits its attempts into the outbox.
		if err := pl.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := st.get().Sync(); err != nil {
			t.Fatal(err)
		}
		if wait {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang
			defer cancel()
			if left, err := pub.p.Load().Wait(ctx); err != nil {
				t.Fatalf("%d left: %v", left, err)
			}
		}
		for _, c := range []Component{rl, pub, st} {
			if err := c.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if wait {
		run() // a restart: the same records again (the reject log is read again)
	}
	js := fleettest.Connect(t, "test reader", srv.URL())
	s, err := js.Stream(context.Background(), fleet.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(fleet.AllSubjects))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{fleet.Subject("s1", fleet.KindAttempt): 3, fleet.Subject("s1", fleet.KindRejection): 1}
	for subj, n := range want {
		if info.State.Subjects[subj] != n {
			t.Errorf("%s: %d messages, want %d (all: %v)", subj, info.State.Subjects[subj], n, info.State.Subjects)
		}
	}
	_ = sensor.Sink(&publishPart{})
}
