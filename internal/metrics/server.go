package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// DefaultListen is where the agent serves metrics unless told otherwise:
// loopback only, so nothing is exposed by default.
const DefaultListen = "127.0.0.1:9725"

// HealthFunc says whether the agent is healthy and, if not, why.
type HealthFunc func() (ok bool, reason string)

// Server serves /metrics and /healthz.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *zap.Logger
	done chan error
}

// NewServer returns a server for reg, health (/healthz: not ok while the
// agent is degraded, for monitoring) and live (/livez: ok while it is
// attached and draining, for supervisors that restart what is not);
// Start makes it listen.
func NewServer(reg *prometheus.Registry, health, live HealthFunc, log *zap.Logger) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            zap.NewStdLog(log),
		ErrorHandling:       promhttp.ContinueOnError, // one failed source must not hide the others
		Registry:            reg,                      // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	check := func(fn HealthFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if ok, reason := fn(); !ok {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, reason)
				return
			}
			fmt.Fprintln(w, "ok")
		}
	}
	mux.HandleFunc("GET /healthz", check(health))
	mux.HandleFunc("GET /livez", check(live))
	return &Server{log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}}
}

// Start listens on addr (host:port; port 0 picks a free one) and serves in
// the background. A busy address is an error here, not later.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	s.ln = ln
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		s.log.Warn("metrics are served on a non-loopback address: anyone who reaches it can read them",
			zap.Stringer("addr", ln.Addr()))
	}
	s.log.Info("serving metrics", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return nil
}

// Addr is the address the server listens on (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stop lets requests in flight finish (until ctx is done), then closes the
// server.
func (s *Server) Stop(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	return errors.Join(err, <-s.done)
}
