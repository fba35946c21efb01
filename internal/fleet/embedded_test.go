package fleet

import (
	"net"
	"strings"
	"testing"
)

// TestEmbeddedPortZero: port 0 picks a free port, not the server's
// default 4222 (which another server may hold).
func TestEmbeddedPortZero(t *testing.T) {
	if l, err := net.Listen("tcp", "127.0.0.1:4222"); err == nil {
		defer l.Close()
	}
	e, err := StartEmbedded(EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if strings.HasSuffix(e.URL(), ":4222") {
		t.Errorf("listening on %s", e.URL())
	}
}
