// Package listfeed serves a blocklist over HTTP, whole or as the changes
// since a revision, so that a mail server or a firewall can follow it
// without fetching all of it at each poll. The revision grows by one each
// time the list changes and is kept in a state file across restarts.
package listfeed

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/atomicfile"
	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// Defaults of Config.
const (
	// DefaultHistory is how many revisions can be asked for as changes.
	DefaultHistory = 64
	// DefaultMaxChanges bounds the changed prefixes the history holds, all
	// revisions together (32 bytes each): the oldest revisions go first.
	DefaultMaxChanges = 1 << 18
	// MaxStateBytes bounds the state file read at start.
	MaxStateBytes = 1 << 30
	// stateFormat is the state file's format version.
	stateFormat = 1
)

// Config configures a Feed.
type Config struct {
	// State is the state file: the revision, the list and the history of
	// changes, rewritten atomically at each revision ("": none, the
	// revision starts again from 0 at each start; for tests).
	State string
	// History is how many past revisions deltas can be computed from
	// (0: DefaultHistory); MaxChanges bounds the prefixes they hold
	// together (0: DefaultMaxChanges).
	History, MaxChanges int
	// MaxClients bounds the requests answered at once (0:
	// DefaultMaxClients); one more gets 503.
	MaxClients int
	// Log gets the revisions and the failures (nil: none).
	Log *zap.Logger
	// Now is the clock of the revisions' times (nil: time.Now).
	Now func() time.Time
}

// change is one revision's changed prefixes (added, changed or removed).
type change struct {
	Revision uint64         `json:"revision"`
	Changed  []netip.Prefix `json:"changed"`
}

// snapshot is one revision of the list: immutable once published.
type snapshot struct {
	revision  uint64
	generated time.Time
	// entries are the entries' JSON by prefix, and order the prefixes
	// sorted as blocklist.SortEntries sorts them.
	entries map[netip.Prefix]json.RawMessage
	order   []netip.Prefix
	// src holds the entries the JSON was made from (empty after a
	// restart), so that an entry the same as before is not encoded again.
	src map[netip.Prefix]blocklist.Entry
	// history holds the changes of the revisions up to this one, oldest
	// first, with no gap; changes counts their prefixes.
	history []change
	changes int

	full     sync.Once
	fullBody []byte
}

// Feed holds the current revision of a list and the changes of the last
// ones. Update is called with each new list; the HTTP handler reads.
type Feed struct {
	cfg Config
	log *zap.Logger

	update sync.Mutex // one Update at a time
	cur    atomic.Pointer[snapshot]
	// pending is the list of an Update whose state write failed (nil:
	// none), for Retry: the source may not change again for a long time.
	pending []blocklist.Entry
	failing bool // the last state write failed
	st      counters
}

// New returns a feed that starts from the state file, if there is one (a
// state file that does not read is an error, not a new start: clients
// would get revision numbers again for other lists), and writes it now, so
// that a path that cannot be written fails here.
func New(cfg Config) (*Feed, error) {
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.MaxChanges == 0 {
		cfg.MaxChanges = DefaultMaxChanges
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.History < 1 || cfg.MaxChanges < 1 || cfg.MaxClients < 1 {
		return nil, errors.New("listfeed: history, changes and clients bounds must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Feed{cfg: cfg, log: cfg.Log}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	s := &snapshot{entries: map[netip.Prefix]json.RawMessage{}}
	if cfg.State != "" {
		loaded, err := readState(cfg.State)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("reading the feed state %s (remove it to start the revisions again from 0): %w", cfg.State, err)
		default:
			s = loaded
		}
		s.trim(cfg.History, cfg.MaxChanges)
		if err := writeState(cfg.State, s); err != nil {
			return nil, fmt.Errorf("writing the feed state: %w", err)
		}
	}
	f.cur.Store(s)
	return f, nil
}

// Revision returns the current revision.
func (f *Feed) Revision() uint64 { return f.cur.Load().revision }

// Update makes entries the current list. When it differs from the current
// one (an entry added or removed, or one whose JSON changed) the revision
// grows by one; the new revision is served once the state file holds it
// (if that write fails the feed keeps the old revision, logs and counts
// the failure, and the next Update tries again: a revision served is never
// given to another list after a restart). It reports whether the revision
// changed.
func (f *Feed) Update(entries []blocklist.Entry) bool {
	f.update.Lock()
	defer f.update.Unlock()
	return f.updateLocked(entries)
}

// Retry makes the list of the last Update whose state write failed the
// current one, if it still is the last list given; it reports whether the
// revision changed. dnsbl calls it every few seconds, so that a revision
// held back by a full disk is served once the disk has room, without
// waiting for the list to change again.
func (f *Feed) Retry() bool {
	f.update.Lock()
	defer f.update.Unlock()
	if f.pending == nil {
		return false
	}
	return f.updateLocked(f.pending)
}

func (f *Feed) updateLocked(entries []blocklist.Entry) bool {
	f.pending = nil
	old := f.cur.Load()
	next := &snapshot{entries: make(map[netip.Prefix]json.RawMessage, len(entries)),
		src: make(map[netip.Prefix]blocklist.Entry, len(entries))}
	for _, e := range entries {
		e.Prefix = e.Prefix.Masked()
		if _, dup := next.entries[e.Prefix]; dup || !e.Prefix.IsValid() {
			continue
		}
		next.src[e.Prefix] = e
		if oe, ok := old.src[e.Prefix]; ok && sameEntry(oe, e) {
			next.entries[e.Prefix] = old.entries[e.Prefix]
			continue
		}
		b, err := json.Marshal(e)
		if err != nil { // an Entry always encodes; counted all the same
			f.st.encodeErrors.Add(1)
			continue
		}
		next.entries[e.Prefix] = b
	}
	var changed []netip.Prefix
	for p, b := range next.entries {
		if ob, ok := old.entries[p]; !ok || !bytes.Equal(ob, b) {
			changed = append(changed, p)
		}
	}
	for p := range old.entries {
		if _, ok := next.entries[p]; !ok {
			changed = append(changed, p)
		}
	}
	if len(changed) == 0 {
		return false
	}
	slices.SortFunc(changed, comparePrefix)
	next.revision = old.revision + 1
	next.generated = f.cfg.Now().UTC()
	next.order = sortedKeys(next.entries)
	next.history = append(slices.Clip(old.history), change{Revision: next.revision, Changed: changed})
	next.changes = old.changes + len(changed)
	next.trim(f.cfg.History, f.cfg.MaxChanges)
	if f.cfg.State != "" {
		if err := writeState(f.cfg.State, next); err != nil {
			f.st.stateErrors.Add(1)
			if !f.failing { // once a streak: Retry runs every few seconds
				f.log.Error("listfeed: cannot write the state; keeping the revision, retrying", zap.Uint64("revision", old.revision), zap.Error(err))
			}
			f.failing, f.pending = true, entries
			return false
		}
	}
	if f.failing {
		f.failing = false
		f.log.Info("listfeed: state written again", zap.Uint64("revision", next.revision))
	}
	f.cur.Store(next)
	f.st.revisions.Add(1)
	f.log.Debug("listfeed revision", zap.Uint64("revision", next.revision), zap.Int("entries", len(next.order)), zap.Int("changed", len(changed)))
	return true
}

// entryFields is the number of fields sameEntry compares.
const entryFields = 13

// sameEntry reports whether a and b are the same in every field, and so
// encode the same (times compared as values, location included: the
// same instant elsewhere encodes otherwise). A false "not the same" only
// costs encoding b.
func sameEntry(a, b blocklist.Entry) bool {
	return a.Prefix == b.Prefix && a.FirstSeen == b.FirstSeen && a.LastSeen == b.LastSeen && a.Attempts == b.Attempts &&
		a.Addresses == b.Addresses && slices.Equal(a.IPv4, b.IPv4) && a.MaxScore == b.MaxScore &&
		slices.Equal(a.Evidence, b.Evidence) && slices.Equal(a.Sensors, b.Sensors) && a.FirstListed == b.FirstListed &&
		a.Relisted == b.Relisted && a.ListedSince == b.ListedSince && a.WidenedFrom == b.WidenedFrom &&
		(a.IPv4 == nil) == (b.IPv4 == nil) && (a.Evidence == nil) == (b.Evidence == nil) && (a.Sensors == nil) == (b.Sensors == nil)
}

// trim drops the oldest changes beyond the bounds; the newest revision's
// always stays.
func (s *snapshot) trim(history, maxChanges int) {
	drop := 0
	for n := len(s.history); n-drop > 1 && (n-drop > history || s.changes > maxChanges); drop++ {
		s.changes -= len(s.history[drop].Changed)
	}
	if drop > 0 {
		s.history = slices.Clone(s.history[drop:])
	}
}

// oldest returns the oldest revision changes can be computed from.
func (s *snapshot) oldest() uint64 { return s.revision - uint64(len(s.history)) }

// delta returns the entries added or changed and the prefixes removed
// since revision since, which must be within oldest()..revision.
// "removed" may name a prefix that was added and removed again after
// since: removing it is a no-op for the client.
func (s *snapshot) delta(since uint64) (added []json.RawMessage, removed []netip.Prefix) {
	seen := make(map[netip.Prefix]bool)
	var touched []netip.Prefix
	for _, c := range s.history[len(s.history)-int(s.revision-since):] {
		for _, p := range c.Changed {
			if !seen[p] {
				seen[p] = true
				touched = append(touched, p)
			}
		}
	}
	slices.SortFunc(touched, comparePrefix)
	for _, p := range touched {
		if b, ok := s.entries[p]; ok {
			added = append(added, b)
		} else {
			removed = append(removed, p)
		}
	}
	return added, removed
}

// fullJSON returns the whole list's response body, built once per
// revision.
func (s *snapshot) fullJSON() []byte {
	s.full.Do(func() {
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"revision":%d,"generated":%s,"entries":[`, s.revision, jsonTime(s.generated))
		for i, p := range s.order {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(s.entries[p])
		}
		b.WriteString("]}\n")
		s.fullBody = b.Bytes()
	})
	return s.fullBody
}

// jsonTime is t as JSON (null when zero: revision 0 was never generated).
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return "null"
	}
	b, _ := t.MarshalJSON()
	return string(b)
}

// comparePrefix orders prefixes as blocklist.SortEntries orders entries.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func sortedKeys(m map[netip.Prefix]json.RawMessage) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, comparePrefix)
	return ps
}

// state is the state file's content.
type state struct {
	Format    int               `json:"format"`
	Revision  uint64            `json:"revision"`
	Generated time.Time         `json:"generated"`
	Entries   []json.RawMessage `json:"entries"`
	History   []change          `json:"history"`
}

// writeState replaces the state file with s.
func writeState(path string, s *snapshot) error {
	return atomicfile.Write(path, 0o644, func(f *os.File) error {
		w := bufio.NewWriter(f)
		hist, err := json.Marshal(s.history)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, `{"format":%d,"revision":%d,"generated":%s,"history":%s,"entries":[`,
			stateFormat, s.revision, jsonTime(s.generated), hist)
		for i, p := range s.order {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
			w.Write(s.entries[p])
		}
		w.WriteString("\n]}\n")
		return w.Flush()
	})
}

// readState reads a state file and checks that it holds together.
func readState(path string) (*snapshot, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var st state
	lr := &io.LimitedReader{R: fh, N: MaxStateBytes + 1}
	if err := json.NewDecoder(bufio.NewReader(lr)).Decode(&st); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("larger than %d bytes", MaxStateBytes)
		}
		return nil, err
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("format %d, not %d", st.Format, stateFormat)
	}
	if uint64(len(st.History)) > st.Revision {
		return nil, fmt.Errorf("%d changes recorded for revision %d", len(st.History), st.Revision)
	}
	s := &snapshot{revision: st.Revision, generated: st.Generated, entries: make(map[netip.Prefix]json.RawMessage, len(st.Entries))}
	for i, c := range st.History {
		if want := st.Revision - uint64(len(st.History)-1-i); c.Revision != want {
			return nil, fmt.Errorf("history: revision %d where %d was expected", c.Revision, want)
		}
		s.changes += len(c.Changed)
	}
	s.history = st.History
	for i, raw := range st.Entries {
		var e struct {
			Prefix netip.Prefix `json:"prefix"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || !e.Prefix.IsValid() {
			return nil, fmt.Errorf("entry %d: no valid prefix", i+1)
		}
		if _, dup := s.entries[e.Prefix]; dup {
			return nil, fmt.Errorf("entry %d: prefix %s twice", i+1, e.Prefix)
		}
		s.entries[e.Prefix] = raw
	}
	s.order = sortedKeys(s.entries)
	return s, nil
}
