package collector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
)

// TestCollectEmbeddedConfig: `collect --embedded-nats --nats-config`: the
// embedded server takes its users and permissions from the file, the
// collector connects with its own credentials, a sensor's record under
// its own subject is ingested, and a client without credentials is
// refused.
func TestCollectEmbeddedConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	err := os.WriteFile(conf, []byte(`authorization { users = [
	{ user: collector, password: cpw }
	{ user: s1, password: spw, permissions: {
		publish: { allow: ["mxsensor.v1.s1.>", "$JS.API.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
] }
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, filepath.Join(dir, "c.db"))
	cfg.Embedded = &fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js"), ConfigFile: conf}
	cfg.Conn = fleet.ConnConfig{User: "collector", Password: "cpw"}
	c := startCollector(t, cfg)
	url := c.emb.URL()

	if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a client without credentials was let in")
	}
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: []string{url}, User: "s1", Password: "spw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	v4, _, _, _ := fleetSample()
	body, err := fleet.AppendBody(nil, "s1", v4.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, fleet.Subject("s1", fleet.KindAttempt), body, jetstream.WithMsgID(attemptID("s1", v4))); err != nil {
		t.Fatal(err)
	}
	for count(t, cfg.DB, "SELECT count(*) FROM attempts WHERE sensor = 's1'") != 1 {
		if ctx.Err() != nil {
			t.Fatal("the sensor's attempt was not ingested")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
