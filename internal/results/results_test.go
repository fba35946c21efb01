package results

import (
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
)

func TestScanDirMissing(t *testing.T) {
	_, err := ScanDir(t.TempDir(), record.AssociationsFile, nil)
	if err == nil || !strings.Contains(err.Error(), "not a results directory") {
		t.Errorf("err = %v", err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                            {},
		"2026-11-26":                  time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		"2026-11-26T10:00:00Z":        time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		"2026-11-26T11:00:00.5+01:00": time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"26/11/2026", "2026-11-26 10:00", "yesterday"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}
