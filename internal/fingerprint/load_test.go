package fingerprint

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLoadDB(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.fp")
	// A stock file that is not there is passed over, unless asked for.
	db, err := LoadDB(DBConfig{Path: missing, Builtin: true}, zap.NewNop())
	if err != nil || db.Len() != Builtin().Len() {
		t.Errorf("missing optional file: %v", err)
	}
	if _, err := LoadDB(DBConfig{Path: missing, Required: true, Builtin: true}, zap.NewNop()); err == nil {
		t.Error("a missing file asked for was passed over")
	}
	if _, err := LoadDB(DBConfig{Path: missing}, zap.NewNop()); err == nil {
		t.Error("no database at all accepted")
	}
	// A file's doubtful lines are warned about; its signatures come first.
	fp := filepath.Join(dir, "p0f.fp")
	sig := "sig = 4:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0\n"
	text := "classes = unix\n[tcp:request]\nlabel = s:unix:Test:1\n" + sig + sig // the second is covered: a warning
	if err := os.WriteFile(fp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	db, err = LoadDB(DBConfig{Path: fp, Builtin: true}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != Builtin().Len()+2 {
		t.Errorf("%d signatures, want the file's two and the built-in %d", db.Len(), Builtin().Len())
	}
	if w := logs.FilterMessage("p0f database line skipped").All(); len(w) != 1 || w[0].ContextMap()["line"] != int64(5) {
		t.Errorf("warnings %v", logs.All())
	}
}
