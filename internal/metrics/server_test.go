package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/sensor"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsServerHealthz: /metrics serves the registry, /healthz follows the agent's
// health, other paths and methods are refused, and Stop closes it.
func TestMetricsServerHealthz(t *testing.T) {
	a := &fakeAgent{state: sensor.StateStarting}
	reg, err := newTestRegistry(Sources{Agent: a, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(reg, a.Healthy, a.Healthy, zap.NewNop())
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = s.Stop(context.Background())
		}
	})
	base := "http://" + s.Addr().String()

	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Errorf("healthz before attach: %d %q", code, body)
	}
	a.mu.Lock()
	a.state, a.attached = sensor.StateRunning, true
	a.mu.Unlock()
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz while running: %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "mxsensor_up 1\n") || !strings.Contains(body, `mxsensor_build_info{goversion=`) ||
		!strings.Contains(body, "mxsensor_xdp_packets_total 0\n") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d\n%s", code, body)
	}
	if code, _ := get(t, base+"/"); code != http.StatusNotFound {
		t.Errorf("/: %d, want 404", code)
	}
	resp, err := http.Post(base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}

	// The address is taken while it serves.
	if err := NewServer(reg, a.Healthy, a.Healthy, zap.NewNop()).Start(s.Addr().String()); err == nil {
		t.Error("second server on the same address started")
	}
	stopped = true
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get(base + "/healthz"); err == nil {
		t.Error("server still answers after Stop")
	}
}
