package store

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateKeepsRows: a store of schema 1 (before the network of
// sensors) opens with the sensor columns and the outbox, its rows kept.
func TestMigrateKeepsRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0],
		`INSERT INTO attempts (first_seen, src, sport, family, blocklisted, line) VALUES (1, '192.0.2.1', 4000, 4, 1, '{"a":1}')`,
		`INSERT INTO associations (first_seen, src, sport, spammer, line) VALUES (2, '2001:db8::1', 4001, 1, '{"s":1}')`,
		`INSERT INTO rejections (t, ip, zone) VALUES (3, '192.0.2.1', 'zen.example')`,
		`PRAGMA user_version = 1`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.DB().QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d %v, want %d", v, err, SchemaVersion)
	}
	for table, want := range map[string]string{"attempts": `{"a":1}`, "associations": `{"s":1}`, "rejections": "zen.example"} {
		col := "line"
		if table == "rejections" {
			col = "zone"
		}
		var got, sensor string
		if err := s.DB().QueryRow("SELECT "+col+", sensor FROM "+table).Scan(&got, &sensor); err != nil || got != want || sensor != "" {
			t.Errorf("%s: %q sensor %q %v", table, got, sensor, err)
		}
	}
	if _, err := s.DB().Exec(`INSERT INTO outbox (kind, msg_id, subject, body, t) VALUES ('attempts', 'x', 'mxsensor.v1.s.attempts', '{}', 1)`); err != nil {
		t.Errorf("outbox: %v", err)
	}
	// The unique keys include the sensor: another sensor's row of the same
	// attempt is a row of its own.
	if _, err := s.DB().Exec(`INSERT INTO attempts (sensor, first_seen, src, sport, family, blocklisted, line) VALUES ('s2', 1, '192.0.2.1', 4000, 4, 1, '{}')`); err != nil {
		t.Errorf("second sensor's row: %v", err)
	}
	_, err = s.DB().Exec(`INSERT INTO attempts (sensor, first_seen, src, sport, family, blocklisted, line) VALUES ('s2', 1, '192.0.2.1', 4000, 4, 1, '{}')`)
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("duplicate row: %v", err)
	}
}
