package service

import (
	"context"
	"fmt"
	"time"
)

// defaultLookupTimeout bounds the database work that decides who an SSH
// session is (its key's account, a sign-in): a frozen disk must not hang
// logins.
const defaultLookupTimeout = 5 * time.Second

// bounded runs fn under a deadline of d and returns at the deadline even if
// fn hasn't: a read stuck in the kernel on a frozen disk can't be
// cancelled, so fn is left to finish on its own and its result is dropped.
// Past the deadline the answer is ErrUnavailable; a caller that went away
// gets its own context's error.
func bounded[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	bctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // fn's send never blocks, even when no one waits
	go func() {
		v, err := fn(bctx)
		done <- result{v, err}
	}()
	var zero T
	select {
	case r := <-done:
		if r.err != nil && bctx.Err() != nil && ctx.Err() == nil {
			return zero, fmt.Errorf("%w (no answer within %s)", ErrUnavailable, d)
		}
		return r.v, r.err
	case <-bctx.Done():
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		return zero, fmt.Errorf("%w (no answer within %s)", ErrUnavailable, d)
	}
}
