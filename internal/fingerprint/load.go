package fingerprint

import (
	"errors"
	"os"

	"go.uber.org/zap"
)

// DBConfig says which signatures a measurement's database holds.
type DBConfig struct {
	// Path is a p0f v3 database file ("" = none).
	Path string
	// Required makes a missing Path an error; otherwise a missing file is
	// passed over (the stock file, when p0f is not installed).
	Required bool
	// Builtin adds the built-in signatures after the file's.
	Builtin bool
}

// LoadDB builds the database cfg asks for; the file's lines that do not
// parse are warned about through log and skipped.
func LoadDB(cfg DBConfig, log *zap.Logger) (*DB, error) {
	var dbs []*DB
	if cfg.Path != "" {
		if _, err := os.Stat(cfg.Path); err == nil || cfg.Required {
			db, warns, err := LoadFile(cfg.Path)
			if err != nil {
				return nil, err
			}
			for _, w := range warns {
				log.Warn("p0f database line skipped", zap.String("file", w.File), zap.Int("line", w.Line), zap.String("reason", w.Msg))
			}
			dbs = append(dbs, db)
		}
	}
	if cfg.Builtin {
		dbs = append(dbs, Builtin())
	}
	if len(dbs) == 0 {
		return nil, errors.New("no fingerprint database: the p0f file is missing and the built-in signatures are off")
	}
	return Merge(dbs...), nil
}
