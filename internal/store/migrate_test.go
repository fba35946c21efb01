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

// TestMigrateBackfillsPairs: associations stored at schema 3 get the
// IPv6 prefix corroboration keys on (a /64, a Teredo address alone), so a
// later association of the pair at another sensor corroborates them.
func TestMigrateBackfillsPairs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	qs := append([]string{}, migrations[:3]...)
	qs = append(qs,
		`INSERT INTO associations (sensor, first_seen, src, sport, spammer, line, v4_src, v4_t) VALUES ('s1', 2, '2001:db8:1:2:3::1', 4001, 0, '{}', '192.0.2.1', 1)`,
		`INSERT INTO associations (sensor, first_seen, src, sport, spammer, line, v4_src, v4_t) VALUES ('s1', 3, '2001:0:4136:e378:8000:63bf:3fff:fdd2', 4002, 0, '{}', '192.0.2.2', 1)`,
		`INSERT INTO associations (sensor, first_seen, src, sport, spammer, line) VALUES ('s1', 4, '2001:db8::9', 4003, 0, '{}')`,
		`PRAGMA user_version = 3`)
	for _, q := range qs {
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
	rows, err := s.DB().Query("SELECT v6_net FROM associations ORDER BY first_seen")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := "2001:db8:1:2::/64,2001:0:4136:e378:8000:63bf:3fff:fdd2/128,"; strings.Join(got, ",") != want {
		t.Errorf("v6_net %q, want %q", strings.Join(got, ","), want)
	}
}
