package fleet

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// ConnConfig is how a sensor, the collector or a reader of the shared list
// connects: server URLs and its own credentials.
type ConnConfig struct {
	// URLs of the servers (nats://host:port); several for a cluster.
	URLs []string
	// Name is the connection's name on the server (monitoring).
	Name string
	// Creds is a NATS credentials file (a user JWT and its nkey seed), or
	// NKey a file holding an nkey seed; or User and Password.
	Creds, NKey    string
	User, Password string
	// TLSCA is a PEM file of the CA the servers' certificates chain to
	// (then the URLs may be tls://).
	TLSCA string
	// ReconnectWait is the pause between reconnection attempts (0: 1 s).
	ReconnectWait time.Duration
}

// Validate checks the configuration.
func (c ConnConfig) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("nats: no server URL")
	}
	for _, u := range c.URLs {
		if !strings.Contains(u, "://") {
			return fmt.Errorf("nats: server URL %q: want nats://HOST:PORT or tls://HOST:PORT", u)
		}
	}
	n := 0
	for _, s := range []string{c.Creds, c.NKey, c.User} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("nats: give one of a credentials file, an nkey file, or a user and password")
	}
	if c.Password != "" && c.User == "" {
		return errors.New("nats: a password without a user")
	}
	return nil
}

// Connect connects and keeps reconnecting for ever: a broker outage only
// delays delivery (the callers keep what is not acknowledged). Connection
// events are logged.
func Connect(c ConnConfig, log *zap.Logger) (*nats.Conn, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	wait := c.ReconnectWait
	if wait <= 0 {
		wait = time.Second
	}
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			// A close of our own (err nil, or the connection closed) is
			// not worth a warning.
			if err == nil || nc.IsClosed() {
				log.Debug("nats disconnected", zap.Error(err))
				return
			}
			log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			f := []zap.Field{zap.Error(err)}
			if sub != nil {
				f = append(f, zap.String("subject", sub.Subject))
			}
			log.Warn("nats error", f...)
		}),
	}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey %s: %w", c.NKey, err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	nc, err := nats.Connect(strings.Join(c.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connecting to %s: %w", strings.Join(c.URLs, ","), err)
	}
	return nc, nil
}
