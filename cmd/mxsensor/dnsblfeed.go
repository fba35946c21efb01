package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/mxsensor/mxsensor/internal/dnsbl"
	"github.com/mxsensor/mxsensor/internal/listfeed"
)

const (
	// dnsblFeedStateFile is the HTTP feed's state file in a results
	// directory.
	dnsblFeedStateFile = "dnsbl-feed.json"
	// dnsblFeedShutdownWait bounds the wait for the requests in flight.
	dnsblFeedShutdownWait = 5 * time.Second
	// dnsblFeedRetry is how often a state write that failed is retried.
	dnsblFeedRetry = 5 * time.Second
)

// httpState returns the HTTP feed's state file: --http-state, or beside
// the source (there is none beside a network's list).
func (c *dnsblConfig) httpState() (string, error) {
	switch {
	case c.HTTPState != "":
		return c.HTTPState, nil
	case c.In != "":
		return filepath.Join(c.In, dnsblFeedStateFile), nil
	case c.DB != "":
		return c.DB + ".feed.json", nil
	case c.List != "":
		return c.List + ".feed.json", nil
	}
	return "", errors.New("--http with --nats needs --http-state FILE (where the feed keeps its revision across restarts)")
}

// validateHTTP checks --http and --http-state.
func (c *dnsblConfig) validateHTTP() error {
	if c.HTTP == "" {
		if c.HTTPState != "" {
			return errors.New("--http-state needs --http")
		}
		return nil
	}
	if _, err := listfeed.ListenAddr(c.HTTP); err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	return nil
}

// dnsblFeed is dnsbl's HTTP feed (--http); nil when off, and its methods
// then do nothing.
type dnsblFeed struct {
	addr string
	feed *listfeed.Feed
	srv  *listfeed.Server
	log  *zap.Logger
}

// newDnsblFeed opens the feed's state (--http); nil when --http is off.
func newDnsblFeed(c *dnsblConfig, log *zap.Logger) (*dnsblFeed, error) {
	if c.HTTP == "" {
		return nil, nil
	}
	state, err := c.httpState()
	if err != nil {
		return nil, err
	}
	f, err := listfeed.New(listfeed.Config{State: state, Log: log})
	if err != nil {
		return nil, fmt.Errorf("--http-state: %w", err)
	}
	return &dnsblFeed{addr: c.HTTP, feed: f, log: log}, nil
}

// follow makes the feed follow the tables the server swaps in, from
// whichever source.
func (d *dnsblFeed) follow(cfg *dnsbl.Config) {
	if d != nil {
		cfg.OnReload = func(t *dnsbl.Table) { d.feed.Update(t.Entries()) }
	}
}

// start listens and returns ctx, cancelled if serving fails.
func (d *dnsblFeed) start(ctx context.Context) (context.Context, error) {
	if d == nil {
		return ctx, nil
	}
	srv, err := listfeed.Listen(d.feed, d.addr, d.log)
	if err != nil {
		return ctx, fmt.Errorf("--http: %w", err)
	}
	d.srv = srv
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		// A revision held back by a failed state write (a full disk) is
		// tried again until it is written.
		retry := time.NewTicker(dnsblFeedRetry)
		defer retry.Stop()
		for {
			select {
			case err := <-srv.Err():
				cancel(fmt.Errorf("--http: %w", err))
				return
			case <-retry.C:
				d.feed.Retry()
			case <-ctx.Done():
				return
			}
		}
	}()
	d.log.Info("dnsbl list feed serving", zap.String("url", "http://"+srv.Addr().String()+listfeed.Path),
		zap.Uint64("revision", d.feed.Revision()))
	return ctx, nil
}

// stop shuts the server down and logs what it answered; it returns the
// error serving failed with, if ctx was cancelled for that.
func (d *dnsblFeed) stop(ctx context.Context) error {
	if d == nil || d.srv == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), dnsblFeedShutdownWait)
	defer cancel()
	if err := d.srv.Shutdown(sctx); err != nil {
		d.log.Warn("dnsbl list feed shutdown", zap.Error(err))
	}
	d.log.Info("dnsbl list feed stopped", zap.Inline(d.feed.Stats()))
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
