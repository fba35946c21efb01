package capture

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzReader reads arbitrary bytes as a capture file, compressed or not.
// The reader must not panic, must end, must return frames within its
// limits and must allocate a bounded amount whatever the file claims. The
// seed corpus in testdata/fuzz/FuzzReader holds small compressed captures
// that trip each limit (interface table, record and block length) and one
// with an oversized record to read past.
func FuzzReader(f *testing.F) {
	recs := []record{
		{ts: baseTime, data: realEth(ipv4SYN)},
		{ts: baseTime.Add(time.Second), data: sll(0x86dd, ipv6SYN)},
	}
	for _, c := range allContainers {
		f.Add(c.build(f, 1, recs[:1]))
		f.Add(c.build(f, 113, recs[1:]))
	}
	// Well below what a file could make an unbounded reader take; well
	// above the reader's own buffers (bufio, gzip window, two frames of at
	// most 256 KiB).
	const allocBound = 16 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		base := totalAlloc()
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			checkLimitMessage(t, err)
			return
		}
		defer r.Close()
		var frames uint64
		for {
			fr, err := r.Next()
			if err != nil {
				checkLimitMessage(t, err)
				break
			}
			frames++
			if n := len(fr.Data); n < ethHeaderLen || n > maxFrameLen+ethHeaderLen {
				t.Fatalf("frame %d: %d bytes", frames, n)
			}
		}
		if st := r.Stats(); st.Frames != frames {
			t.Errorf("Stats().Frames = %d, returned %d", st.Frames, frames)
		}
		if used := totalAlloc() - base; used > allocBound {
			t.Errorf("allocated %d bytes for a %d-byte input", used, len(data))
		}
	})
}

// checkLimitMessage checks that an error of a limit says which one.
func checkLimitMessage(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrLimit) && !strings.Contains(err.Error(), " limit") {
		t.Errorf("limit error %q does not name the limit", err)
	}
}
