package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// explainOpen returns why SQLite could not open or create the database at
// path when the directory or the file is the reason (missing, read-only,
// no permission), in place of SQLite's "unable to open database file (14)";
// otherwise err unchanged.
func explainOpen(path string, err error) error {
	dir := filepath.Dir(path)
	if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	// WAL mode creates path-wal and path-shm beside the database, so the
	// directory must be writable even when the file exists.
	if aerr := unix.Access(dir, unix.W_OK|unix.X_OK); aerr != nil {
		return fmt.Errorf("directory %s is not writable (%w)", dir, aerr)
	}
	if aerr := unix.Access(path, unix.R_OK|unix.W_OK); aerr != nil && !errors.Is(aerr, unix.ENOENT) {
		return fmt.Errorf("%s is not readable and writable (%w)", path, aerr)
	}
	return err
}
