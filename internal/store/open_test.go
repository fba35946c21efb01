package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// An --db that cannot be created names the path and why, not SQLite's
// "unable to open database file (14)".
func TestOpenExplainsUnwritableDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	_, err := Open(filepath.Join(missing, "mxsensor.db"), DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "directory "+missing+" does not exist") {
		t.Errorf("missing directory: %v", err)
	}

	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount a read-only tmpfs (CI=true: failing instead of skipping)")
		}
		t.Skip("skipping the read-only file system case: needs root to mount a read-only tmpfs")
	}
	ro := t.TempDir()
	if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
		t.Fatalf("mounting a read-only tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(ro, unix.MNT_DETACH) })
	path := filepath.Join(ro, "mxsensor.db")
	_, err = Open(path, DefaultConfig())
	want := "store " + path + ": directory " + ro + " is not writable (read-only file system)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("read-only directory: %v, want %q", err, want)
	}
}
