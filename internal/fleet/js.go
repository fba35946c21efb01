package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of the fleet's stream and of the spammer list's bucket.
const (
	StreamName = "MXSENSOR"
	ListBucket = "mxsensor-spammers"
)

// StreamConfig are the limits of the fleet's stream.
type StreamConfig struct {
	// Replicas: 1 on a single server, 3 on a cluster of three or more.
	Replicas int
	// MaxAge is how long the stream keeps a message (the collectors must
	// have read it by then).
	MaxAge time.Duration
	// MaxBytes bounds the stream's storage (oldest messages go first).
	MaxBytes int64
	// Duplicates is the window within which a message id is remembered:
	// a retry or a restarted sensor's second send within it is dropped.
	Duplicates time.Duration
}

// DefaultStreamConfig: a week of messages, at most 10 GiB, duplicates
// remembered for a day.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{Replicas: 1, MaxAge: 7 * 24 * time.Hour, MaxBytes: 10 << 30, Duplicates: 24 * time.Hour}
}

// EnsureStream creates the fleet's stream with cfg's limits if it is
// absent, and otherwise leaves it as its operator set it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, StreamName)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("looking up stream %s: %w", StreamName, err)
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	dup := cfg.Duplicates
	if dup > cfg.MaxAge && cfg.MaxAge > 0 {
		dup = cfg.MaxAge
	}
	s, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "mxsensor fleet: attempts, associations, rejections, status and SYN events of every sensor",
		Subjects:    []string{AllSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Duplicates:  dup,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, StreamName)
	}
	if err != nil {
		return nil, fmt.Errorf("creating stream %s: %w", StreamName, err)
	}
	return s, nil
}

// ListConfig are the limits of the spammer list's bucket.
type ListConfig struct {
	Replicas int
	// Expire is how long an entry lives after it was last written (the
	// collector rewrites an entry when its prefix is seen again).
	Expire time.Duration
}

// EnsureList creates the spammer list's bucket if it is absent.
func EnsureList(ctx context.Context, js jetstream.JetStream, cfg ListConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, ListBucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("looking up bucket %s: %w", ListBucket, err)
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ListBucket,
		Description: "mxsensor fleet: the shared IPv6 spammer list (key: prefix, value: JSON entry)",
		History:     1,
		TTL:         cfg.Expire,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, ListBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", ListBucket, err)
	}
	return kv, nil
}
