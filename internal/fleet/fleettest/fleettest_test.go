package fleettest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
)

// TestClusterNodeKilledMidStream: the fleet's stream with 3 replicas keeps
// every message, once, when the node leading it is killed while a sensor
// publishes; a consumer then reads each exactly once.
func TestClusterNodeKilledMidStream(t *testing.T) {
	c := StartCluster(t, 3)
	js := Connect(t, "test-sensor", c.URLs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := fleet.DefaultStreamConfig()
	cfg.Replicas = 3
	s, err := fleet.EnsureStream(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.Config.Replicas != 3 {
		t.Fatalf("stream: %v %v", info, err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "collector", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}

	const total, killAt = 300, 100
	t0 := time.Unix(1700000000, 0)
	var retries int
	for i := range total {
		if i == killAt {
			leader := c.Leader(fleet.StreamName)
			if leader == nil {
				t.Fatal("the stream has no leader")
			}
			t.Logf("killing %s, the stream's leader, after %d messages", leader.Config.Name, i)
			leader.Stop()
		}
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)})
		id := fleet.MsgID("s1", fleet.KindAttempt, src, uint16(i), t0, "")
		body := fmt.Appendf(nil, `{"sensor":"s1","n":%d}`, i)
		// A sensor retries with the same id until the cluster acknowledges.
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(pctx, fleet.Subject("s1", fleet.KindAttempt), body, jetstream.WithMsgID(id))
			pcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("message %d never acknowledged: %v", i, err)
			}
			retries++
		}
	}
	t.Logf("%d publishes retried around the kill", retries)

	// The consumer's leader may have been on the killed node: until its
	// replacement is elected a fetch or an ack meets no responder. The
	// collector retries those (internal/collector), and so does this reader.
	seen := make(map[string]int)
	var transient int
	retry := func(what string, err error) {
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d messages; %s: %v", len(seen), total, what, err)
		}
		transient++
		t.Logf("%s: %v (retrying)", what, err)
		time.Sleep(200 * time.Millisecond)
	}
	for len(seen) < total {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			retry("fetch", err)
			continue
		}
		for m := range batch.Messages() {
			var body struct {
				fleet.Body
				N int `json:"n"`
			}
			if _, err := fleet.DecodeBody(m.Data(), &body); err != nil {
				t.Fatal(err)
			}
			seen[fmt.Sprint(body.N)]++
			// Confirmed: the check below reads the acks. A failed ack is
			// retried, so the message is not delivered again.
			for {
				err := m.DoubleAck(ctx)
				if err == nil {
					break
				}
				retry("ack", err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			retry("fetch batch", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d messages", len(seen), total)
		}
	}
	if transient > 20 {
		t.Errorf("%d transient errors while reading: the consumer did not settle", transient)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("message %s read %d times", k, n)
		}
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != total {
		t.Errorf("%d messages in the stream, want %d", info.State.Msgs, total)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumPending != 0 || ci.NumAckPending != 0 {
		t.Errorf("consumer: %d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
	}
}

// TestSingleRestart: a single node restarts on its port with its store.
func TestSingleRestart(t *testing.T) {
	n := Start(t)
	js := Connect(t, "test", n.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := fleet.EnsureStream(ctx, js, fleet.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, fleet.Subject("s1", fleet.KindStatus), []byte(`{"sensor":"s1"}`)); err != nil {
		t.Fatal(err)
	}
	url := n.URL()
	n.Stop()
	n.Restart(t)
	if n.URL() != url {
		t.Errorf("restarted on %s, was %s", n.URL(), url)
	}
	for {
		s, err := js.Stream(ctx, fleet.StreamName)
		if err == nil {
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 1 {
				t.Errorf("%d messages after the restart, want 1", info.State.Msgs)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoSingles: two nodes at once each get a port of their own (port 0
// in fleet.EmbeddedConfig picks a free one, not nats' default 4222).
func TestTwoSingles(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.URL() == b.URL() || strings.HasSuffix(a.URL(), ":4222") {
		t.Errorf("nodes on %s and %s", a.URL(), b.URL())
	}
}
