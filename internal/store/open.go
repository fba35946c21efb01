package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

// probeSize is what the space probe writes: more than the 32 KiB of the
// WAL index (path-shm) that SQLite sizes first when it opens a database.
const probeSize = 64 << 10

// outOfSpace says whether err, the failure to open the database at path,
// is the file system being full, which freeing space cures while the
// agent runs, rather than a fault that must stop the start (a missing or
// read-only directory, permissions, a corrupt file, a newer schema).
//
// SQLite does not pass the errno on, and names a full disk in several
// ways: SQLITE_FULL when a write of the database or the WAL fails, but
// SQLITE_IOERR_SHMSIZE (4874) when the WAL index cannot be sized, other
// SQLITE_IOERR codes, or SQLITE_CANTOPEN when not even a directory entry
// fits. So:
//   - SQLITE_FULL, or ENOSPC or EDQUOT from our own calls (creating the
//     directory): out of space;
//   - any other error than SQLITE_IOERR and SQLITE_CANTOPEN: not (SQLite
//     says what it is: corrupt, not a database, read-only, our schema
//     check);
//   - for those two, the errno of a probe: an unlinked file written in
//     the directory with our own credentials. ENOSPC or EDQUOT: out of
//     space; another error (EROFS, EACCES, ENOENT): not, and explainOpen
//     says which; no error: out of space only if statfs shows less free
//     than the probe wrote (the space came and went), otherwise a fault
//     that is not about space.
func outOfSpace(path string, err error) bool {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return true
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
	default:
		return false
	}
	dir := filepath.Dir(path)
	switch perr := probeWrite(dir); {
	case errors.Is(perr, unix.ENOSPC), errors.Is(perr, unix.EDQUOT):
		return true
	case perr != nil:
		return false
	}
	free, _, ok := fsSpace(dir)
	return ok && free < probeSize
}

// probeWrite writes probeSize bytes to a file in dir that is unlinked at
// once (nothing is left behind, even by a crash) and returns the errno.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".mxsensor-probe-*")
	if err != nil {
		return err
	}
	_ = os.Remove(f.Name())
	_, err = f.Write(make([]byte, probeSize))
	if err == nil {
		// Some file systems report a lack of space only when the data
		// is written back.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsSpace returns the bytes free (for this user) and the size of the file
// system holding dir; ok is false if statfs fails or tells nothing (some
// network and FUSE file systems report no blocks at all).
func fsSpace(dir string) (free, size uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 0, 0, false
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), true
}
