package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/metrics"
	"github.com/mxsensor/mxsensor/internal/netlab"
)

// TestMetricsListenDefault: metrics are on by default, on loopback only.
func TestMetricsListenDefault(t *testing.T) {
	f := newRunCmd().Flags().Lookup("metrics-listen")
	if f == nil || f.DefValue != metrics.DefaultListen {
		t.Fatalf("--metrics-listen default: %+v", f)
	}
	host, _, err := net.SplitHostPort(f.DefValue)
	if err != nil || !netip.MustParseAddr(host).IsLoopback() {
		t.Errorf("default %q is not a loopback address", f.DefValue)
	}
}

// httpGetIn sends GET path to addr from inside h's network namespace and
// returns the status and body. The connection is made on the namespace's
// thread; the request then runs over it as usual.
func httpGetIn(h *netlab.Host, addr, path string) (int, string, error) {
	var conn net.Conn
	if err := h.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return 0, "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// parseExposition turns the text exposition format into series -> value,
// the series written as in the text (`name{label="v",...}`).
func parseExposition(text string) (map[string]float64, error) {
	m := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("bad line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %w", line, err)
		}
		m[line[:i]] = v
	}
	return m, nil
}

// scrapeMetrics reads the agent's /metrics at addr in h's namespace;
// stderr (the agent's) goes into the failure message.
func scrapeMetrics(t *testing.T, h *netlab.Host, addr string, stderr fmt.Stringer) map[string]float64 {
	t.Helper()
	code, body, err := httpGetIn(h, addr, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", code, err, stderr)
	}
	m, err := parseExposition(body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sumMetric adds up every series of a metric, whatever its labels.
func sumMetric(m map[string]float64, name string) float64 {
	sum := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// TestMetricsIntegration runs the real agent in a lab with metrics on,
// scrapes it from inside the sensor's namespace, makes connect() attempts
// from a client and checks that the counters moved by exactly as much.
func TestMetricsIntegration(t *testing.T) {
	netlab.RequireRoot(t)
	bin := buildBinary(t)
	s4, s6 := netip.MustParseAddr("10.79.0.1"), netip.MustParseAddr("fd79::1")
	c4, c6 := netip.MustParseAddr("10.79.0.2"), netip.MustParseAddr("fd79::2")
	sensorHost, client := sensorLab(t, "mxme", s4, s6, c4, c6)
	pins := mountBPFFS(t)
	out := filepath.Join(t.TempDir(), "live")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The namespace is the test's own, so the default port cannot clash.
	const listen = "127.0.0.1:9725"
	a := startAgent(t, ctx, sensorHost, bin, "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins,
		"--events", "", "--local-addr", s4.String(), "--local-addr", s6.String(), "--log-format", "json",
		"--out", out, "--no-report", "--metrics-listen", listen, "--reject-log", metricsRejectLog(t))

	scrape := func() map[string]float64 {
		t.Helper()
		code, body, err := httpGetIn(sensorHost, listen, "/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /metrics: %d %v\n%s\n%s", code, err, body, a.stderr)
		}
		m, err := parseExposition(body)
		if err != nil {
			t.Fatalf("GET /metrics: %v\n%s", err, body)
		}
		return m
	}
	if code, body, err := httpGetIn(sensorHost, listen, "/healthz"); err != nil || code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz once ready: %d %q %v", code, body, err)
	}
	before := scrape()
	for _, series := range []string{
		"mxsensor_up", `mxsensor_build_info{goversion=`, `mxsensor_xdp_info{attach_mode="generic",iface="eth0",reply_mode="reject"}`,
		"mxsensor_xdp_packets_total", "mxsensor_xdp_syns_matched_total", `mxsensor_xdp_outcomes_total{outcome="rst_sent"}`,
		`mxsensor_xdp_outcomes_total{outcome="pass_other_port"}`, `mxsensor_xdp_anomalies_total{kind="anomaly_bad_tcp_data_offset"}`,
		"mxsensor_xdp_ring_records_total", "mxsensor_xdp_ring_records_lost_total",
		"mxsensor_ring_records_read_total", "mxsensor_ring_short_samples_total", "mxsensor_ring_size_bytes", "mxsensor_ring_pending_bytes",
		"mxsensor_events_written_total", "mxsensor_sink_errors_total",
		"mxsensor_pipeline_syns_total", `mxsensor_pipeline_attempts_total{family="ipv6"}`, "mxsensor_pipeline_associations_total",
		"mxsensor_pipeline_spammer_attempts_total", "go_goroutines", "process_open_fds",
		"mxsensor_rejectlog_lines_total", "mxsensor_rejectlog_rejections_total", "mxsensor_store_batches_total",
	} {
		found := false
		for k := range before {
			if k == series || strings.HasPrefix(k, series) && strings.HasSuffix(series, "=") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no series %s in the first scrape", series)
		}
	}
	if before["mxsensor_up"] != 1 {
		t.Errorf("mxsensor_up = %v while running", before["mxsensor_up"])
	}

	// n connect() attempts per family to port 25, refused by the sensor,
	// and one to port 26, which passes to the kernel.
	const n = 3
	err := client.Do(func() error {
		dial := func(src, dst netip.Addr, port int) error {
			d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			conn, err := d.Dial("tcp", netip.AddrPortFrom(dst, uint16(port)).String())
			if err == nil {
				conn.Close()
				return fmt.Errorf("connect to %v:%d succeeded", dst, port)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("connect to %v:%d: %w, want ECONNREFUSED", dst, port, err)
			}
			return nil
		}
		for range n {
			if err := dial(c4, s4, 25); err != nil {
				return err
			}
			if err := dial(c6, s6, 25); err != nil {
				return err
			}
		}
		return dial(c4, s4, 26)
	})
	if err != nil {
		t.Fatal(err)
	}

	// The kernel counts at once; the agent once it has drained the ring.
	var after map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = scrape()
		if after["mxsensor_pipeline_syns_total"]-before["mxsensor_pipeline_syns_total"] >= 2*n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	delta := func(series string) float64 { return after[series] - before[series] }
	for _, series := range []string{"mxsensor_xdp_syns_matched_total", `mxsensor_xdp_outcomes_total{outcome="rst_sent"}`,
		"mxsensor_xdp_ring_records_total", "mxsensor_ring_records_read_total", "mxsensor_events_written_total",
		"mxsensor_pipeline_syns_total"} {
		if d := delta(series); d != 2*n {
			t.Errorf("%s moved by %v, want %d", series, d, 2*n)
		}
	}
	if d := delta(`mxsensor_xdp_outcomes_total{outcome="pass_other_port"}`); d < 1 {
		t.Errorf("the SYN to port 26 is not counted as passed (moved by %v)", d)
	}
	if d := delta("mxsensor_xdp_packets_total"); d < 2*n+1 {
		t.Errorf("mxsensor_xdp_packets_total moved by %v, want at least %d", d, 2*n+1)
	}
	for _, series := range []string{"mxsensor_xdp_ring_records_lost_total", "mxsensor_sink_errors_total", "mxsensor_ring_short_samples_total"} {
		if after[series] != 0 {
			t.Errorf("%s = %v, want 0", series, after[series])
		}
	}
	if code, body, err := httpGetIn(sensorHost, listen, "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("GET /healthz while running: %d %q %v", code, body, err)
	}

	// A clean stop takes the server down with the agent.
	a.stop(t)
	if _, _, err := httpGetIn(sensorHost, listen, "/healthz"); err == nil {
		t.Error("metrics server still answers after the agent stopped")
	}
}

// metricsRejectLog writes a reject log of two lines, one a DNSBL rejection.
func metricsRejectLog(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "mail.log")
	log := time.Now().UTC().Format(time.RFC3339) + " mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.7]: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; from=<a@b> to=<c@d> proto=ESMTP helo=<x>\n" +
		time.Now().UTC().Format(time.RFC3339) + " mx postfix/smtpd[1]: connect from unknown[192.0.2.8]\n"
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
