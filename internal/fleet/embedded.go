package fleet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig is a JetStream server run inside the process: the
// collector's for a small fleet (nothing else to install), and the tests'.
type EmbeddedConfig struct {
	// Listen is host:port for clients (sensors); port 0 picks one.
	Listen string
	// StoreDir holds the streams and buckets.
	StoreDir string
	// Name is the server's name (default "mxsensor").
	Name string
	// MaxStore bounds JetStream's file storage (0: the server's default,
	// a share of the disk).
	MaxStore int64
	// Cluster, if set, joins a cluster: its name, this server's cluster
	// listen address and the routes to the others.
	Cluster *EmbeddedCluster
	// ConfigFile, if set, is a nats-server configuration file the options
	// are read from (accounts, permissions, TLS, a cluster); the fields
	// above that are set override it.
	ConfigFile string
}

// EmbeddedCluster makes an embedded server one node of a cluster.
type EmbeddedCluster struct {
	Name   string
	Listen string   // host:port of this node's cluster port
	Routes []string // nats-route://host:port of every node
}

// Embedded is a running embedded server.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts an embedded JetStream server and waits until it
// accepts clients (at most 10 s).
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	opts := &server.Options{}
	if cfg.ConfigFile != "" {
		o, err := server.ProcessConfigFile(cfg.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		opts = o
	}
	if cfg.Listen != "" || cfg.ConfigFile == "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, anyPort(port)
	}
	switch {
	case cfg.StoreDir != "":
		opts.StoreDir = cfg.StoreDir
	case cfg.ConfigFile == "":
		return nil, errors.New("embedded nats: no store directory")
	}
	if cfg.Name != "" {
		opts.ServerName = cfg.Name
	} else if opts.ServerName == "" {
		opts.ServerName = "mxsensor"
	}
	if cfg.MaxStore != 0 {
		opts.JetStreamMaxStore = cfg.MaxStore
	}
	opts.JetStream = true
	opts.NoSigs, opts.NoLog, opts.DisableJetStreamBanner = true, true, true
	if c := cfg.Cluster; c != nil {
		ch, cp, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cluster listen %q: %w", c.Listen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: ch, Port: anyPort(cp)}
		opts.Routes = server.RoutesFromStr(joinRoutes(c.Routes))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready for connections within 10s")
	}
	return &Embedded{srv: srv}, nil
}

// URL is the client URL of the server.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Server is the server itself (tests: JetStream state, shutdown).
func (e *Embedded) Server() *server.Server { return e.srv }

// Stop shuts the server down and waits for it.
func (e *Embedded) Stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, port, nil
}

// anyPort turns port 0 into the server's "pick a free port" (its 0 means
// the default port).
func anyPort(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

func joinRoutes(r []string) string {
	s := ""
	for i, x := range r {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}
