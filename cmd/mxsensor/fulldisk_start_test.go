package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// TestFullDiskAtStart: the agent started with --db, --out and --events on
// a file system that is already full starts all the same (it used to exit:
// SQLite could not size its WAL index), answers SYNs with XDP attached,
// counts what every output drops, and once the space is freed the store
// opens by itself: rows reach it, attempts.jsonl gains lines, and no
// output is failing any more.
func TestFullDiskAtStart(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	s4, c4 := netip.MustParseAddr("10.85.0.1"), netip.MustParseAddr("10.85.0.2")
	sensorHost, client := sensorLab(t, "mxfull", s4, netip.Addr{}, c4, netip.Addr{})
	pins := mountBPFFS(t)
	disk := mountTmpfs(t, 1<<20)
	events, out, db := filepath.Join(disk, "events.jsonl"), filepath.Join(disk, "out"), filepath.Join(disk, "m.db")
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4096); ; {
		if _, err := filler.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const listen = "127.0.0.1:9725"
	a := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins,
		"--events", events, "--out", out, "--db", db, "--db-flush", "200ms", "--no-report", "--window", "1s", "--horizon", "1s",
		"--local-addr", s4.String(), "--metrics-listen", listen, "--log-format", "json", "--rst-rate", "0")
	scrape := func() map[string]float64 { return scrapeMetrics(t, sensorHost, listen, a.stderr) }
	show := func() string {
		ls, _ := exec.Command("ls", "-laR", disk).CombinedOutput()
		df, _ := exec.Command("df", disk).CombinedOutput()
		return string(ls) + string(df) + a.stderr.String()
	}
	if !strings.Contains(a.stderr.String(), "store not open: the file system is full") {
		t.Errorf("no warning that the store is not open\n%s", a.stderr)
	}

	// Connects while the disk is full: refused, read, dropped and counted.
	const n = 200
	if err := connectRefused(client, c4, s4, 20000, n, 0); err != nil {
		t.Fatalf("%v\n%s", err, a.stderr)
	}
	port := 30000
	var m map[string]float64
	waitFor(t, "the agent to read every SYN and count drops", 20*time.Second, func() bool {
		port++ // a SYN now and then closes the attempts by the clock
		if err := connectRefused(client, c4, s4, port, 1, 0); err != nil {
			t.Fatal(err)
		}
		m = scrape()
		return m["mxsensor_ring_records_read_total"] >= n && m[`mxsensor_output_dropped_total{output="events"}`] > 0 &&
			m[`mxsensor_output_dropped_total{output="attempts"}`] > 0 && m[`mxsensor_output_dropped_total{output="store"}`] > 0
	}, func() string { return fmt.Sprint(m, "\n", show()) })
	stillServing(t, sensorHost, listen)
	if m["mxsensor_outputs_failing"] < 3 || m["mxsensor_store_rows_total"] != 0 {
		t.Errorf("outputs failing %v (want events, attempts, store), store rows %v", m["mxsensor_outputs_failing"], m["mxsensor_store_rows_total"])
	}
	t.Logf("full disk at start: dropped events %v attempts %v store %v", m[`mxsensor_output_dropped_total{output="events"}`],
		m[`mxsensor_output_dropped_total{output="attempts"}`], m[`mxsensor_output_dropped_total{output="store"}`])

	// Space is freed: the store opens (it retries every 2 s), every output
	// writes again, and stays so while connects go on.
	if err := os.Remove(filler.Name()); err != nil {
		t.Fatal(err)
	}
	freed, first := time.Now(), port+1
	attempts := filepath.Join(out, "attempts.jsonl")
	waitFor(t, "rows in the store, lines in attempts.jsonl and no output failing", 20*time.Second, func() bool {
		port++
		if err := connectRefused(client, c4, s4, port, 1, 0); err != nil {
			t.Fatal(err)
		}
		m = scrape()
		b, _ := os.ReadFile(attempts)
		return m["mxsensor_store_rows_total"] > 0 && m["mxsensor_outputs_failing"] == 0 && len(b) > 0
	}, func() string { return fmt.Sprint(m, "\n", show()) })
	t.Logf("after space was freed: store rows %v and no output failing within %v", m["mxsensor_store_rows_total"], time.Since(freed).Round(time.Millisecond))
	a.stop(t)
	noTornLine(t, events, attempts, filepath.Join(out, "associations.jsonl"))

	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stored, late int
	if err := conn.QueryRow("SELECT COUNT(*), COUNT(CASE WHEN sport >= ? THEN 1 END) FROM attempts", first).Scan(&stored, &late); err != nil {
		t.Fatal(err)
	}
	inFile := jsonlKeys(t, attempts)
	lateInFile := 0
	for p := range inFile {
		if p >= first {
			lateInFile++
		}
	}
	t.Logf("attempts stored %d (%d of the connects after space was freed), in attempts.jsonl %d (%d)", stored, late, len(inFile), lateInFile)
	if late == 0 || lateInFile == 0 {
		t.Errorf("connects after space was freed: %d attempts stored, %d in attempts.jsonl", late, lateInFile)
	}
}
