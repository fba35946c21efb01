package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// DecodeEntry decodes a value of the spammer list's bucket: one
// blocklist.Entry as JSON, whose prefix is the one its key encodes and is
// listable (IPv6, not IPv4-mapped, not holding the RFC 5782 negative test
// point).
func DecodeEntry(key string, value []byte) (blocklist.Entry, error) {
	var e blocklist.Entry
	if len(value) > MaxBody {
		return e, fmt.Errorf("list entry %s: %d bytes, more than %d", key, len(value), MaxBody)
	}
	p, err := ParsePrefixKey(key)
	if err != nil {
		return e, fmt.Errorf("list entry: %w", err)
	}
	if err := json.Unmarshal(value, &e); err != nil {
		return e, fmt.Errorf("list entry %s: %w", key, err)
	}
	q := e.Prefix
	if !q.IsValid() || q.Masked() != p {
		return e, fmt.Errorf("list entry %s: prefix %s is not the key's %s", key, q, p)
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Contains(blocklist.TestPointUnlisted) {
		return e, fmt.Errorf("list entry %s: %s is not a listable IPv6 prefix", key, p)
	}
	e.Prefix = p
	if e.IPv4 == nil {
		e.IPv4 = []netip.Addr{}
	}
	if e.Evidence == nil {
		e.Evidence = []string{}
	}
	return e, nil
}

// ListView is a reader's copy of the shared spammer list, kept from the
// bucket's entries in the order a watcher delivers them: a put sets its
// key's entry, a delete or purge removes it. Not safe for concurrent use.
type ListView struct {
	items map[string]listItem // by key
	rev   uint64
	// Malformed counts the values that did not decode (skipped: their key
	// keeps the entry it had); FirstMalformed says why the first did not.
	Malformed      uint64
	FirstMalformed string
}

type listItem struct {
	e       blocklist.Entry
	written time.Time // when the server stored it (its expiry counts from then)
}

// NewListView returns an empty view.
func NewListView() *ListView { return &ListView{items: make(map[string]listItem)} }

// Apply applies one entry of the bucket (nil, a watcher's end of its
// initial values, is ignored) and reports whether the list changed.
func (v *ListView) Apply(kve jetstream.KeyValueEntry) bool {
	if kve == nil {
		return false
	}
	v.rev = max(v.rev, kve.Revision())
	key := kve.Key()
	if op := kve.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
		_, had := v.items[key]
		delete(v.items, key)
		return had
	}
	e, err := DecodeEntry(key, kve.Value())
	if err != nil {
		v.Malformed++
		if v.FirstMalformed == "" {
			v.FirstMalformed = err.Error()
		}
		return false
	}
	v.items[key] = listItem{e: e, written: kve.Created()}
	return true
}

// Expire removes the entries written more than ttl before now and returns
// how many: the bucket expires them too, but a watcher is not told (the
// server writes no marker for a message that ages out).
func (v *ListView) Expire(now time.Time, ttl time.Duration) int {
	if ttl <= 0 {
		return 0
	}
	n := 0
	for k, it := range v.items {
		if now.Sub(it.written) >= ttl {
			delete(v.items, k)
			n++
		}
	}
	return n
}

// Revision is the highest revision applied (the bucket's stream sequence):
// a watcher re-created after a reconnect resumes after it.
func (v *ListView) Revision() uint64 { return v.rev }

// Len is the number of entries.
func (v *ListView) Len() int { return len(v.items) }

// List returns the entries as a list, sorted by prefix. Its Stats count
// the entries (Lines), the malformed values (Bad) and the spammer attempts;
// its Options.PrefixLen is the entries' prefix length when they share one.
func (v *ListView) List() *blocklist.List {
	l := &blocklist.List{Entries: make([]blocklist.Entry, 0, len(v.items))}
	plen := -1
	for _, it := range v.items {
		l.Entries = append(l.Entries, it.e)
		l.Stats.Spammer += it.e.Attempts
		switch b := it.e.Prefix.Bits(); plen {
		case -1:
			plen = b
		case b:
		default:
			plen = 0
		}
	}
	l.Options.PrefixLen = max(plen, 0)
	l.Stats.Lines = len(v.items) + int(v.Malformed)
	l.Stats.Bad = int(v.Malformed)
	l.Stats.FirstBad = v.FirstMalformed
	blocklist.SortEntries(l.Entries)
	return l
}

// ListWatch is a running watch of the spammer list's bucket.
type ListWatch struct {
	jetstream.KeyWatcher
	cancel context.CancelFunc
}

// Stop stops the watch.
func (w *ListWatch) Stop() {
	w.KeyWatcher.Stop()
	w.cancel()
}

// WatchList starts a watch of every key of the bucket; wait bounds its
// creation. The watch lives until Stop or until ctx is done (the client
// library ends it with the context it was created with).
func WatchList(ctx context.Context, kv jetstream.KeyValue, wait time.Duration, opts ...jetstream.WatchOpt) (*ListWatch, error) {
	wctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(wait, cancel)
	kw, err := kv.WatchAll(wctx, opts...)
	if !timer.Stop() && err == nil {
		kw.Stop()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching bucket %s: %w", kv.Bucket(), err)
	}
	return &ListWatch{KeyWatcher: kw, cancel: cancel}, nil
}

// LoadList fills v with the bucket's current entries: it watches the
// whole bucket until the watch has delivered every key's last value (at
// most wait), and returns the watch, still running, for the caller to
// follow the updates with (or stop).
func LoadList(ctx context.Context, kv jetstream.KeyValue, v *ListView, wait time.Duration) (*ListWatch, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	w, err := WatchList(ctx, kv, wait)
	if err != nil {
		return nil, err
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				w.Stop()
				return nil, fmt.Errorf("loading bucket %s: the watch stopped", kv.Bucket())
			}
			if e == nil {
				return w, nil
			}
			v.Apply(e)
		case <-deadline.C:
			w.Stop()
			return nil, fmt.Errorf("loading bucket %s: not done within %s", kv.Bucket(), wait)
		case <-ctx.Done():
			w.Stop()
			return nil, fmt.Errorf("loading bucket %s: %w", kv.Bucket(), ctx.Err())
		}
	}
}

// ReadList reads the shared list once (mxsensor blocklist --nats), in at
// most wait.
func ReadList(ctx context.Context, js jetstream.JetStream, wait time.Duration) (*ListView, error) {
	kv, err := js.KeyValue(ctx, ListBucket)
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", ListBucket, err)
	}
	v := NewListView()
	w, err := LoadList(ctx, kv, v, wait)
	if err != nil {
		return nil, err
	}
	w.Stop()
	return v, nil
}
