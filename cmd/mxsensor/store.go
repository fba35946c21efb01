package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/config"
	"github.com/mxsensor/mxsensor/internal/pipeline"
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
	f.Duration("db-retention", sd.Retention, "delete stored results older than this (0 = keep all)")
}

// openStore opens --db, or returns nil when it is "". With live (the
// agent), a file system too full to open the database on does not stop
// the start: the store opens once space returns, and meanwhile counts
// what it drops (store.Config.RetryOpen).
func openStore(o storeOptions, log *zap.Logger, live bool) (*store.Store, error) {
	path := o.DB
	if path == "" {
		return nil, nil
	}
	cfg := store.DefaultConfig()
	cfg.FlushInterval = time.Duration(o.DBFlush)
	cfg.Journal = o.DBJournal
	cfg.SampleSYNs = o.DBSampleSyns
	cfg.Retention = o.DBRetention
	if log != nil {
		cfg.Log = log.Named("store")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg.CreateDir, cfg.RetryOpen = true, live
	st, err := store.Open(path, cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		return st, nil
	}
	if err := st.OpenError(); err != nil {
		log.Warn("store not open: the file system is full; running without it (journal replay, stored enrichments and "+
			"reject-log positions read as empty), counting the rows dropped, and trying again", zap.String("path", path),
			zap.Duration("retry", cfg.OpenRetry), zap.Error(err))
	} else {
		log.Info("store open", zap.String("path", path), zap.Duration("flush", cfg.FlushInterval), zap.Duration("journal", cfg.Journal))
	}
	return st, nil
}

// replayJournal feeds the SYNs the store journaled before a restart back
// through the pipeline: attempts that were still open when the previous
// process died are completed. It is idempotent: the store drops what it
// has already (unique keys), the results files what they hold (the keys
// read back from their ends, see replayFrom), so a kill -9 at any point
// leaves each attempt once in each output.
func replayJournal(st *store.Store, pl *pipeline.Pipeline, log *zap.Logger) error {
	evs, skipped, err := st.Journal(time.Now().Add(-2 * time.Hour))
	if err != nil {
		return err
	}
	if skipped > 0 {
		log.Warn("journal: records that do not parse were skipped", zap.Int("skipped", skipped))
	}
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		if err := pl.Write(&evs[i]); err != nil {
			return fmt.Errorf("replaying the journal: %w", err)
		}
	}
	if err := pl.Flush(); err != nil {
		return fmt.Errorf("replaying the journal: %w", err)
	}
	log.Info("journal replayed", zap.Int("syns", len(evs)), zap.Time("from", evs[0].Time), zap.Time("to", evs[len(evs)-1].Time))
	return nil
}

// resultsSource is --in DIR or --db FILE (read-only use of the store).
func resultsSource(in, db string) (results.Source, func(), error) {
	switch {
	case in != "" && db != "":
		return nil, nil, fmt.Errorf("give --in or --db, not both")
	case db != "":
		if _, err := os.Stat(db); err != nil {
			return nil, nil, fmt.Errorf("--db: %w", err)
		}
		cfg := store.DefaultConfig()
		cfg.Journal, cfg.Retention = 0, 0 // a reader changes nothing
		st, err := store.Open(db, cfg)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	case in != "":
		return results.Dir(in), func() {}, nil
	}
	return nil, nil, fmt.Errorf("--in DIR or --db FILE is required")
}

// replaySlack is how far before the journal's first SYN the results files
// are read back at start: a line's first_seen may precede the lines
// before it by an attempt's length (lines are in closing order).
const replaySlack = 10 * time.Minute

// replayFrom is where the results files are read back from for the replay
// of st's journal (zero when the journal is empty: nothing to replay).
func replayFrom(st *store.Store) (time.Time, error) {
	t, ok, err := st.JournalStart()
	if err != nil || !ok {
		return time.Time{}, err
	}
	return t.Add(-replaySlack), nil
}
