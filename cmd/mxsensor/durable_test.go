package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/netlab"
)

// mountTmpfs mounts a tmpfs of size bytes for the test (removed at cleanup).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting tmpfs: %v", err)
		}
	})
	return dir
}

// connectRefused makes n connect()s from src to dst:25 inside h, from source
// ports from, from+1, ..., from+ports-1 in turn (ports 0: all distinct),
// each of which the sensor must refuse.
func connectRefused(h *netlab.Host, src, dst netip.Addr, from, n, ports int) error {
	if ports <= 0 {
		ports = n
	}
	return h.Do(func() error {
		for i := range n {
			port := from + i%ports
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: port}}
			conn, err := d.Dial("tcp", netip.AddrPortFrom(dst, 25).String())
			if err == nil {
				conn.Close()
				return fmt.Errorf("port %d: the sensor accepted a connection", port)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("port %d: %v, want ECONNREFUSED", port, err)
			}
		}
		return nil
	})
}

// noTornLine fails the test if a JSONL file does not end with '\n'.
func noTornLine(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s ends with a torn line: ...%q", p, b[max(len(b)-80, 0):])
		}
	}
}

// waitFor polls cond (a state read, never a sleep for readiness) until it
// holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool, show ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var more string
			for _, f := range show {
				more += f()
			}
			t.Fatalf("timed out waiting for %s\n%s", what, more)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFullDiskKeepsRunning: with --events, --out and --db on a 1 MB tmpfs
// that fills up, the agent keeps answering SYNs and draining the ring,
// counts what its outputs drop, leaves no torn line, and writes again once
// space returns.
func TestFullDiskKeepsRunning(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	s4, c4 := netip.MustParseAddr("10.83.0.1"), netip.MustParseAddr("10.83.0.2")
	sensorHost, client := sensorLab(t, "mxdisk", s4, netip.Addr{}, c4, netip.Addr{})
	pins := mountBPFFS(t)
	disk := mountTmpfs(t, 1<<20)
	events, out, db := filepath.Join(disk, "events.jsonl"), filepath.Join(disk, "out"), filepath.Join(disk, "m.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const listen = "127.0.0.1:9725"
	a := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins,
		"--events", events, "--out", out, "--db", db, "--db-flush", "200ms", "--no-report", "--window", "1s", "--horizon", "1s",
		"--local-addr", s4.String(), "--metrics-listen", listen, "--log-format", "json", "--rst-rate", "0")
	scrape := func() map[string]float64 { return scrapeMetrics(t, sensorHost, listen, a.stderr) }
	m := scrape()
	for _, o := range []string{"events", "attempts", "associations", "enrich", "pcap", "store"} {
		if v, ok := m[`mxsensor_output_dropped_total{output="`+o+`"}`]; !ok || v != 0 {
			t.Errorf("output %s: dropped series %v (present %v), want 0 from the start", o, v, ok)
		}
	}

	// Leave ~64 KiB free: a few hundred events fit, then the disk is full.
	var st unix.Statfs_t
	if err := unix.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-64<<10), 0o644); err != nil {
		t.Fatal(err)
	}

	// 3,000 SYNs from 30 ports: the events alone overflow the disk, while
	// the attempts the store keeps for its retries stay small.
	const n = 3000
	if err := connectRefused(client, c4, s4, 20000, n, 30); err != nil {
		t.Fatalf("%v\n%s", err, a.stderr)
	}
	trickle := 30000
	waitFor(t, "the agent to read every SYN and count drops", 20*time.Second, func() bool {
		// A SYN now and then: events keep coming while the disk is full.
		trickle++
		if err := connectRefused(client, c4, s4, trickle, 1, 0); err != nil {
			t.Fatal(err)
		}
		m = scrape()
		// Every connect() of the burst is an attempt: all closed (and
		// dropped) before space returns, else their results alone are more
		// than the disk holds after it, and some output must fail again.
		return m["mxsensor_ring_records_read_total"] >= n && m[`mxsensor_output_dropped_total{output="events"}`] > 0 &&
			m[`mxsensor_output_dropped_total{output="attempts"}`] > 0 && m[`mxsensor_pipeline_attempts_total{family="ipv4"}`] >= n
	}, func() string {
		ls, _ := exec.Command("ls", "-laR", disk).CombinedOutput()
		return fmt.Sprint(m, "\n", string(ls), a.stderr)
	})
	select {
	case err := <-a.done:
		t.Fatalf("the agent stopped on a full disk: %v\n%s", err, a.stderr)
	default:
	}
	stillServing(t, sensorHost, listen)
	if m["mxsensor_outputs_failing"] < 1 || m["mxsensor_xdp_ring_records_lost_total"] != 0 {
		t.Errorf("outputs failing %v, ring records lost %v", m["mxsensor_outputs_failing"], m["mxsensor_xdp_ring_records_lost_total"])
	}
	t.Logf("full disk: dropped events %v attempts %v store %v", m[`mxsensor_output_dropped_total{output="events"}`],
		m[`mxsensor_output_dropped_total{output="attempts"}`], m[`mxsensor_output_dropped_total{output="store"}`])
	jsonl := []string{events, filepath.Join(out, "attempts.jsonl"), filepath.Join(out, "associations.jsonl")}
	noTornLine(t, jsonl...)

	// Space returns: the next SYNs are written again (within the retry
	// interval), and every output recovers.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lsDisk := func() string {
		ls, _ := exec.Command("ls", "-laR", disk).CombinedOutput()
		df, _ := exec.Command("df", disk).CombinedOutput()
		return string(ls) + string(df) + a.stderr.String()
	}
	// SYNs from new ports, until one is in the events file (the first
	// may meet the retry interval and be dropped).
	trickle = 40000
	waitFor(t, "events written again after space returned", 20*time.Second, func() bool {
		trickle++
		if err := connectRefused(client, c4, s4, trickle, 1, 0); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(events)
		for p := 40001; p <= trickle; p++ {
			if bytes.Contains(b, fmt.Appendf(nil, `"sport":%d,`, p)) {
				return true
			}
		}
		return false
	}, lsDisk)
	// Every output resumes, and stays so under a trickle of connects: the
	// store's backlog (more than the disk holds) and its WAL must not fill
	// the disk again.
	waitFor(t, "no output failing after space returned", 20*time.Second, func() bool {
		trickle++
		if err := connectRefused(client, c4, s4, trickle, 1, 0); err != nil {
			t.Fatal(err)
		}
		m = scrape()
		return m["mxsensor_outputs_failing"] == 0
	}, lsDisk)
	rows := m["mxsensor_store_rows_total"]
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		trickle++
		if err := connectRefused(client, c4, s4, trickle, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	m = scrape()
	t.Logf("5 s after space returned: outputs failing %v, store rows %v (were %v)", m["mxsensor_outputs_failing"], m["mxsensor_store_rows_total"], rows)
	if m["mxsensor_outputs_failing"] != 0 || m["mxsensor_store_rows_total"] <= rows {
		t.Errorf("outputs failing %v, store rows %v (were %v): want 0, and rows committed\n%s", m["mxsensor_outputs_failing"],
			m["mxsensor_store_rows_total"], rows, lsDisk())
	}
	a.stop(t)
	noTornLine(t, jsonl...)
}

// jsonlKeys counts the lines of a results file by source port (the client
// uses each port once) and checks it holds whole lines only.
func jsonlKeys(t *testing.T, path string) map[int]int {
	t.Helper()
	noTornLine(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for line := range bytes.Lines(b) {
		var l struct {
			Sport int `json:"sport"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		n[l.Sport]++
	}
	return n
}

// TestCrashLoopExactlyOnce: the agent is killed (-9) at random points while
// a client connects, one start fails (its metrics port is taken) and must
// write nothing, and each restart replays the journal. At the end every
// attempt is in attempts.jsonl and in the store exactly once (and every
// association likewise); only the connects of the last moments before a
// kill, not yet journaled, may be missing, from both alike.
func TestCrashLoopExactlyOnce(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	s4, s6 := netip.MustParseAddr("10.84.0.1"), netip.MustParseAddr("fd84::1")
	c4, c6 := netip.MustParseAddr("10.84.0.2"), netip.MustParseAddr("fd84::2")
	sensorHost, client := sensorLab(t, "mxcrl", s4, s6, c4, c6)
	pins := mountBPFFS(t)
	dir := t.TempDir()
	out, db := filepath.Join(dir, "out"), filepath.Join(dir, "m.db")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const listen = "127.0.0.1:9725"
	args := []string{"--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", "",
		"--local-addr", s4.String(), "--local-addr", s6.String(), "--out", out, "--db", db, "--db-flush", "100ms",
		"--no-report", "--window", "1s", "--horizon", "1s", "--rst-rate", "0", "--metrics-listen", listen}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 14))
	t.Logf("seed %d", seed)

	type made struct {
		port int
		at   time.Time
	}
	var conns []made
	port := 21000
	// connect makes n dual-stack deliveries: IPv6 then IPv4, new ports.
	connect := func(n int) {
		t.Helper()
		for range n {
			for _, p := range [][2]netip.Addr{{c6, s6}, {c4, s4}} {
				port++
				at := time.Now()
				if err := connectRefused(client, p[0], p[1], port, 1, 0); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, made{port, at})
			}
		}
	}
	var kills []time.Time
	for i := range 4 {
		a := startAgent(t, ctx, sensorHost, bin, args...)
		connect(5 + rng.IntN(10))
		// A random point: right away (SYNs still in the ring or not yet
		// journaled), or once attempts have closed and been written.
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		connect(1) // closes the attempts idle by now, in the agent's next flush
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		kills = append(kills, time.Now())
		_ = a.cmd.Process.Kill()
		<-a.done
		if i == 1 {
			// A start that fails after the journal is there to replay:
			// its metrics port is taken. It must write nothing. Past the
			// attempt window, its replay would close and write the
			// journal's last attempts if it ran.
			time.Sleep(1200 * time.Millisecond)
			before := map[string]int64{}
			for _, f := range []string{"attempts.jsonl", "associations.jsonl"} {
				st, _ := os.Stat(filepath.Join(out, f))
				if st != nil {
					before[f] = st.Size()
				}
			}
			var ln net.Listener
			if err := sensorHost.Do(func() (err error) { ln, err = net.Listen("tcp", listen); return }); err != nil {
				t.Fatal(err)
			}
			res, err := sensorHost.Exec(ctx, bin, append([]string{"run"}, args...)...).CombinedOutput()
			ln.Close()
			if err == nil || !strings.Contains(string(res), "metrics") {
				t.Fatalf("start with the metrics port taken: %v\n%s", err, res)
			}
			for _, f := range []string{"attempts.jsonl", "associations.jsonl"} {
				st, _ := os.Stat(filepath.Join(out, f))
				if st != nil && st.Size() != before[f] {
					t.Errorf("the failed start wrote to %s: %d -> %d bytes", f, before[f], st.Size())
				}
			}
		}
	}
	last := startAgent(t, ctx, sensorHost, bin, args...)
	connect(10)
	last.stop(t)

	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stored := func(table string) map[int]int {
		n := map[int]int{}
		rows, err := conn.Query("SELECT sport, COUNT(*) FROM " + table + " GROUP BY sport")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var p, c int
			if err := rows.Scan(&p, &c); err != nil {
				t.Fatal(err)
			}
			n[p] = c
		}
		return n
	}
	fileAtt, fileAssoc := jsonlKeys(t, filepath.Join(out, "attempts.jsonl")), jsonlKeys(t, filepath.Join(out, "associations.jsonl"))
	dbAtt, dbAssoc := stored("attempts"), stored("associations")
	lostLate := 0
	for i, c := range conns {
		fa, da := fileAtt[c.port], dbAtt[c.port]
		lastMoments := false
		for _, k := range kills {
			lastMoments = lastMoments || (c.at.After(k.Add(-time.Second)) && c.at.Before(k))
		}
		switch {
		case fa > 1 || da > 1:
			t.Errorf("port %d: %d times in attempts.jsonl, %d times in the store", c.port, fa, da)
		case fa != da:
			t.Errorf("port %d: %d times in attempts.jsonl, %d times in the store", c.port, fa, da)
		case fa == 0 && lastMoments:
			lostLate++
		case fa == 0:
			t.Errorf("port %d (connect at %s): not recorded", c.port, c.at.Format("15:04:05.000"))
		}
		if i%2 == 0 && (fileAssoc[c.port] > 1 || fileAssoc[c.port] != dbAssoc[c.port] || fileAssoc[c.port] != fa) {
			t.Errorf("IPv6 port %d: %d associations in the file, %d in the store, %d attempts", c.port, fileAssoc[c.port], dbAssoc[c.port], fa)
		}
	}
	if len(fileAtt) != len(dbAtt) || len(fileAssoc) != len(dbAssoc) {
		t.Errorf("file and store differ: %d/%d attempts, %d/%d associations", len(fileAtt), len(dbAtt), len(fileAssoc), len(dbAssoc))
	}
	t.Logf("%d connect() attempts over %d kills, %d recorded, %d lost in the moments before a kill", len(conns), len(kills), len(fileAtt), lostLate)
}

// stillServing checks what a full disk must not stop: /healthz says ok
// and the XDP program stays attached to the sensor's eth0.
func stillServing(t *testing.T, sensorHost *netlab.Host, listen string) {
	t.Helper()
	if code, body, err := httpGetIn(sensorHost, listen, "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("healthz on a full disk: %d %q %v", code, body, err)
	}
	if err := sensorHost.Do(func() error {
		if att, _, err := dataplane.XDPAttached("eth0"); err != nil || !att {
			return fmt.Errorf("XDP attached %v: %v", att, err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
