package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/blocklist"
	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/results"
	"github.com/mxsensor/mxsensor/internal/store"
)

// listWriter keeps the shared spammer list in the fleet's KV bucket: every
// ListInterval (when something was ingested) and at stop, it builds the
// list from the collector's store as `mxsensor blocklist --db` does, with
// the sensors that saw each prefix, and writes what changed since it last
// wrote (the store remembers it, across restarts): a new or changed entry
// is put (its expiry starts again), a prefix no longer listed deleted. An
// entry that does not change is not rewritten, so the bucket's TTL expires
// it ListConfig.Expire after the collector last saw new spammer attempts
// from it. Every interval it also looks for entries that should be in the
// bucket and are not (a bucket purged, or deleted and created again) and
// puts them back.
type listWriter struct {
	c     *Collector
	kv    jetstream.KeyValue
	dirty atomic.Bool
	stop  chan struct{}
	done  chan struct{}
}

func newListWriter(c *Collector) *listWriter { return &listWriter{c: c} }

// touch says the store changed: the next interval rebuilds the list.
func (l *listWriter) touch() { l.dirty.Store(true) }

func (l *listWriter) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var kv jetstream.KeyValue
	err := fleet.RetryAPI(ctx, apiTry, func(ctx context.Context) error {
		var err error
		kv, err = fleet.EnsureList(ctx, l.c.js, l.c.cfg.List)
		return err
	})
	if err != nil {
		return err
	}
	l.kv = kv
	l.dirty.Store(true) // a first write at the first interval
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.run()
	return nil
}

// Stop writes the list once more (the last batches) and stops.
func (l *listWriter) Stop() error {
	if l.stop == nil {
		return nil
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	if !l.dirty.Load() {
		return nil
	}
	return l.write(time.Now(), nil)
}

func (l *listWriter) run() {
	defer close(l.done)
	t := time.NewTicker(l.c.cfg.ListInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			if err := l.tick(now); err != nil {
				l.c.log.Warn("writing the shared list failed: tried again at the next interval", zap.Error(err))
			}
		}
	}
}

// tick writes the list when something was ingested or when entries are
// missing from the bucket.
func (l *listWriter) tick(now time.Time) error {
	missing, err := l.missing(now)
	if err != nil {
		l.c.stats.listErrors.Add(1)
		return err
	}
	if len(missing) == 0 && !l.dirty.Load() {
		return nil
	}
	if len(missing) > 0 {
		l.c.log.Warn("entries of the shared list are missing from its bucket: written again", zap.Int("missing", len(missing)))
	}
	return l.write(now, missing)
}

// missing returns the keys written less than the list's expiry ago (a
// tenth of it left as a margin: the server expires them on its own clock)
// that the bucket does not hold. A bucket that is gone is created again.
func (l *listWriter) missing(now time.Time) (map[string]bool, error) {
	prev, err := l.c.st.FleetList()
	if err != nil {
		return nil, err
	}
	live := l.c.cfg.List.Expire - l.c.cfg.List.Expire/10
	want := map[string]bool{}
	for key, p := range prev {
		if now.Sub(p.Written) < live {
			want[key] = true
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = l.eachKey(ctx, func(key string) { delete(want, key) })
	if err != nil {
		kv, kerr := fleet.EnsureList(ctx, l.c.js, l.c.cfg.List)
		if kerr != nil {
			return nil, fmt.Errorf("listing the bucket's keys: %w", errors.Join(err, kerr))
		}
		l.kv = kv
		if err := l.eachKey(ctx, func(key string) { delete(want, key) }); err != nil {
			return nil, fmt.Errorf("listing the bucket's keys: %w", err)
		}
	}
	return want, nil
}

// eachKey calls fn with every key of the bucket.
func (l *listWriter) eachKey(ctx context.Context, fn func(string)) error {
	keys, err := l.kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	defer keys.Stop() //nolint:errcheck
	for k := range keys.Keys() {
		fn(k)
	}
	return nil
}

// write builds the list and writes what changed, and the entries of
// missing (keys the bucket lost) even if unchanged.
func (l *listWriter) write(now time.Time, missing map[string]bool) error {
	err := l.writeList(now, missing)
	if err != nil {
		l.c.stats.listErrors.Add(1)
		l.dirty.Store(true)
	}
	return err
}

func (l *listWriter) writeList(now time.Time, missing map[string]bool) error {
	l.dirty.Store(false) // what is ingested from now on is for the next write
	st := l.c.st
	list, err := blocklist.BuildFrom(st, l.c.cfg.ListOptions)
	if err != nil {
		return fmt.Errorf("building the list: %w", err)
	}
	seen, err := st.SpammerSensors()
	if err != nil {
		return err
	}
	sensors := sensorsByPrefix(seen, list.Options.PrefixLen)
	prev, err := st.FleetList()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var puts, dels int
	listed := make(map[string]bool, len(list.Entries))
	for _, e := range list.Entries {
		key := fleet.PrefixKey(e.Prefix)
		listed[key] = true
		e.Sensors = sensors[e.Prefix]
		p, had := prev[key]
		e.FirstListed = now.UTC()
		if had {
			e.FirstListed = p.FirstListed
		}
		val, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if had && p.Entry == string(val) && !missing[key] {
			continue
		}
		if _, err := l.kv.Put(ctx, key, val); err != nil {
			return fmt.Errorf("putting %s: %w", e.Prefix, err)
		}
		if err := st.SetFleetListed(key, &store.ListedEntry{Entry: string(val), FirstListed: e.FirstListed, Written: now}); err != nil {
			return err
		}
		puts++
	}
	for key := range prev {
		if listed[key] {
			continue
		}
		if err := l.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
		if err := st.SetFleetListed(key, nil); err != nil {
			return err
		}
		dels++
	}
	l.c.stats.listEntries.Store(int64(len(list.Entries)))
	l.c.stats.listPuts.Add(uint64(puts))
	l.c.stats.listDels.Add(uint64(dels))
	if puts+dels > 0 {
		l.c.log.Info("shared list written", zap.Int("entries", len(list.Entries)), zap.Int("put", puts), zap.Int("deleted", dels))
	}
	return nil
}

// sensorsByPrefix gathers the sensors that saw spammer attempts from each
// listed prefix (sorted, without repeats).
func sensorsByPrefix(seen map[netip.Addr][]string, bits int) map[netip.Prefix][]string {
	out := map[netip.Prefix][]string{}
	for src, ids := range seen {
		p := results.HostPrefix(src, bits)
		out[p] = append(out[p], ids...)
	}
	for p, ids := range out {
		slices.Sort(ids)
		out[p] = slices.Compact(ids)
	}
	return out
}
