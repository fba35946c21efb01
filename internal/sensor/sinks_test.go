package sensor

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/capture"
)

// TestRepairPcap: a capture whose last frame a full disk tore is cut back
// to its last whole frame; whole captures are left alone.
func TestRepairPcap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pcap")
	w, err := capture.NewRotatingWriter(path, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 74)
	for range 3 {
		if err := w.WriteFrame(time.Unix(1, 0), frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	whole := st.Size()
	if cut, err := repairPcap(path); err != nil || cut != 0 {
		t.Fatalf("whole capture: cut %d, %v", cut, err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	torn := make([]byte, 30) // a record header and part of its frame
	binary.LittleEndian.PutUint32(torn[8:], 74)
	binary.LittleEndian.PutUint32(torn[12:], 74)
	f.Write(torn)
	f.Close()
	if cut, err := repairPcap(path); err != nil || cut != 30 {
		t.Fatalf("torn capture: cut %d, %v", cut, err)
	}
	if st, _ := os.Stat(path); st.Size() != whole {
		t.Errorf("size %d after repair, want %d", st.Size(), whole)
	}
}
