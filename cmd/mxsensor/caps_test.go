package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// TestRunWithLeastCapabilities runs the agent as the systemd unit does: an
// unprivileged user holding only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON
// (ambient, with every other capability out of the bounding set), a pin
// directory prepared for it, and the store. It must attach, refuse
// connections and stop cleanly.
func TestRunWithLeastCapabilities(t *testing.T) {
	netlab.RequireRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) not installed; CI=true: failing instead of skipping")
		}
		t.Skip("setpriv (util-linux) not installed")
	}
	bin := buildBinary(t)
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const nobody = 65534
	s4, c4 := netip.MustParseAddr("10.81.0.1"), netip.MustParseAddr("10.81.0.2")
	sensorHost, client := sensorLab(t, "mxcap", s4, netip.Addr{}, c4, netip.Addr{})
	// What the unit's ExecStartPre and StateDirectory prepare.
	pins := mountBPFFS(t)
	state := t.TempDir()
	for _, d := range []string{pins, state} {
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(state, 0o750); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(state, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := sensorHost.Exec(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+bpf,+net_admin,+perfmon", "--ambient-caps=-all,+bpf,+net_admin,+perfmon",
		"--bounding-set=-all,+bpf,+net_admin,+perfmon", "--no-new-privs",
		bin, "run", "--iface", "eth0", "--xdp-mode", "generic", "--pin-dir", pins, "--events", filepath.Join(state, "events.jsonl"),
		"--db", filepath.Join(state, "mxsensor.db"), "--out", filepath.Join(state, "out"), "--ready-file", ready,
		"--metrics-listen", "127.0.0.1:9725")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the agent with three capabilities exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20s\n%s", stderr.String())
		}
	}
	err = client.Do(func() error {
		for i := range 3 {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: c4.AsSlice(), Port: 42100 + i}}
			conn, err := d.Dial("tcp", netip.AddrPortFrom(s4, 25).String())
			if err == nil {
				conn.Close()
				return errors.New("the sensor accepted a connection")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // one flush interval, for the events file
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit on SIGTERM\n%s", stderr.String())
	}
	ev, err := os.ReadFile(filepath.Join(state, "events.jsonl"))
	if err != nil || strings.Count(string(ev), "\n") != 3 {
		t.Errorf("events: %v\n%s", err, ev)
	}
	if _, err := os.Stat(filepath.Join(state, "mxsensor.db")); err != nil {
		t.Errorf("store: %v", err)
	}
}
