package fleet

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// RetryAPI runs a JetStream API call until it succeeds, fails for good, or
// ctx is done, giving each try at most per. A cluster that is electing a
// leader drops API requests without an answer; one call waiting for its
// whole deadline would fail a start that the next request would have
// passed. Errors that an answer gives (insufficient storage, a refused
// permission) are returned at once.
func RetryAPI(ctx context.Context, per time.Duration, call func(context.Context) error) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, per)
		err := call(tctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// transient says whether err is a request that got no answer.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}
