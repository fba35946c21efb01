package fleet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/record"
)

func TestSensorID(t *testing.T) {
	for _, ok := range []string{"s1", "mx-sensor_2", "A"} {
		if err := ValidSensorID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a*", "a>", "a b", string(make([]byte, MaxSensorID+1))} {
		if ValidSensorID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := SensorIDFromHost("mx2.example.org"); got != "mx2" {
		t.Errorf("SensorIDFromHost = %q", got)
	}
	if got := SensorIDFromHost("a+b"); ValidSensorID(got) != nil {
		t.Errorf("SensorIDFromHost(a+b) = %q, not valid", got)
	}
}

func TestSubjects(t *testing.T) {
	for _, k := range Kinds {
		s := Subject("s1", k)
		sensor, kind, err := ParseSubject(s)
		if err != nil || sensor != "s1" || kind != k {
			t.Errorf("%s: %q %q %v", s, sensor, kind, err)
		}
	}
	for _, bad := range []string{"mxsensor.v2.s1.attempts", "mxsensor.v1.s1", "mxsensor.v1.s1.attempts.x", "mxsensor.v1.s*.attempts", "mxsensor.v1.s1.mail"} {
		if _, _, err := ParseSubject(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPrefixKey(t *testing.T) {
	for _, s := range []string{"2001:db8:1:2::/64", "2001:db8::/48", "2001:db8::1/128", "192.0.2.0/24", "::/0"} {
		p := netip.MustParsePrefix(s)
		k := PrefixKey(p)
		got, err := ParsePrefixKey(k)
		if err != nil || got != p {
			t.Errorf("%s -> %s -> %s %v", p, k, got, err)
		}
		for _, c := range k {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '_') {
				t.Errorf("key %q holds %q", k, c)
			}
		}
	}
	for _, bad := range []string{"", "zz_64", "20010db8000100020000000000000000_129", "20010db8000100020000000000000000"} {
		if _, err := ParsePrefixKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBody(t *testing.T) {
	a := record.Attempt{FirstSeen: time.Unix(1700000000, 5).UTC(), LastSeen: time.Unix(1700000001, 0).UTC(), Family: record.IPv6,
		Src: netip.MustParseAddr("2001:db8::1"), SrcPort: 4000, Dst: netip.MustParseAddr("2001:db8::25"), DstPort: 25, SYNs: 2,
		OS: "Linux", AddrType: "eui64"}
	b, err := AppendBody(nil, "s1", a.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Body
		record.Attempt
	}
	sensor, err := DecodeBody(b, &got)
	if err != nil || sensor != "s1" || got.Sensor != "s1" {
		t.Fatalf("%s: %q %v", b, sensor, err)
	}
	if got.Attempt != a {
		t.Errorf("attempt %+v, want %+v", got.Attempt, a)
	}
	if _, err := AppendBody(nil, "s1", []byte("[1]")); err == nil {
		t.Error("a non-object accepted")
	}
	for _, bad := range []string{`{"sensor":"a.b"}`, `{}`, `not json`} {
		if _, err := DecodeBody([]byte(bad), nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestEmbeddedDedup: the embedded server's stream drops a message sent
// again with the same id (a retry, a restarted sensor).
func TestEmbeddedDedup(t *testing.T) {
	e, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	nc, err := Connect(ConnConfig{URLs: []string{e.URL()}, Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := EnsureStream(ctx, js, DefaultStreamConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureStream(ctx, js, DefaultStreamConfig()); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	id := MsgID("s1", KindAttempt, netip.MustParseAddr("192.0.2.1"), 4000, time.Unix(1700000000, 0), "")
	for i := 0; i < 3; i++ {
		ack, err := js.Publish(ctx, Subject("s1", KindAttempt), []byte(`{"sensor":"s1"}`), jetstream.WithMsgID(id))
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate != (i > 0) {
			t.Errorf("send %d: duplicate %v", i, ack.Duplicate)
		}
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("%d messages in the stream, want 1", info.State.Msgs)
	}
	if _, err := EnsureList(ctx, js, ListConfig{Expire: time.Hour}); err != nil {
		t.Fatal(err)
	}
}
