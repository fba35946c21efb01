package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRetryAPI: a call that gets no answer is tried again until it
// succeeds or the deadline passes; one that gets an error answer is not.
func TestRetryAPI(t *testing.T) {
	n := 0
	err := RetryAPI(context.Background(), 50*time.Millisecond, func(ctx context.Context) error {
		n++
		if n < 3 {
			<-ctx.Done() // no answer
			return ctx.Err()
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("no answer twice, then success: %v after %d tries", err, n)
	}
	n = 0
	refused := errors.New("insufficient storage resources available")
	if err := RetryAPI(context.Background(), time.Second, func(context.Context) error { n++; return refused }); !errors.Is(err, refused) || n != 1 {
		t.Errorf("an answered error: %v after %d tries", err, n)
	}
	n = 0
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if err := RetryAPI(ctx, time.Second, func(context.Context) error { n++; return nats.ErrTimeout }); !errors.Is(err, nats.ErrTimeout) || n < 2 {
		t.Errorf("no answer until the deadline: %v after %d tries", err, n)
	}
}
