package enrich

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLoadStaticNames(t *testing.T) {
	if n, err := LoadStaticNames("", "", zap.NewNop()); err != nil || n != (StaticNames{}) {
		t.Errorf("no tables: %+v, %v", n, err)
	}
	dir := t.TempDir()
	asn, ptr := filepath.Join(dir, "asn.txt"), filepath.Join(dir, "ptr.txt")
	os.WriteFile(asn, []byte("192.0.2.0/24\t64500\tEXAMPLE\nnot a line\n"), 0o644)
	os.WriteFile(ptr, []byte("192.0.2.7 mail.example.test\n"), 0o644)
	core, logs := observer.New(zap.WarnLevel)
	n, err := LoadStaticNames(asn, ptr, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if as, ok := n.Origin(netip.MustParseAddr("192.0.2.7")); !ok || as != 64500 || n.PTRs == nil {
		t.Errorf("origin %d %v, ptr table %v", as, ok, n.PTRs)
	}
	if w := logs.All(); len(w) != 1 || w[0].ContextMap()["file"] != asn || w[0].ContextMap()["bad_lines"] != int64(1) {
		t.Errorf("warnings %v", w)
	}
	if _, err := LoadStaticNames(asn, filepath.Join(dir, "missing"), zap.NewNop()); err == nil {
		t.Error("a missing PTR table was passed over")
	}
}
