package capture

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/mxsensor/mxsensor/internal/dataplane"
)

// BenchmarkEventReader: one op is one SYN event read from an in-memory
// pcap of Ethernet frames (IPv4 and IPv6 SYNs alternately), through the
// container, the link layer and the hand-written IP/TCP parser.
func BenchmarkEventReader(b *testing.B) {
	benchEventReader(b, func(r io.Reader) io.Reader { return r })
}

// BenchmarkEventReaderCounted is BenchmarkEventReader with the bytes read
// counted for a progress bar, as OpenCounting does.
func BenchmarkEventReaderCounted(b *testing.B) {
	var n atomic.Int64
	benchEventReader(b, func(r io.Reader) io.Reader { return countingReader{r: r, n: &n} })
}

func benchEventReader(b *testing.B, wrap func(io.Reader) io.Reader) {
	const frames = 10000
	recs := make([]record, frames)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := range recs {
		ip := ipv4SYN
		if i%2 == 1 {
			ip = ipv6SYN
		}
		recs[i] = record{ts: t0.Add(time.Duration(i) * time.Millisecond), data: realEth(ip)}
	}
	capBytes := pcapgoContainer(true).build(b, layers.LinkTypeEthernet, recs)
	dp := dataplane.DefaultConfig()
	open := func() *EventReader {
		r, err := NewReader(wrap(bytes.NewReader(capBytes)))
		if err != nil {
			b.Fatal(err)
		}
		return NewEventReader(r, dp)
	}
	er := open()
	b.ReportAllocs()
	b.SetBytes(int64(len(capBytes) / frames))
	b.ResetTimer()
	for range b.N {
		_, err := er.Next()
		if errors.Is(err, io.EOF) {
			er = open()
			_, err = er.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
