package enrich

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// answer is what a query yielded: NOERROR (with or without records) or
// NXDOMAIN. Failures are errors, never answers.
type answer struct {
	rcode int
	rrs   []dns.RR // the answer section; shared, read-only
}

// cache is an LRU map from "name/type" to answers, each with an expiry.
type cache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front: most recently used; values are *cacheEntry
	m   map[string]*list.Element
}

type cacheEntry struct {
	key     string
	ans     answer
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

// get returns the answer for key unless it is missing or expired at now.
func (c *cache) get(key string, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.m, key)
		return answer{}, false
	}
	c.ll.MoveToFront(el)
	return e.ans, true
}

// put stores an answer until expires, evicting the least recently used
// entry when the cache is full.
func (c *cache) put(key string, a answer, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		e := el.Value.(*cacheEntry)
		e.ans, e.expires = a, expires
		c.ll.MoveToFront(el)
		return
	}
	for c.ll.Len() >= c.max {
		oldest := c.ll.Back()
		c.ll.Remove(oldest)
		delete(c.m, oldest.Value.(*cacheEntry).key)
	}
	c.m[key] = c.ll.PushFront(&cacheEntry{key: key, ans: a, expires: expires})
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
