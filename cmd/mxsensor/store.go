package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxsensor/mxsensor/cmd/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
)

// storeOptions are the settings of addStoreFlags.
type storeOptions struct {
	DB           string                  `mapstructure:"db"`
	DBFlush      config.PositiveDuration `mapstructure:"db-flush"`
	DBJournal    time.Duration           `mapstructure:"db-journal"`
	DBSampleSyns int                     `mapstructure:"db-sample-syns"`
	DBRetention  time.Duration           `mapstructure:"db-retention"`
}

// Validate checks the store's bounds.
func (o storeOptions) Validate() error {
	if o.DBJournal < 0 || o.DBSampleSyns < 0 || o.DBRetention < 0 {
		return errors.New("--db-journal, --db-sample-syns and --db-retention must be >= 0")
	}
	return nil
}

// addStoreFlags adds --db and the store's knobs; def is the default path
// ("" = no store unless asked for).
func addStoreFlags(cmd *cobra.Command, def string) {
	f := cmd.Flags()
	help := "embedded SQLite store of the results (\"\" = none)"
	if def != "" {
		help = "embedded SQLite store of the results; restarts resume from it (\"\" = none)"
	}
	f.String("db", def, help)
	sd := store.DefaultConfig()
	config.PositiveDurationVar(f, "db-flush", sd.FlushInterval, "commit the store at least this often: the most a kill -9 loses")
	f.Duration("db-journal", sd.Journal, "keep this much of the raw SYNs in the store, to replay after a restart (0 = off)")
	f.Int("db-sample-syns", sd.SampleSYNs, "also keep one SYN event in N for the long term (0 = none, 1 = all)")
	f.Duration("db-retention", sd.Retention, "delete stored results older than this, counted back from the newest one stored (or now, if earlier) (0 = keep all)")
}

// config is the store's configuration (the path "" = no store).
func (o storeOptions) config() (path string, cfg store.Config, err error) {
	cfg = store.DefaultConfig()
	if o.DB == "" {
		return "", cfg, nil
	}
	if err := o.Validate(); err != nil {
		return "", cfg, err
	}
	cfg.FlushInterval = time.Duration(o.DBFlush)
	cfg.Journal, cfg.SampleSYNs, cfg.Retention = o.DBJournal, o.DBSampleSyns, o.DBRetention
	return o.DB, cfg, nil
}

// openStore opens --db for analyze, or returns nil when it is "".
func openStore(o storeOptions) (*store.Store, error) {
	path, cfg, err := o.config()
	if err != nil || path == "" {
		return nil, err
	}
	cfg.CreateDir = true
	return store.Open(path, cfg)
}

// resultsSource is --in DIR or --db FILE (read-only use of the store).
func resultsSource(in, db string) (results.Source, func(), error) {
	switch {
	case in != "" && db != "":
		return nil, nil, fmt.Errorf("give --in or --db, not both")
	case db != "":
		st, err := store.OpenReadOnly(db)
		if err != nil {
			return nil, nil, fmt.Errorf("--db: %w", err)
		}
		return st, func() { st.Close() }, nil
	case in != "":
		return results.Dir(in), func() {}, nil
	}
	return nil, nil, fmt.Errorf("--in DIR or --db FILE is required")
}
