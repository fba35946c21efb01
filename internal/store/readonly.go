package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrReadOnly is returned by the writes to a store opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("store opened read-only")

// OpenReadOnly opens the existing database at path to read it (report,
// blocklist, dnsbl, analyze --from-db), possibly while an agent writes it.
// A missing file is an error, not a new empty database; nothing is
// journaled or expired, and every write fails with ErrReadOnly. (An older
// schema is still migrated, as by Open.)
func OpenReadOnly(path string) (*Store, error) {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, below
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("store %s: is a directory", path)
	}
	cfg := DefaultConfig()
	cfg.Journal, cfg.Retention = 0, 0 // a reader changes nothing
	s, err := Open(path, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.err = ErrReadOnly
	s.mu.Unlock()
	return s, nil
}
