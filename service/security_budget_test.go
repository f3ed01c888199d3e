package service

import (
	"context"
	"testing"

	"lamb/config"
)

// A negative estimate once lowered every concurrent request's view of
// what was reserved (a budget bypass); a reservation is never negative.
func TestNegativeReservationCannotLowerOthers(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	l := config.UnlimitedLimits()
	l.TokensPerMonth = 100
	if _, err := e.svc.admit(ctx, 1, 0, l, 90); err != nil {
		t.Fatal(err)
	}
	// Admitted as the smallest honest reservation, or refused: either
	// way it must not give budget back.
	e.svc.admit(ctx, 1, 0, l, -1_000_000)
	if _, err := e.svc.admit(ctx, 1, 0, l, 50); err == nil {
		t.Fatal("a negative reservation in flight let a request past a spent budget")
	}
	r, err := e.svc.admit(ctx, 1, 0, l, 5)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.settle(r, -1_000_000) // a provider's negative count refunds nothing
	if _, err := e.svc.admit(ctx, 1, 0, l, 50); err == nil {
		t.Fatal("settling negative usage refunded the budget")
	}
}
