package collector

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/record"
)

// benchRecords are n messages as a few sensors publish them: for each
// host an IPv4 attempt, an IPv6 attempt and its association, and for one
// host in four a rejection of its IPv4 (so that the fleet's labelling
// has work to do). It returns the subjects, msg ids and bodies.
func benchRecords(tb testing.TB, n int) (subjects, ids []string, bodies [][]byte) {
	tb.Helper()
	var line []byte
	add := func(sensor string, k fleet.Kind, id string) {
		b, err := fleet.AppendBody(nil, sensor, line)
		if err != nil {
			tb.Fatal(err)
		}
		subjects, ids, bodies = append(subjects, fleet.Subject(sensor, k)), append(ids, id), append(bodies, b)
	}
	dst4, dst6 := netip.MustParseAddr("198.51.100.25"), netip.MustParseAddr("2001:db8:ffff::25")
	for h := 0; len(subjects) < n; h++ {
		sensor := fmt.Sprintf("s%d", h%3+1)
		t := t0.Add(time.Duration(h) * time.Second)
		v4 := record.Attempt{FirstSeen: t, LastSeen: t, Family: record.IPv4, SrcPort: uint16(1024 + h),
			Src: netip.AddrFrom4([4]byte{10, byte(h >> 16), byte(h >> 8), byte(h)}), Dst: dst4, DstPort: 25, SYNs: 2,
			OS: "Linux", OSClass: "unix", RawSig: "4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"}
		v6 := v4
		v6.Family, v6.Dst, v6.FirstSeen = record.IPv6, dst6, t.Add(time.Second)
		v6.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(h >> 16), 5: byte(h >> 8), 6: byte(h), 15: 7})
		v6.LastSeen, v6.AddrType = v6.FirstSeen, "low"
		as := record.Association{FirstSeen: v6.FirstSeen, Src: v6.Src, SrcPort: v6.SrcPort, SYNs: 2, OSClass: "unix",
			AddrType: "low", IPv4: record.IPv4Ref{Src: v4.Src, SrcPort: v4.SrcPort, FirstSeen: v4.FirstSeen}, Score: 0.9,
			Evidence: []string{"order:x"}}
		line = v4.AppendJSON(line[:0])
		add(sensor, fleet.KindAttempt, fleet.MsgID(sensor, fleet.KindAttempt, v4.Src, v4.SrcPort, v4.FirstSeen, ""))
		line = v6.AppendJSON(line[:0])
		add(sensor, fleet.KindAttempt, fleet.MsgID(sensor, fleet.KindAttempt, v6.Src, v6.SrcPort, v6.FirstSeen, ""))
		line = as.AppendJSON(line[:0])
		add(sensor, fleet.KindAssociation, fleet.MsgID(sensor, fleet.KindAssociation, as.Src, as.SrcPort, as.FirstSeen, ""))
		if h%4 == 0 {
			rej := record.Rejection{Time: t.Add(time.Minute), IP: v4.Src, Zone: "zen.example", MTA: record.MTAPostfixSMTPD}
			line = rej.AppendJSON(line[:0])
			// Another sensor's reject log: the label is the fleet's.
			other := fmt.Sprintf("s%d", (h+1)%3+1)
			add(other, fleet.KindRejection, fleet.MsgID(other, fleet.KindRejection, rej.IP, 0, rej.Time, rej.Zone))
		}
	}
	return subjects[:n], ids[:n], bodies[:n]
}

// fill publishes the messages into the fleet's stream and waits for every
// acknowledgement.
func fill(tb testing.TB, url string, subjects, ids []string, bodies [][]byte) {
	tb.Helper()
	nc, err := fleet.Connect(fleet.ConnConfig{URLs: []string{url}, Name: "bench-fill"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := fleet.EnsureStream(ctx, js, fleet.DefaultStreamConfig()); err != nil {
		tb.Fatal(err)
	}
	for i := range subjects {
		if _, err := js.PublishAsync(subjects[i], bodies[i], jetstream.WithMsgID(ids[i])); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		tb.Fatal("filling the stream timed out")
	}
}

// BenchmarkIngest: records per second from a stream holding b.N records
// (attempts, associations, rejections of three sensors) into a fresh
// collector's store, from the collector's start to the last record
// stored: fetch, decode, the fleet's labelling, one transaction per batch
// (the default 500), acknowledgements. The server is embedded in the
// benchmark's process, as `collect --embedded-nats` runs it.
func BenchmarkIngest(b *testing.B) {
	subjects, ids, bodies := benchRecords(b, b.N)
	var size int
	for _, x := range bodies {
		size += len(x)
	}
	e, err := fleet.StartEmbedded(fleet.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	fill(b, e.URL(), subjects, ids, bodies)
	cfg := testConfig(nil, filepath.Join(b.TempDir(), "c.db"))
	cfg.Batch = 0 // the default
	cfg.Conn = fleet.ConnConfig{URLs: []string{e.URL()}}
	c, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	for {
		st := c.Stats()
		var n uint64
		for _, k := range []fleet.Kind{fleet.KindAttempt, fleet.KindAssociation, fleet.KindRejection} {
			n += st.Ingested[k] + st.Duplicates[k]
		}
		if n >= uint64(b.N) {
			break
		}
		if st.IngestErrors > 0 || st.Malformed > 0 {
			b.Fatalf("ingest errors %d, malformed %d", st.IngestErrors, st.Malformed)
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d records stored after 5 minutes", n, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	if err := c.Stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(float64(size)/float64(b.N), "B/record")
}
