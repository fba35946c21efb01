package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxsensor/mxsensor/internal/netlab"
)

// TestRunWithLeastCapabilities runs the agent as the systemd unit does: an
// unprivileged user holding only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON
// (ambient, with every other capability out of the bounding set), a pin
// directory prepared for it, and the store. It must attach, refuse
// connections and stop cleanly.
func TestRunWithLeastCapabilities(t *testing.T) {
	netlab.RequireRoot(t)
	setpriv := requireTool(t, "setpriv", "util-linux")
	bin := buildBinary(t)
	a := startConfined(t, "mxcap", netip.MustParseAddr("10.81.0.1"), netip.MustParseAddr("10.81.0.2"), bin,
		func(string, string) []string {
			return []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
				"--inh-caps=-all,+bpf,+net_admin,+perfmon", "--ambient-caps=-all,+bpf,+net_admin,+perfmon",
				"--bounding-set=-all,+bpf,+net_admin,+perfmon", "--no-new-privs"}
		})
	a.refuse(42100)
	a.stop()
	if _, err := os.Stat(filepath.Join(a.state, "mxsensor.db")); err != nil {
		t.Errorf("store: %v", err)
	}
}
