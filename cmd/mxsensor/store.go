package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
)

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
	f.Duration("db-flush", sd.FlushInterval, "commit the store at least this often: the most a kill -9 loses")
	f.Duration("db-journal", sd.Journal, "keep this much of the raw SYNs in the store, to replay after a restart (0 = off)")
	f.Int("db-sample-syns", sd.SampleSYNs, "also keep one SYN event in N for the long term (0 = none, 1 = all)")
	f.Duration("db-retention", sd.Retention, "delete stored results older than this (0 = keep all)")
}

// storeConfig reads --db and the store's knobs (path "" = no store).
func storeConfig(v *viper.Viper) (path string, cfg store.Config, err error) {
	cfg = store.DefaultConfig()
	if path = v.GetString("db"); path == "" {
		return "", cfg, nil
	}
	cfg.FlushInterval = v.GetDuration("db-flush")
	cfg.Journal = v.GetDuration("db-journal")
	cfg.SampleSYNs = v.GetInt("db-sample-syns")
	cfg.Retention = v.GetDuration("db-retention")
	if cfg.FlushInterval <= 0 || cfg.Journal < 0 || cfg.SampleSYNs < 0 || cfg.Retention < 0 {
		return "", cfg, fmt.Errorf("--db-flush must be > 0, and --db-journal, --db-sample-syns, --db-retention >= 0")
	}
	return path, cfg, nil
}

// openStore opens --db for analyze, or returns nil when it is "".
func openStore(v *viper.Viper) (*store.Store, error) {
	path, cfg, err := storeConfig(v)
	if err != nil || path == "" {
		return nil, err
	}
	cfg.CreateDir = true
	return store.Open(path, cfg)
}

// resultsSource is --in DIR or --db FILE (read-only use of the store).
func resultsSource(v *viper.Viper) (results.Source, func(), error) {
	in, db := v.GetString("in"), v.GetString("db")
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
