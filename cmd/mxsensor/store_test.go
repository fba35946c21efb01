package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mxsensor/mxsensor/internal/capture"
	"github.com/mxsensor/mxsensor/internal/dataplane"
	"github.com/mxsensor/mxsensor/internal/netlab"
	"github.com/mxsensor/mxsensor/internal/store"
)

// TestStoreSurvivesKill9 kills the live agent with SIGKILL while clients
// connect, restarts it on the same store, and checks the store: not
// corrupt, no attempt twice, and nothing lost but what the last commit
// interval (--db-flush, 1 s) held.
func TestStoreSurvivesKill9(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	s4, s6 := netip.MustParseAddr("10.79.0.1"), netip.MustParseAddr("fd79::1")
	c4, c6 := netip.MustParseAddr("10.79.0.2"), netip.MustParseAddr("fd79::2")
	sensorHost, client := sensorLab(t, "mxdb", s4, s6, c4, c6)
	pins := mountBPFFS(t)
	db := filepath.Join(t.TempDir(), "mxsensor.db")
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The reject log starts without the client: its rejection is logged
	// while the agent runs, and the agent follows the log.
	mailLog := filepath.Join(t.TempDir(), "mail.log")
	if err := os.WriteFile(mailLog, []byte(time.Now().UTC().Format(time.RFC3339)+" mx postfix/smtpd[1]: connect from unknown[192.0.2.9]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", "",
		"--local-addr", s4.String(), "--local-addr", s6.String(), "--db", db, "--db-flush", "1s", "--out", out, "--no-report",
		"--reject-log", mailLog, "--tz", "UTC"}

	// connect makes one IPv6 then one IPv4 attempt (as a dual-stack client
	// does) from distinct ports; the sensor refuses both.
	type made struct {
		port int
		at   time.Time
	}
	var attempts []made
	port := 20000
	connect := func(n int, every time.Duration) {
		t.Helper()
		err := client.Do(func() error {
			for range n {
				for _, p := range [][2]netip.Addr{{c6, s6}, {c4, s4}} {
					port++
					d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: p[0].AsSlice(), Port: port}}
					at := time.Now()
					conn, err := d.Dial("tcp", netip.AddrPortFrom(p[1], 25).String())
					if err == nil {
						conn.Close()
						return fmt.Errorf("port %d: the sensor accepted a connection", port)
					}
					if !errors.Is(err, syscall.ECONNREFUSED) {
						return fmt.Errorf("port %d: %v", port, err)
					}
					attempts = append(attempts, made{port, at})
				}
				time.Sleep(every)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	a := startAgent(t, ctx, sensorHost, bin, args...)
	f, err := os.OpenFile(mailLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 Service unavailable; Client host [%s] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n",
		time.Now().UTC().Format(time.RFC3339), c4, c4)
	f.Close()
	connect(30, 100*time.Millisecond) // 3 s of traffic
	killedAt := time.Now()
	_ = a.cmd.Process.Kill()
	<-a.done
	connect(5, 50*time.Millisecond) // while no agent runs: the pinned ring keeps them
	b := startAgent(t, ctx, sensorHost, bin, args...)
	connect(20, 50*time.Millisecond)
	b.stop(t)

	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	stored := map[int]int{}
	rows, err := conn.Query("SELECT sport, COUNT(*) FROM attempts GROUP BY sport")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, n int
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		stored[p] = n
	}
	rows.Close()
	lostLate, lost := 0, 0
	for _, m := range attempts {
		switch n := stored[m.port]; {
		case n > 1:
			t.Errorf("port %d: %d attempts stored", m.port, n)
		case n == 0 && m.at.After(killedAt.Add(-time.Second)) && m.at.Before(killedAt):
			lostLate++ // in the last commit interval before the kill: may be lost
		case n == 0:
			lost++
			t.Errorf("port %d (connect at %s, kill at %s): not stored", m.port, m.at.Format("15:04:05.000"), killedAt.Format("15:04:05.000"))
		}
	}
	var v6, assoc int
	if err := conn.QueryRow("SELECT COUNT(*) FROM attempts WHERE family = 6").Scan(&v6); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow("SELECT COUNT(*) FROM associations").Scan(&assoc); err != nil {
		t.Fatal(err)
	}
	if v6 != assoc {
		t.Errorf("%d IPv6 attempts but %d associations", v6, assoc)
	}
	// The followed rejection labelled the client a spammer, and the store
	// keeps it and how far the log was read.
	var spam, rej, pos int
	for q, dst := range map[string]*int{
		"SELECT COUNT(*) FROM associations WHERE spammer = 1":                  &spam,
		"SELECT COUNT(*) FROM rejections WHERE ip = '" + c4.String() + "'":     &rej,
		"SELECT COUNT(*) FROM reject_positions WHERE file = '" + mailLog + "'": &pos,
	} {
		if err := conn.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if spam != v6 || rej != 1 || pos != 1 {
		t.Errorf("reject log followed: %d of %d IPv6 attempts spammer, %d rejections stored, %d positions", spam, v6, rej, pos)
	}
	t.Logf("%d connect() attempts made, %d stored, %d lost in the last second before the kill, %d lost otherwise",
		len(attempts), len(stored), lostLate, lost)
}

// analyze --from-db over the SYN events a store kept gives the same results
// as analyze --pcap over the capture they came from.
func TestAnalyzeFromStore(t *testing.T) {
	dir := t.TempDir()
	capPath := "../../testdata/syns.pcap"
	cfg := store.DefaultConfig()
	cfg.SampleSYNs, cfg.Journal = 1, 0
	st, err := store.Open(filepath.Join(dir, "s.db"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := capture.Open(capPath)
	if err != nil {
		t.Fatal(err)
	}
	dp := dataplane.DefaultConfig()
	dp.Mode, dp.RateLimit = dataplane.ModeObserve, 0
	er := capture.NewEventReader(r, dp)
	n := 0
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		if err := st.Write(ev); err != nil {
			t.Fatal(err)
		}
		n++
	}
	r.Close()
	if err := st.Close(); err != nil || n == 0 {
		t.Fatalf("%d events stored: %v", n, err)
	}
	outs := map[string]string{}
	for name, src := range map[string][]string{"pcap": {"--pcap", capPath}, "db": {"--from-db", filepath.Join(dir, "s.db")}} {
		o := filepath.Join(dir, name)
		args := append([]string{"analyze", "--out", o, "--p0f-db", "", "--no-report"}, src...)
		if _, errs, err := runCLI(t, args...); err != nil {
			t.Fatalf("analyze %v: %v\n%s", src, err, errs)
		}
		b, err := os.ReadFile(filepath.Join(o, "associations.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(filepath.Join(o, "attempts.jsonl"))
		outs[name] = string(a) + string(b)
	}
	if outs["pcap"] == "" || outs["pcap"] != outs["db"] {
		t.Errorf("analyze --from-db differs from analyze --pcap over the same SYNs (%d vs %d bytes)", len(outs["db"]), len(outs["pcap"]))
	}
	if _, _, err := runCLI(t, "analyze", "--out", dir, "--pcap", capPath, "--from-db", filepath.Join(dir, "s.db")); err == nil {
		t.Error("--pcap and --from-db together were accepted")
	}
}
