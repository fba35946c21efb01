package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/mxsensor/mxsensor/internal/record"
	"github.com/mxsensor/mxsensor/internal/results"
)

// FleetRecord is one record of a sensor of a network, as a collector
// ingests it: one of Attempt, Association and Rejection is set.
type FleetRecord struct {
	Sensor      string
	Attempt     *record.Attempt
	Association *record.Association
	Rejection   *record.Rejection
}

// IngestCount counts the records of one kind an ingest inserted, and those
// it ignored because their key was stored already (a redelivery, a second
// publish).
type IngestCount struct{ New, Duplicate int }

// IngestStats counts what Ingest did.
type IngestStats struct {
	Attempts, Associations, Rejections IngestCount
	// Relabelled counts the stored rows a new rejection made blocklisted
	// (IPv4 attempts) or spammer (associations).
	RelabelledAttempts, RelabelledAssociations int
	// FleetLabelled counts the new rows labelled blocklisted or spammer by
	// another sensor's (or an earlier) rejection their sensor had not
	// labelled.
	FleetLabelled int
	// Uncorroborated counts the new associations whose IPv4 only other
	// sensors rejected, left unlabelled because no other sensor associated
	// the same IPv6 /64 with that IPv4 (yet: a later one labels them).
	Uncorroborated int
}

// Ingest stores a collector's batch of records in one transaction, keyed
// by sensor, with the fleet's labels: an IPv4 address rejected at any
// sensor within window of an attempt (window 0: at any time) makes the
// IPv4 attempt blocklisted. An association with it is labelled spammer by
// a rejection at its own sensor, as the sensor itself would, and by a
// rejection at another sensor only when corroborated: a second sensor
// associated the same IPv6 /64 (a Teredo address alone) with the same
// IPv4. A wrong association is rarely made twice by independent sensors,
// but an association that is harmless at its own domain would otherwise
// list a prefix on another domain's word (docs/collector.md has the
// figures). The window rule is rejectlog.Set's: a rejection within window
// before or after the IPv4 attempt's first SYN (the IPv6 attempt's for an
// association with an address only). A label only ever goes from false to
// true, so the order of arrival does not matter, and a record whose key is
// stored already changes nothing. Once Ingest returns nil the batch is
// committed.
func (s *Store) Ingest(recs []FleetRecord, window time.Duration) (IngestStats, error) {
	var st IngestStats
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return st, err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	db := s.conn()
	if db == nil {
		return st, s.OpenError()
	}
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("store %s: %w", s.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	in := ingester{tx: tx, ctx: ctx, window: window, st: &st}
	for i := range recs {
		if err := in.add(&recs[i]); err != nil {
			return IngestStats{}, fmt.Errorf("store %s: ingest: %w", s.path, err)
		}
	}
	// The rows the batch's new associations corroborate, once per pair and
	// sensor (a host's deliveries repeat one pair).
	for k := range in.pairs {
		if err := in.relabelPair(k.net, k.v4, k.sensor); err != nil {
			return IngestStats{}, fmt.Errorf("store %s: ingest: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return IngestStats{}, fmt.Errorf("store %s: ingest: %w", s.path, err)
	}
	return st, nil
}

// ingester is one Ingest transaction.
type ingester struct {
	tx     *sql.Tx
	ctx    context.Context
	window time.Duration
	st     *IngestStats
	buf    []byte
	pairs  map[pairKey]struct{} // new associations' pairs, for relabelPair
}

// pairKey is an association's corroboration key and its sensor.
type pairKey struct{ net, v4, sensor string }

// around is the time range within the window of t (all time for a window
// of 0).
func (in *ingester) around(t time.Time) (int64, int64) {
	if in.window <= 0 {
		return math.MinInt64, math.MaxInt64
	}
	ns, w := t.UnixNano(), int64(in.window)
	return ns - w, ns + w
}

// listed says whether ip was rejected at any sensor within the window of
// t, and whether at sensor.
func (in *ingester) listed(ip netip.Addr, t time.Time, sensor string) (anywhere, own bool, err error) {
	lo, hi := in.around(t)
	var m sql.NullInt64
	err = in.tx.QueryRowContext(in.ctx, "SELECT MAX(sensor = ?) FROM rejections WHERE ip = ? AND t BETWEEN ? AND ?",
		sensor, ip.Unmap().String(), lo, hi).Scan(&m)
	return m.Valid, m.Valid && m.Int64 == 1, err
}

// corroborated says whether a sensor other than sensor associated an
// IPv6 source of net with v4.
func (in *ingester) corroborated(net, v4, sensor string) (bool, error) {
	var one int
	err := in.tx.QueryRowContext(in.ctx, "SELECT 1 FROM associations WHERE v6_net = ? AND v4_src = ? AND sensor != ? LIMIT 1",
		net, v4, sensor).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// pairNet is the key of an association's IPv6 side for corroboration: its
// /64, or a Teredo address alone, as the list counts them.
func pairNet(src netip.Addr) string {
	src = src.WithZone("")
	if !src.Is6() || src.Is4In6() {
		return src.String()
	}
	return results.HostPrefix(src, 64).String()
}

// backfillV6Net fills v6_net for the associations with an IPv4 stored
// before schema 4.
func backfillV6Net(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, src FROM associations WHERE v4_src != '' AND v6_net = ''")
	if err != nil {
		return err
	}
	type fill struct {
		id  int64
		net string
	}
	var fs []fill
	for rows.Next() {
		var f fill
		var src string
		if err := rows.Scan(&f.id, &src); err != nil {
			rows.Close()
			return err
		}
		if ip, err := netip.ParseAddr(src); err == nil {
			f.net = pairNet(ip)
			fs = append(fs, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fs {
		if _, err := tx.ExecContext(ctx, "UPDATE associations SET v6_net = ? WHERE id = ?", f.net, f.id); err != nil {
			return err
		}
	}
	return nil
}

func (in *ingester) line(appendJSON func([]byte) []byte) string {
	in.buf = appendJSON(in.buf[:0])
	return string(trimNL(in.buf))
}

func (in *ingester) add(r *FleetRecord) error {
	switch {
	case r.Rejection != nil:
		return in.rejection(r.Sensor, r.Rejection)
	case r.Attempt != nil:
		return in.attempt(r.Sensor, *r.Attempt)
	case r.Association != nil:
		return in.association(r.Sensor, *r.Association)
	}
	return errors.New("a record of no kind")
}

func (in *ingester) attempt(sensor string, a record.Attempt) error {
	fl := false
	if a.Family == record.IPv4 && !a.Blocklisted {
		l, _, err := in.listed(a.Src, a.FirstSeen, sensor)
		if err != nil {
			return err
		}
		fl = l
		a.Blocklisted = l
	}
	bl := 0
	if a.Blocklisted {
		bl = 1
	}
	res, err := in.tx.ExecContext(in.ctx, "INSERT OR IGNORE INTO attempts (sensor, first_seen, src, sport, family, blocklisted, line) VALUES (?, ?, ?, ?, ?, ?, ?)",
		sensor, a.FirstSeen.UnixNano(), a.Src.String(), int64(a.SrcPort), int64(a.Family), bl, in.line(a.AppendJSON))
	return in.count(res, err, &in.st.Attempts, fl)
}

// v4Ref is the IPv4 an association points to and the time its spam window
// is measured from (as the association engine does).
func v4Ref(as *record.Association) (netip.Addr, time.Time) {
	if !as.Associated() {
		return netip.Addr{}, time.Time{}
	}
	if as.IPv4.AddressOnly() {
		return as.IPv4.Src.Unmap(), as.FirstSeen
	}
	return as.IPv4.Src.Unmap(), as.IPv4.FirstSeen
}

func (in *ingester) association(sensor string, as record.Association) error {
	v4, t := v4Ref(&as)
	v4s, net, fl, withheld := "", "", false, false
	if v4.IsValid() {
		v4s, net = v4.String(), pairNet(as.Src)
		if !as.Spammer {
			anywhere, label, err := in.listed(v4, t, sensor)
			if err != nil {
				return err
			}
			if anywhere && !label {
				if label, err = in.corroborated(net, v4s, sensor); err != nil {
					return err
				}
				withheld = !label
			}
			if label {
				as.Spammer, as.IPv4.Blocklisted, fl = true, true, true
			}
		}
	}
	sp := 0
	if as.Spammer {
		sp = 1
	}
	res, err := in.tx.ExecContext(in.ctx, "INSERT OR IGNORE INTO associations (sensor, first_seen, src, sport, spammer, line, v4_src, v4_t, v6_net) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		sensor, as.FirstSeen.UnixNano(), as.Src.String(), int64(as.SrcPort), sp, in.line(as.AppendJSON), v4s, t.UnixNano(), net)
	added := in.st.Associations.New
	if err := in.count(res, err, &in.st.Associations, fl); err != nil || in.st.Associations.New == added || net == "" {
		return err
	}
	if withheld {
		in.st.Uncorroborated++
	}
	if in.pairs == nil {
		in.pairs = map[pairKey]struct{}{}
	}
	in.pairs[pairKey{net, v4s, sensor}] = struct{}{}
	return nil
}

// relabelPair labels the other sensors' stored associations of net with
// v4 that a new association at sensor corroborates, where a rejection of
// v4 within their window is stored.
func (in *ingester) relabelPair(net, v4, sensor string) error {
	where := "v6_net = ? AND v4_src = ? AND sensor != ? AND spammer = 0 AND EXISTS (SELECT 1 FROM rejections r WHERE r.ip = associations.v4_src"
	args := []any{net, v4, sensor}
	if in.window > 0 {
		where += " AND r.t BETWEEN associations.v4_t - ? AND associations.v4_t + ?"
		args = append(args, int64(in.window), int64(in.window))
	}
	n, err := in.rewrite("associations", where+")", "spammer = 1", args, labelSpammer(in))
	in.st.RelabelledAssociations += n
	return err
}

// labelSpammer rewrites an association's line labelled spammer.
func labelSpammer(in *ingester) func([]byte) (string, error) {
	return func(line []byte) (string, error) {
		var as record.Association
		if err := json.Unmarshal(line, &as); err != nil {
			return "", err
		}
		as.Spammer, as.IPv4.Blocklisted = true, true
		return in.line(as.AppendJSON), nil
	}
}

// count counts an insert; a row the fleet labelled counts only if new.
func (in *ingester) count(res sql.Result, err error, c *IngestCount, fleetLabelled bool) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		c.Duplicate++
		return nil
	}
	c.New++
	if fleetLabelled {
		in.st.FleetLabelled++
	}
	return nil
}

func (in *ingester) rejection(sensor string, r *record.Rejection) error {
	ip := r.IP.Unmap()
	if !ip.IsValid() {
		return nil // the collector checks before; nothing to key it by
	}
	res, err := in.tx.ExecContext(in.ctx, "INSERT OR IGNORE INTO rejections (sensor, t, ip, zone) VALUES (?, ?, ?, ?)",
		sensor, r.Time.UnixNano(), ip.String(), r.Zone)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		in.st.Rejections.Duplicate++
		return nil
	}
	in.st.Rejections.New++
	return in.relabel(ip, r.Time, sensor)
}

// relabel labels the stored rows a new rejection of ip at t by sensor
// lists: IPv4 attempts from ip first seen within the window of t, and
// associations with ip whose window reference is within it, of sensor or
// corroborated by another sensor.
func (in *ingester) relabel(ip netip.Addr, t time.Time, sensor string) error {
	lo, hi := in.around(t)
	n, err := in.rewrite("attempts", "src = ? AND family = 4 AND blocklisted = 0 AND first_seen BETWEEN ? AND ?", "blocklisted = 1",
		[]any{ip.String(), lo, hi}, func(line []byte) (string, error) {
			var a record.Attempt
			if err := json.Unmarshal(line, &a); err != nil {
				return "", err
			}
			a.Blocklisted = true
			return in.line(a.AppendJSON), nil
		})
	if err != nil {
		return err
	}
	in.st.RelabelledAttempts += n
	n, err = in.rewrite("associations", "v4_src = ? AND spammer = 0 AND v4_t BETWEEN ? AND ? AND (sensor = ? OR EXISTS "+
		"(SELECT 1 FROM associations o WHERE o.v6_net = associations.v6_net AND o.v4_src = associations.v4_src AND o.sensor != associations.sensor))",
		"spammer = 1", []any{ip.String(), lo, hi, sensor}, labelSpammer(in))
	in.st.RelabelledAssociations += n
	return err
}

// rewrite sets set and the line fix makes on the rows of table matching
// where; a line that does not parse keeps its text (the column is set).
func (in *ingester) rewrite(table, where, set string, args []any, fix func([]byte) (string, error)) (int, error) {
	rows, err := in.tx.QueryContext(in.ctx, "SELECT id, line FROM "+table+" WHERE "+where, args...)
	if err != nil {
		return 0, err
	}
	type upd struct {
		id   int64
		line string
	}
	var us []upd
	for rows.Next() {
		var u upd
		if err := rows.Scan(&u.id, &u.line); err != nil {
			rows.Close()
			return 0, err
		}
		if l, err := fix([]byte(u.line)); err == nil {
			u.line = l
		}
		us = append(us, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, u := range us {
		if _, err := in.tx.ExecContext(in.ctx, "UPDATE "+table+" SET "+set+", line = ? WHERE id = ?", u.line, u.id); err != nil {
			return 0, err
		}
	}
	return len(us), nil
}

// Sensors returns the ids of the sensors whose results the store holds,
// sorted ("" for a sensor's own store).
func (s *Store) Sensors() ([]string, error) {
	_ = s.commitNow(false) // a failing disk: read what is committed
	var out []string
	err := s.each("SELECT sensor FROM attempts UNION SELECT sensor FROM associations ORDER BY 1", func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		out = append(out, id)
		return err
	})
	return out, err
}

// each runs q and calls scan on every row.
func (s *Store) each(q string, scan func(*sql.Rows) error) error {
	db := s.conn()
	if db == nil {
		return s.OpenError()
	}
	rows, err := db.Query(q)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Sensor is the results of one sensor of a collector's store.
func (s *Store) Sensor(id string) results.Source { return sensorSource{s, id} }

type sensorSource struct {
	s  *Store
	id string
}

func (x sensorSource) Open(name string) (io.ReadCloser, error) {
	return x.s.openLines(name, "sensor = ?", x.id)
}

func (x sensorSource) String() string { return x.s.path + " (sensor " + x.id + ")" }

// SpammerSensors returns, for each IPv6 source of an association labelled
// spammer, the sensors that saw one (sorted).
func (s *Store) SpammerSensors() (map[netip.Addr][]string, error) {
	out := map[netip.Addr][]string{}
	err := s.each("SELECT DISTINCT src, sensor FROM associations WHERE spammer = 1 ORDER BY src, sensor", func(rows *sql.Rows) error {
		var src, sensor string
		if err := rows.Scan(&src, &sensor); err != nil {
			return err
		}
		if ip, err := netip.ParseAddr(src); err == nil {
			out[ip] = append(out[ip], sensor)
		}
		return nil
	})
	return out, err
}

// ListedEntry is what a collector last wrote to the shared list for one
// prefix.
type ListedEntry struct {
	Entry       string // the value written (JSON)
	FirstListed time.Time
	Written     time.Time
}

// FleetList returns what the collector last wrote to the shared list, by
// key.
func (s *Store) FleetList() (map[string]ListedEntry, error) {
	out := map[string]ListedEntry{}
	err := s.each("SELECT key, entry, first_listed, written FROM fleet_list", func(rows *sql.Rows) error {
		var k string
		var e ListedEntry
		var fl, w int64
		if err := rows.Scan(&k, &e.Entry, &fl, &w); err != nil {
			return err
		}
		e.FirstListed, e.Written = time.Unix(0, fl).UTC(), time.Unix(0, w).UTC()
		out[k] = e
		return nil
	})
	return out, err
}

// SetFleetListed records an entry written to the shared list (key
// deleted: nil).
func (s *Store) SetFleetListed(key string, e *ListedEntry) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	db := s.conn()
	if db == nil {
		return s.OpenError()
	}
	var err error
	if e == nil {
		_, err = db.Exec("DELETE FROM fleet_list WHERE key = ?", key)
	} else {
		_, err = db.Exec("INSERT OR REPLACE INTO fleet_list (key, entry, first_listed, written) VALUES (?, ?, ?, ?)",
			key, e.Entry, e.FirstListed.UnixNano(), e.Written.UnixNano())
	}
	if err != nil {
		return fmt.Errorf("store %s: fleet list: %w", s.path, err)
	}
	return nil
}
