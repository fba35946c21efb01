package dataplane

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testStats(uptime float64, syns uint64) *Stats {
	var a, b Counters
	a[CntSynMatched], b[CntSynMatched] = syns, 2*syns
	b[CntAnomBadDoff] = 1
	r := &Stats{Iface: "eth0", Ifindex: 2, PID: 7, Running: true, AttachMode: "native", ReplyMode: "reject",
		UptimeSec: uptime, RingSize: 16 << 20, RingPending: 3 << 10}
	total := a
	total.Add(&b)
	r.setCounters(total, []Counters{a, b})
	return r
}

// squeeze makes the table's padding one space and drops it at line ends.
func squeeze(s string) string {
	return regexp.MustCompile(` *\n`).ReplaceAllString(regexp.MustCompile(` +`).ReplaceAllString(s, " "), "\n")
}

// TestStatsText: the header, a column per CPU, rates against the previous
// report, and anomaly rows only when they happened.
func TestStatsText(t *testing.T) {
	var b strings.Builder
	prev, r := testStats(60, 10), testStats(70.5, 20)
	r.WriteText(&b, nil)
	got := squeeze(b.String())
	for _, want := range []string{
		"sensor on eth0 (ifindex 2): running, pid 7, up 1m10s\n",
		"xdp native mode, reply mode reject, ring 16.0 MiB with 3.0 KiB pending (0.0%)\n",
		"counter total cpu0 cpu1\n",
		"syn_matched 60 20 40\n",
		"anomaly_bad_tcp_data_offset 1 0 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "anomaly_truncated_tcp") {
		t.Errorf("anomaly that did not happen shown:\n%s", got)
	}
	b.Reset()
	r.Running = false
	r.WriteText(&b, prev)
	got = squeeze(b.String())
	// (60-30 SYNs) / (70.5-60 s)
	if !strings.Contains(got, "AGENT NOT RUNNING (stale pins: run `mxsensor detach --iface eth0`)") ||
		!strings.Contains(got, "counter total per sec cpu0 cpu1\n") || !strings.Contains(got, "syn_matched 60 2.9 20 40\n") {
		t.Errorf("with rates:\n%s", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 20: "1.0 MiB", 3 << 29: "1536.0 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestStatsNothingPinned: no sensor is an error naming ErrNotRunning, for
// every sensor under a root and for one interface.
func TestStatsNothingPinned(t *testing.T) {
	root := t.TempDir()
	if _, err := StatsDirs(root, ""); !errors.Is(err, ErrNotRunning) {
		t.Errorf("empty root: %v", err)
	}
	dirs, err := StatsDirs(root, "eth9")
	if err != nil || len(dirs) != 1 || dirs[0] != filepath.Join(root, "eth9") {
		t.Fatalf("%v %v", dirs, err)
	}
	err = PrintStats(context.Background(), &strings.Builder{}, dirs, StatsOptions{Interval: time.Second})
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "on eth9") {
		t.Errorf("unpinned interface: %v", err)
	}
}
