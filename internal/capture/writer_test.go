package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// numberedFrame is a 60-byte Ethernet frame carrying n in its last bytes,
// so frames can be told apart after a round trip.
func numberedFrame(n int) []byte {
	f := realEth(ipv4SYN)
	f = append(f, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(f[len(f)-4:], uint32(n))
	return f
}

func frameNumber(f []byte) int {
	return int(binary.BigEndian.Uint32(f[len(f)-4:]))
}

// readFile reads every frame of a capture file, failing on any error but
// the clean end.
func readFile(t *testing.T, path string) []Frame {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	frames, err := readAll(r)
	if err != io.EOF {
		t.Fatalf("%s: %v", path, err)
	}
	return frames
}

// dirNames lists the files in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestRotatingWriterRotation writes enough frames to rotate several times
// and reads every kept generation back.
func TestRotatingWriterRotation(t *testing.T) {
	frameLen := len(numberedFrame(0))
	perFile := 5
	maxBytes := int64(pcapFileHeaderLen + perFile*(pcapRecordHeaderLen+frameLen))

	tests := []struct {
		name   string
		keep   int
		frames int
		// wantFiles maps each file that must exist to the frame numbers
		// it must hold, oldest generation first in numbering.
		wantFiles map[string][]int
	}{
		{
			name: "keep 2, four rotations", keep: 2, frames: 23,
			wantFiles: map[string][]int{
				"syn.pcap":   {20, 21, 22},
				"syn.pcap.1": {15, 16, 17, 18, 19},
				"syn.pcap.2": {10, 11, 12, 13, 14},
			},
		},
		{
			name: "keep 2, exactly full", keep: 2, frames: 15,
			wantFiles: map[string][]int{
				"syn.pcap":   {10, 11, 12, 13, 14},
				"syn.pcap.1": {5, 6, 7, 8, 9},
				"syn.pcap.2": {0, 1, 2, 3, 4},
			},
		},
		{
			name: "keep 1", keep: 1, frames: 17,
			wantFiles: map[string][]int{
				"syn.pcap":   {15, 16},
				"syn.pcap.1": {10, 11, 12, 13, 14},
			},
		},
		{
			name: "keep 0", keep: 0, frames: 12,
			wantFiles: map[string][]int{
				"syn.pcap": {10, 11},
			},
		},
		{
			name: "keep 4, fewer rotations than keep", keep: 4, frames: 11,
			wantFiles: map[string][]int{
				"syn.pcap":   {10},
				"syn.pcap.1": {5, 6, 7, 8, 9},
				"syn.pcap.2": {0, 1, 2, 3, 4},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "syn.pcap")
			w, err := NewRotatingWriter(path, maxBytes, tc.keep, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.frames {
				ts := baseTime.Add(time.Duration(i)*time.Second + time.Duration(i))
				if err := w.WriteFrame(ts, numberedFrame(i)); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			var wantNames []string
			for name := range tc.wantFiles {
				wantNames = append(wantNames, name)
			}
			slices.Sort(wantNames)
			if got := dirNames(t, dir); !slices.Equal(got, wantNames) {
				t.Fatalf("files %v, want %v", got, wantNames)
			}
			for name, want := range tc.wantFiles {
				p := filepath.Join(dir, name)
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > maxBytes {
					t.Errorf("%s: %d bytes, more than maxBytes %d", name, st.Size(), maxBytes)
				}
				if perm := st.Mode().Perm(); perm&^0o640 != 0 {
					t.Errorf("%s: mode %v, want at most 0640", name, perm)
				}
				frames := readFile(t, p)
				var got []int
				for _, f := range frames {
					n := frameNumber(f.Data)
					got = append(got, n)
					if !bytes.Equal(f.Data, numberedFrame(n)) || f.OrigLen != frameLen {
						t.Errorf("%s: frame %d corrupted", name, n)
					}
					wantTS := baseTime.Add(time.Duration(n)*time.Second + time.Duration(n))
					if !f.Time.Equal(wantTS) {
						t.Errorf("%s: frame %d time %v, want %v (nanoseconds kept)", name, n, f.Time, wantTS)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s holds frames %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestRotatingWriterNoRotation checks that maxBytes 0 never rotates.
func TestRotatingWriterNoRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "all.pcap")
	w, err := NewRotatingWriter(path, 0, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if err := w.WriteFrame(baseTime, numberedFrame(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"all.pcap"}) {
		t.Errorf("files %v", got)
	}
	if n := len(readFile(t, path)); n != 500 {
		t.Errorf("read %d frames, want 500", n)
	}
}

// TestRotatingWriterOversizedFrame checks that a frame larger than maxBytes
// is still written, alone in its file, instead of rotating forever.
func TestRotatingWriterOversizedFrame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	w, err := NewRotatingWriter(path, 100, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := append(realEth(ipv4SYN), make([]byte, 200)...)
	for range 3 {
		if err := w.WriteFrame(baseTime, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"big.pcap", "big.pcap.1", "big.pcap.2"}) {
		t.Fatalf("files %v", got)
	}
	for _, name := range []string{"big.pcap", "big.pcap.1", "big.pcap.2"} {
		if frames := readFile(t, filepath.Join(dir, name)); len(frames) != 1 || !bytes.Equal(frames[0].Data, big) {
			t.Errorf("%s: %d frames", name, len(frames))
		}
	}
}

// TestRotatingWriterSnaplen checks that frames are cut to the snap length
// and keep their original length.
func TestRotatingWriterSnaplen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.pcap")
	w, err := NewRotatingWriter(path, 0, 0, 34)
	if err != nil {
		t.Fatal(err)
	}
	full := realEth(ipv4SYN)
	if err := w.WriteFrame(baseTime, full); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(baseTime, full[:20]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	frames := readFile(t, path)
	if len(frames) != 2 {
		t.Fatalf("%d frames", len(frames))
	}
	if !bytes.Equal(frames[0].Data, full[:34]) || frames[0].OrigLen != len(full) {
		t.Errorf("frame 0: %d bytes, orig %d", len(frames[0].Data), frames[0].OrigLen)
	}
	if !bytes.Equal(frames[1].Data, full[:20]) || frames[1].OrigLen != 20 {
		t.Errorf("frame 1: %d bytes, orig %d", len(frames[1].Data), frames[1].OrigLen)
	}
	// The file header declares the snap length and Ethernet.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if magic := binary.LittleEndian.Uint32(b); magic != 0xa1b23c4d {
		t.Errorf("magic %#x, want nanosecond pcap", magic)
	}
	if snap, lt := binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:]); snap != 34 || lt != 1 {
		t.Errorf("snaplen %d, link type %d", snap, lt)
	}
}

// TestRotatingWriterExistingFile checks that a file left by an earlier run
// is rotated out of the way, not overwritten.
func TestRotatingWriterExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "syn.pcap")
	for run := range 3 {
		w, err := NewRotatingWriter(path, 0, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(baseTime, numberedFrame(run)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]int{"syn.pcap": 2, "syn.pcap.1": 1, "syn.pcap.2": 0} {
		frames := readFile(t, filepath.Join(dir, name))
		if len(frames) != 1 || frameNumber(frames[0].Data) != want {
			t.Errorf("%s: want frame %d, got %d frames", name, want, len(frames))
		}
	}
}

// TestRotatingWriterFlushAndClose checks Flush makes frames readable while
// the writer is open, and the behaviour after Close.
func TestRotatingWriterFlushAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.pcap")
	w, err := NewRotatingWriter(path, 0, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := w.WriteFrame(baseTime, numberedFrame(g*100+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(readFile(t, path)); n != 100 {
		t.Errorf("after Flush: read %d frames, want 100", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err = w.WriteFrame(baseTime, numberedFrame(0))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFrame after Close: %v", err)
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush after Close succeeded")
	}
}

// TestRotatingWriterErrors checks argument checks and that errors name the
// path.
func TestRotatingWriterErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "x.pcap")
	if _, err := NewRotatingWriter(missing, 0, 1, 0); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v", err)
	}
	p := filepath.Join(dir, "x.pcap")
	if _, err := NewRotatingWriter(p, -1, 1, 0); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("negative maxBytes: %v", err)
	}
	if _, err := NewRotatingWriter(p, 0, -1, 0); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("negative keep: %v", err)
	}
}
