package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; PRAGMA user_version counts those done.
// Never edit one that has shipped: add a new one.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE attempts (
		id          INTEGER PRIMARY KEY,
		first_seen  INTEGER NOT NULL, -- ns since the epoch
		src         TEXT    NOT NULL,
		sport       INTEGER NOT NULL,
		family      INTEGER NOT NULL,
		blocklisted INTEGER NOT NULL,
		line        TEXT    NOT NULL, -- the attempts.jsonl line
		UNIQUE (family, src, sport, first_seen)
	);
	CREATE INDEX attempts_first_seen ON attempts (first_seen);
	CREATE TABLE associations (
		id         INTEGER PRIMARY KEY,
		first_seen INTEGER NOT NULL,
		src        TEXT    NOT NULL,
		sport      INTEGER NOT NULL,
		spammer    INTEGER NOT NULL,
		line       TEXT    NOT NULL, -- the associations.jsonl line
		UNIQUE (src, sport, first_seen)
	);
	CREATE INDEX associations_first_seen ON associations (first_seen);
	CREATE TABLE journal (
		seq INTEGER PRIMARY KEY,
		t   INTEGER NOT NULL,
		rec TEXT    NOT NULL -- a SYN event as JSON
	);
	CREATE INDEX journal_t ON journal (t);
	CREATE TABLE syn_events (
		t     INTEGER NOT NULL,
		src   TEXT    NOT NULL,
		sport INTEGER NOT NULL,
		rec   TEXT    NOT NULL
	);
	CREATE INDEX syn_events_t ON syn_events (t);
	CREATE TABLE rejections (
		t    INTEGER NOT NULL,
		ip   TEXT    NOT NULL,
		zone TEXT    NOT NULL,
		UNIQUE (ip, t)
	);
	CREATE TABLE reject_positions (
		file  TEXT PRIMARY KEY,
		state TEXT NOT NULL
	);
	CREATE TABLE enrich_cache (
		ip     TEXT PRIMARY KEY,
		t      INTEGER NOT NULL,
		result TEXT NOT NULL
	);`,
	// 2: the network of sensors. A collector's store keeps every sensor's
	// results, keyed by the sensor's id ('' in a sensor's own store), and
	// a sensor's outbox holds what its publisher has not yet had
	// acknowledged.
	`CREATE TABLE attempts2 (
		id          INTEGER PRIMARY KEY,
		sensor      TEXT    NOT NULL DEFAULT '',
		first_seen  INTEGER NOT NULL,
		src         TEXT    NOT NULL,
		sport       INTEGER NOT NULL,
		family      INTEGER NOT NULL,
		blocklisted INTEGER NOT NULL,
		line        TEXT    NOT NULL,
		UNIQUE (sensor, family, src, sport, first_seen)
	);
	INSERT INTO attempts2 (id, first_seen, src, sport, family, blocklisted, line)
		SELECT id, first_seen, src, sport, family, blocklisted, line FROM attempts;
	DROP TABLE attempts;
	ALTER TABLE attempts2 RENAME TO attempts;
	CREATE INDEX attempts_first_seen ON attempts (first_seen);
	CREATE TABLE associations2 (
		id         INTEGER PRIMARY KEY,
		sensor     TEXT    NOT NULL DEFAULT '',
		first_seen INTEGER NOT NULL,
		src        TEXT    NOT NULL,
		sport      INTEGER NOT NULL,
		spammer    INTEGER NOT NULL,
		line       TEXT    NOT NULL,
		UNIQUE (sensor, src, sport, first_seen)
	);
	INSERT INTO associations2 (id, first_seen, src, sport, spammer, line)
		SELECT id, first_seen, src, sport, spammer, line FROM associations;
	DROP TABLE associations;
	ALTER TABLE associations2 RENAME TO associations;
	CREATE INDEX associations_first_seen ON associations (first_seen);
	CREATE TABLE rejections2 (
		sensor TEXT    NOT NULL DEFAULT '',
		t      INTEGER NOT NULL,
		ip     TEXT    NOT NULL,
		zone   TEXT    NOT NULL,
		UNIQUE (sensor, ip, t)
	);
	INSERT INTO rejections2 (t, ip, zone) SELECT t, ip, zone FROM rejections;
	DROP TABLE rejections;
	ALTER TABLE rejections2 RENAME TO rejections;
	CREATE TABLE outbox (
		seq     INTEGER PRIMARY KEY,
		kind    TEXT    NOT NULL, -- fleet.Kind
		msg_id  TEXT    NOT NULL UNIQUE, -- Nats-Msg-Id
		subject TEXT    NOT NULL,
		body    BLOB    NOT NULL,
		t       INTEGER NOT NULL -- when enqueued, ns since the epoch
	);
	CREATE INDEX outbox_kind ON outbox (kind, seq);`,
	// 3: the collector's fleet-wide labelling. An association keeps the
	// IPv4 it points to and the time the spam window is measured from (the
	// IPv4 attempt's first SYN, or the IPv6 attempt's for an address
	// only), so that a rejection arriving later from any sensor relabels
	// it; the indexes find the rows a rejection or an attempt concerns.
	// fleet_list is what the collector last wrote to the shared list.
	`ALTER TABLE associations ADD COLUMN v4_src TEXT NOT NULL DEFAULT '';
	ALTER TABLE associations ADD COLUMN v4_t INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX associations_v4 ON associations (v4_src, v4_t);
	CREATE INDEX attempts_src ON attempts (src, first_seen);
	CREATE INDEX rejections_ip ON rejections (ip, t);
	CREATE TABLE fleet_list (
		key          TEXT    PRIMARY KEY, -- fleet.PrefixKey
		entry        TEXT    NOT NULL, -- the blocklist.Entry written, JSON
		first_listed INTEGER NOT NULL,
		written      INTEGER NOT NULL
	);`,
	// 4: corroboration. Another sensor's rejection labels an association
	// only once a second sensor associated the same IPv6 /64 (a Teredo
	// address alone) with the same IPv4; v6_net is that prefix, filled for
	// the rows stored before by backfillV6Net.
	`ALTER TABLE associations ADD COLUMN v6_net TEXT NOT NULL DEFAULT '';
	CREATE INDEX associations_pair ON associations (v6_net, v4_src);`,
}

// migrationSteps are the steps of a migration SQL cannot take, run in its
// transaction after its SQL, by schema version.
var migrationSteps = map[int]func(context.Context, *sql.Tx) error{4: backfillV6Net}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(migrations)

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this build's %d: use a newer mxsensor", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if step := migrationSteps[i+1]; step != nil {
			if err := step(ctx, tx); err != nil {
				tx.Rollback() //nolint:errcheck
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}
