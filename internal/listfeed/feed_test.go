package listfeed

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxsensor/mxsensor/internal/blocklist"
)

// entry is a listed /64 with attempts attempts.
func entry(prefix string, attempts int) blocklist.Entry {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	return blocklist.Entry{Prefix: netip.MustParsePrefix(prefix), FirstSeen: t0, LastSeen: t0.Add(time.Hour),
		Attempts: attempts, Addresses: 1, IPv4: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, MaxScore: 0.9,
		Evidence: []string{"order"}}
}

// fullBody and deltaBody are the responses as a client decodes them.
type fullBody struct {
	Revision  uint64            `json:"revision"`
	Generated *time.Time        `json:"generated"`
	Entries   []blocklist.Entry `json:"entries"`
}

type deltaBody struct {
	Revision uint64            `json:"revision"`
	Since    uint64            `json:"since"`
	Added    []blocklist.Entry `json:"added"`
	Removed  []string          `json:"removed"`
}

type errBody struct {
	Error    string `json:"error"`
	Revision uint64 `json:"revision"`
}

// get asks the feed's handler for target, with If-None-Match inm if
// given, and returns the response.
func get(t *testing.T, f *Feed, target, inm string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	w := httptest.NewRecorder()
	f.Handler().ServeHTTP(w, req)
	return w
}

// decode checks the status and the content type and decodes the body.
func decode(t *testing.T, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
}

func prefixes(es []blocklist.Entry) []string {
	var ps []string
	for _, e := range es {
		ps = append(ps, fmt.Sprintf("%s:%d", e.Prefix, e.Attempts))
	}
	return ps
}

func delta(t *testing.T, f *Feed, since uint64) deltaBody {
	t.Helper()
	var d deltaBody
	decode(t, get(t, f, fmt.Sprintf("/v1/list?since=%d", since), ""), http.StatusOK, &d)
	return d
}

func checkDelta(t *testing.T, d deltaBody, rev, since uint64, added, removed []string) {
	t.Helper()
	if d.Revision != rev || d.Since != since || !slices.Equal(prefixes(d.Added), added) || !slices.Equal(d.Removed, removed) {
		t.Errorf("since %d: revision %d since %d added %v removed %v; want %d, %d, %v, %v",
			since, d.Revision, d.Since, prefixes(d.Added), d.Removed, rev, since, added, removed)
	}
}

// steps updates f with the lists of TestFeedRevisions: revision 1 lists
// a and b; 2 changes b; 3 adds c; 4 removes a. A reload that changes
// nothing between them keeps the revision.
func steps(t *testing.T, f *Feed) {
	t.Helper()
	a, b, c := entry("2001:db8:a::/64", 1), entry("2001:db8:b::/64", 2), entry("2001:db8:c::/64", 3)
	b2 := b
	b2.Attempts = 5
	for i, l := range [][]blocklist.Entry{{b, a}, {a, b}, {a, b2}, {a, b2, c}, {a, b2, c}, {b2, c}} {
		f.Update(l)
		if want := []uint64{1, 1, 2, 3, 3, 4}[i]; f.Revision() != want {
			t.Fatalf("step %d: revision %d, want %d", i, f.Revision(), want)
		}
	}
}

// TestFeedRevisions: each change of the list makes one revision (the same
// list again, in another order, none); the changes since a revision name
// the entries added or changed (with their current content) and the
// prefixes removed; since the current revision is no change.
func TestFeedRevisions(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var full fullBody
	decode(t, get(t, f, "/v1/list", ""), http.StatusOK, &full)
	if full.Revision != 0 || full.Generated != nil || len(full.Entries) != 0 {
		t.Fatalf("empty feed: %+v", full)
	}
	steps(t, f)
	decode(t, get(t, f, "/v1/list", ""), http.StatusOK, &full)
	if got := prefixes(full.Entries); full.Revision != 4 || !slices.Equal(got, []string{"2001:db8:b::/64:5", "2001:db8:c::/64:3"}) {
		t.Errorf("full list: revision %d, %v", full.Revision, got)
	}
	if full.Generated == nil || full.Generated.IsZero() {
		t.Error("full list: no generation time")
	}
	checkDelta(t, delta(t, f, 0), 4, 0, []string{"2001:db8:b::/64:5", "2001:db8:c::/64:3"}, []string{"2001:db8:a::/64"})
	checkDelta(t, delta(t, f, 1), 4, 1, []string{"2001:db8:b::/64:5", "2001:db8:c::/64:3"}, []string{"2001:db8:a::/64"})
	checkDelta(t, delta(t, f, 2), 4, 2, []string{"2001:db8:c::/64:3"}, []string{"2001:db8:a::/64"})
	checkDelta(t, delta(t, f, 3), 4, 3, nil, []string{"2001:db8:a::/64"})
	checkDelta(t, delta(t, f, 4), 4, 4, nil, nil)
	// Empty arrays, not null: a client iterates over them as they come.
	if w := get(t, f, "/v1/list?since=4", ""); !strings.Contains(w.Body.String(), `"added":[],"removed":[]`) {
		t.Errorf("empty delta: %s", w.Body)
	}
}

// TestFeedBadSince: a since that is not a revision, or is ahead of the
// current one, is a 400 with a JSON error; one older than the history
// kept is 410 Gone.
func TestFeedBadSince(t *testing.T) {
	f, err := New(Config{History: 2})
	if err != nil {
		t.Fatal(err)
	}
	steps(t, f)
	for _, q := range []string{"since=abc", "since=-1", "since=", "since=5", "since=18446744073709551616", "since=1&since=2", "since=%zz"} {
		var e errBody
		decode(t, get(t, f, "/v1/list?"+q, ""), http.StatusBadRequest, &e)
		if e.Error == "" || e.Revision != 4 {
			t.Errorf("%s: %+v", q, e)
		}
	}
	// History 2 keeps revisions 3 and 4: since=2 is served, since=1 not.
	checkDelta(t, delta(t, f, 2), 4, 2, []string{"2001:db8:c::/64:3"}, []string{"2001:db8:a::/64"})
	var e errBody
	decode(t, get(t, f, "/v1/list?since=1", ""), http.StatusGone, &e)
	if !strings.Contains(e.Error, "/v1/list") {
		t.Errorf("410 does not say where the whole list is: %q", e.Error)
	}
	st := f.Stats()
	if st.BadRequest != 7 || st.Gone != 1 || st.Delta != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestFeedMaxChanges: the history holds at most MaxChanges prefixes (the
// newest revision's always), oldest revisions dropped first.
func TestFeedMaxChanges(t *testing.T) {
	f, err := New(Config{MaxChanges: 2})
	if err != nil {
		t.Fatal(err)
	}
	steps(t, f) // changes: 1: a, b; 2: b; 3: c; 4: a
	checkDelta(t, delta(t, f, 2), 4, 2, []string{"2001:db8:c::/64:3"}, []string{"2001:db8:a::/64"})
	if w := get(t, f, "/v1/list?since=1", ""); w.Code != http.StatusGone {
		t.Errorf("since=1 beyond 2 changes kept: %d", w.Code)
	}
	f.Update([]blocklist.Entry{entry("2001:db8:1::/64", 1), entry("2001:db8:2::/64", 1), entry("2001:db8:3::/64", 1)})
	if w := get(t, f, "/v1/list?since=4", ""); w.Code != http.StatusOK {
		t.Errorf("the newest revision's 5 changes, over the bound, must stay: %d", w.Code)
	}
	if w := get(t, f, "/v1/list?since=3", ""); w.Code != http.StatusGone {
		t.Errorf("since=3: %d", w.Code)
	}
}

// TestFeedETag: the ETag is the quoted revision; If-None-Match naming it
// (or "*", or among others, or weak) gets 304 without a body, any other
// tag the list.
func TestFeedETag(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	steps(t, f)
	for _, target := range []string{"/v1/list", "/v1/list?since=2"} {
		if w := get(t, f, target, ""); w.Header().Get("ETag") != `"4"` {
			t.Errorf("%s: ETag %q", target, w.Header().Get("ETag"))
		}
		for _, inm := range []string{`"4"`, `W/"4"`, `"3", "4"`, `*`} {
			w := get(t, f, target, inm)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != `"4"` {
				t.Errorf("%s If-None-Match %s: %d %q", target, inm, w.Code, w.Body)
			}
		}
		for _, inm := range []string{`"3"`, `"40"`, `4`} {
			if w := get(t, f, target, inm); w.Code != http.StatusOK {
				t.Errorf("%s If-None-Match %s: %d", target, inm, w.Code)
			}
		}
	}
	if st := f.Stats(); st.NotModified != 8 {
		t.Errorf("not modified %d, want 8", st.NotModified)
	}
}

// TestFeedRestart: a feed started again from the same state file keeps
// the revision, serves the changes since an older one as the first did,
// and the first list after the restart, the same, makes no revision.
func TestFeedRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "feed.json")
	f, err := New(Config{State: state})
	if err != nil {
		t.Fatal(err)
	}
	steps(t, f)
	before := get(t, f, "/v1/list?since=1", "").Body.String()
	full := get(t, f, "/v1/list", "").Body.String()

	g, err := New(Config{State: state})
	if err != nil {
		t.Fatal(err)
	}
	if g.Revision() != 4 {
		t.Fatalf("revision %d after the restart, want 4", g.Revision())
	}
	if after := get(t, g, "/v1/list?since=1", "").Body.String(); after != before {
		t.Errorf("since=1 after the restart:\n%s\nbefore:\n%s", after, before)
	}
	if after := get(t, g, "/v1/list", "").Body.String(); after != full {
		t.Errorf("full list after the restart:\n%s\nbefore:\n%s", after, full)
	}
	// The list as a fresh load builds it: new values, in another order.
	b2 := entry("2001:db8:b::/64", 5)
	c := entry("2001:db8:c::/64", 3)
	if g.Update([]blocklist.Entry{c, b2}) || g.Revision() != 4 {
		t.Errorf("the same list after the restart made revision %d", g.Revision())
	}
	g.Update([]blocklist.Entry{b2})
	checkDelta(t, delta(t, g, 3), 5, 3, nil, []string{"2001:db8:a::/64", "2001:db8:c::/64"})
}

// TestFeedState: a state file that does not read stops the start (it is
// not silently replaced: the revisions would start again); a state that
// cannot be written keeps the revision served, and the next update makes
// the one revision it missed.
func TestFeedState(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage":  "not json",
		"format":   `{"format":9,"revision":1,"entries":[]}`,
		"gap":      `{"format":1,"revision":5,"history":[{"revision":3,"changed":[]},{"revision":5,"changed":[]}],"entries":[]}`,
		"too long": `{"format":1,"revision":1,"history":[{"revision":1,"changed":[]},{"revision":2,"changed":[]}],"entries":[]}`,
		"prefix":   `{"format":1,"revision":1,"history":[],"entries":[{"prefix":"nope"}]}`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{State: p}); err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(Config{State: filepath.Join(dir, "missing", "feed.json")}); err == nil {
		t.Error("a state file that cannot be written: no error")
	}

	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{State: filepath.Join(sub, "feed.json")})
	if err != nil {
		t.Fatal(err)
	}
	f.Update([]blocklist.Entry{entry("2001:db8:a::/64", 1)})
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if f.Update([]blocklist.Entry{entry("2001:db8:b::/64", 1)}) || f.Revision() != 1 || f.Stats().StateErrors != 1 {
		t.Fatalf("unwritten state: revision %d, %+v", f.Revision(), f.Stats())
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// The list held back is served at the next Retry, without a new one.
	if !f.Retry() || f.Revision() != 2 || f.Retry() {
		t.Fatalf("retried after the disk had room: revision %d", f.Revision())
	}
	if f.Update([]blocklist.Entry{entry("2001:db8:b::/64", 1)}) || f.Revision() != 2 {
		t.Fatalf("state writable again: revision %d", f.Revision())
	}
	checkDelta(t, delta(t, f, 1), 2, 1, []string{"2001:db8:b::/64:1"}, []string{"2001:db8:a::/64"})
}

// TestFeedRequests: only GET and HEAD of /v1/list; HEAD gets the
// headers of GET without the body.
func TestFeedRequests(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	steps(t, f)
	h := f.Handler()
	for _, c := range []struct {
		method, target string
		status         int
	}{{http.MethodPost, "/v1/list", 405}, {http.MethodDelete, "/v1/list?since=1", 405}, {http.MethodGet, "/", 404},
		{http.MethodGet, "/v1/list/", 404}, {http.MethodGet, "/v2/list", 404}, {http.MethodGet, "/v1/list?other=1", 200}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.target, nil))
		if w.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.target, w.Code, c.status)
		}
		if c.status == 405 && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("405 without Allow: %q", w.Header().Get("Allow"))
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/v1/list", nil))
	full := get(t, f, "/v1/list", "")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != full.Header().Get("Content-Length") || w.Header().Get("ETag") != `"4"` {
		t.Errorf("HEAD: %d, body %d bytes, headers %v", w.Code, w.Body.Len(), w.Header())
	}
	if st := f.Stats(); st.MethodNotAllowed != 2 || st.NotFound != 3 || st.Full != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		"8080": "127.0.0.1:8080", ":8080": "127.0.0.1:8080", "0.0.0.0:8080": "0.0.0.0:8080",
		"[::]:8080": "[::]:8080", "[::1]:0": "[::1]:0", "localhost:80": "localhost:80", "": "",
		"host": "", "1.2.3.4:http": "", "70000": "",
	} {
		got, err := ListenAddr(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// BenchmarkUpdate: one entry of a 100,000-entry list changes at each
// update, with the state file written (go test -bench Update
// ./internal/listfeed/).
func BenchmarkUpdate(b *testing.B) {
	const n = 100000
	es := make([]blocklist.Entry, n)
	for i := range es {
		es[i] = entry(fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff), 1)
	}
	state := filepath.Join(b.TempDir(), "feed.json")
	f, err := New(Config{State: state})
	if err != nil {
		b.Fatal(err)
	}
	f.Update(es)
	b.ResetTimer()
	for i := range b.N {
		es[i%n].Attempts++
		if !f.Update(es) {
			b.Fatal("no revision")
		}
	}
	b.StopTimer()
	fi, err := os.Stat(state)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size()), "state-bytes")
	b.ReportMetric(float64(len(f.cur.Load().fullJSON())), "full-bytes")
}

// TestSameEntry: sameEntry compares every field of blocklist.Entry (a
// field added there must be compared too, or a change of it alone would
// make no revision), and tells apart what encodes otherwise.
func TestSameEntry(t *testing.T) {
	if n := reflect.TypeFor[blocklist.Entry]().NumField(); n != entryFields {
		t.Fatalf("blocklist.Entry has %d fields, sameEntry compares %d: compare the new ones", n, entryFields)
	}
	a := entry("2001:db8:a::/64", 1)
	if !sameEntry(a, a) {
		t.Error("an entry is not the same as itself")
	}
	for name, change := range map[string]func(e *blocklist.Entry){
		"prefix":       func(e *blocklist.Entry) { e.Prefix = netip.MustParsePrefix("2001:db8:b::/64") },
		"first seen":   func(e *blocklist.Entry) { e.FirstSeen = e.FirstSeen.Add(1) },
		"last seen":    func(e *blocklist.Entry) { e.LastSeen = e.LastSeen.In(time.FixedZone("X", 3600)) },
		"attempts":     func(e *blocklist.Entry) { e.Attempts++ },
		"addresses":    func(e *blocklist.Entry) { e.Addresses++ },
		"ipv4":         func(e *blocklist.Entry) { e.IPv4 = nil },
		"max score":    func(e *blocklist.Entry) { e.MaxScore = 0.5 },
		"evidence":     func(e *blocklist.Entry) { e.Evidence = []string{"stack"} },
		"sensors":      func(e *blocklist.Entry) { e.Sensors = []string{"s1"} },
		"first listed": func(e *blocklist.Entry) { e.FirstListed = e.FirstSeen },
		"relisted":     func(e *blocklist.Entry) { e.Relisted = 2 },
		"listed since": func(e *blocklist.Entry) { e.ListedSince = e.LastSeen },
		"widened from": func(e *blocklist.Entry) { e.WidenedFrom = 3 },
	} {
		b := a
		change(&b)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if sameEntry(a, b) || string(ja) == string(jb) {
			t.Errorf("%s: the same, or the same JSON", name)
		}
	}
}
