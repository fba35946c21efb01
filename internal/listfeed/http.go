package listfeed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Path is the one resource served.
const Path = "/v1/list"

// The HTTP server's bounds.
const (
	// DefaultMaxClients bounds the requests answered at once: each may
	// hold a copy of the changes as large as the list.
	DefaultMaxClients = 64
	readHeaderTimeout = 5 * time.Second
	// writeTimeout leaves a slow client a minute for a large list.
	writeTimeout   = time.Minute
	idleTimeout    = time.Minute
	maxHeaderBytes = 8 << 10
)

// Stats counts the feed's revisions and the requests by outcome.
type Stats struct {
	Revision         uint64 // the revision served now
	Revisions        uint64 // revisions made by this process
	StateErrors      uint64 // state file writes that failed (the revision was kept)
	EncodeErrors     uint64 // entries that did not encode (left out)
	Full             uint64 // 200, the whole list
	Delta            uint64 // 200, the changes since a revision
	NotModified      uint64 // 304
	BadRequest       uint64 // 400: since not a revision, or ahead of the current one
	NotFound         uint64 // 404: another path
	MethodNotAllowed uint64 // 405: not GET or HEAD
	Gone             uint64 // 410: since older than the history kept
	Busy             uint64 // 503: MaxClients requests already being answered
}

type counters struct {
	revisions, stateErrors, encodeErrors                                         atomic.Uint64
	full, delta, notModified, badRequest, notFound, methodNotAllowed, gone, busy atomic.Uint64
}

// Stats returns the counts.
func (f *Feed) Stats() Stats {
	c := &f.st
	return Stats{Revision: f.Revision(), Revisions: c.revisions.Load(), StateErrors: c.stateErrors.Load(), EncodeErrors: c.encodeErrors.Load(),
		Full: c.full.Load(), Delta: c.delta.Load(), NotModified: c.notModified.Load(), BadRequest: c.badRequest.Load(),
		NotFound: c.notFound.Load(), MethodNotAllowed: c.methodNotAllowed.Load(), Gone: c.gone.Load(), Busy: c.busy.Load()}
}

// MarshalLogObject writes the counts as log fields.
func (st Stats) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, f := range []struct {
		name string
		n    uint64
	}{{"revision", st.Revision}, {"revisions", st.Revisions}, {"state_errors", st.StateErrors}, {"encode_errors", st.EncodeErrors},
		{"full", st.Full}, {"delta", st.Delta}, {"not_modified", st.NotModified}, {"bad_request", st.BadRequest},
		{"not_found", st.NotFound}, {"method_not_allowed", st.MethodNotAllowed}, {"gone", st.Gone}, {"busy", st.Busy}} {
		enc.AddUint64(f.name, f.n)
	}
	return nil
}

// Handler returns the HTTP handler of Path.
func (f *Feed) Handler() http.Handler {
	return &handler{f: f, slots: make(chan struct{}, f.cfg.MaxClients)}
}

type handler struct {
	f     *Feed
	slots chan struct{}
}

// errorBody is the JSON of a request refused.
type errorBody struct {
	Error    string `json:"error"`
	Revision uint64 `json:"revision"`
}

func (h *handler) fail(w http.ResponseWriter, code int, n *atomic.Uint64, revision uint64, format string, args ...any) {
	n.Add(1)
	b, _ := json.Marshal(errorBody{Error: fmt.Sprintf(format, args...), Revision: revision})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &h.f.st
	s := h.f.cur.Load()
	if r.URL.Path != Path {
		h.fail(w, http.StatusNotFound, &st.notFound, s.revision, "no such resource: the list is %s", Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, http.StatusMethodNotAllowed, &st.methodNotAllowed, s.revision, "method %s: only GET and HEAD", r.Method)
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		h.fail(w, http.StatusServiceUnavailable, &st.busy, s.revision, "too many requests at once")
		return
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		h.fail(w, http.StatusBadRequest, &st.badRequest, s.revision, "%v", err)
		return
	}
	var since uint64
	if q.hasSince {
		if since, err = strconv.ParseUint(q.since, 10, 64); err != nil {
			h.fail(w, http.StatusBadRequest, &st.badRequest, s.revision, "since=%.40q is not a revision (a number)", q.since)
			return
		}
		if since > s.revision {
			h.fail(w, http.StatusBadRequest, &st.badRequest, s.revision, "since=%d is ahead of the current revision %d (a feed started again without its state? fetch %s)", since, s.revision, Path)
			return
		}
		if since < s.oldest() {
			h.fail(w, http.StatusGone, &st.gone, s.revision, "since=%d is older than the changes kept (from revision %d on): fetch %s", since, s.oldest(), Path)
			return
		}
	}
	etag := `"` + strconv.FormatUint(s.revision, 10) + `"`
	hd := w.Header()
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", "no-cache")
	if matchETag(r.Header.Values("If-None-Match"), etag) {
		st.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var body []byte
	if q.hasSince {
		body = s.deltaJSON(since)
		st.delta.Add(1)
	} else {
		body = s.fullJSON()
		st.full.Add(1)
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// query is what the request asks: since, at most once; other keys are
// ignored.
type query struct {
	since    string
	hasSince bool
}

func parseQuery(raw string) (query, error) {
	var q query
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != "since" {
			continue
		}
		if q.hasSince {
			return q, errors.New("since given more than once")
		}
		u, err := url.QueryUnescape(v)
		if err != nil {
			return q, fmt.Errorf("since: %w", err)
		}
		q.since, q.hasSince = u, true
	}
	return q, nil
}

// matchETag reports whether an If-None-Match header (any number of
// lines, each a list) names etag or is "*"; a weak tag matches too
// (RFC 9110 13.1.2 compares If-None-Match weakly).
func matchETag(lines []string, etag string) bool {
	for _, l := range lines {
		for t := range strings.SplitSeq(l, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
	}
	return false
}

// deltaJSON returns the response body of the changes since since.
func (s *snapshot) deltaJSON(since uint64) []byte {
	added, removed := s.delta(since)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"revision":%d,"since":%d,"added":[`, s.revision, since)
	for i, e := range added {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteString(`],"removed":[`)
	for i, p := range removed {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(p.String())
		b.WriteByte('"')
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// Server serves a feed's handler over HTTP.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	errc chan error
	once sync.Once
}

// ListenAddr returns the address to listen on for an --http value: a
// bare port ("8080") or one without a host (":8080") is on 127.0.0.1, so
// that the list goes beyond this host only where the operator writes an
// address ("0.0.0.0:8080", "[::]:8080", "192.0.2.1:8080").
func ListenAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", s), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("invalid address %q: %w", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("invalid address %q: port %q is not a number from 0 to 65535", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Listen starts serving f on addr (as ListenAddr reads it).
func Listen(f *Feed, addr string, log *zap.Logger) (*Server, error) {
	a, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{ln: ln, errc: make(chan error, 1), srv: &http.Server{Handler: f.Handler(),
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readHeaderTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: zap.NewStdLog(log.Named("listfeed"))}}
	go func() {
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.errc <- err
		}
	}()
	return s, nil
}

// Addr returns the address served.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Err delivers an error if serving stops on its own.
func (s *Server) Err() <-chan error { return s.errc }

// Shutdown stops serving, waiting for the requests in flight until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() { err = s.srv.Shutdown(ctx) })
	return err
}
