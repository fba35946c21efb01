package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit grants exactly the agent's three capabilities and
// passes `systemd-analyze verify` (with the binary where the unit expects
// it replaced by a freshly built one).
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../packaging/mxsensor.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON", "CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("the unit lacks %q", line)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	fixed := strings.ReplaceAll(string(unit), "/usr/local/bin/mxsensor", bin)
	path := filepath.Join(dir, "mxsensor.service")
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	// Outside a booted systemd, verify may warn about the host; only
	// complaints about the unit itself count.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "mxsensor.service") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
	if err != nil && strings.Contains(string(out), "mxsensor.service") {
		t.Errorf("systemd-analyze verify: %v", err)
	}
}
