package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"lamb/secret"
	"lamb/store"
)

// securityDeadline bounds every wait of these tests.
const securityDeadline = 20 * time.Second

// rebuild replaces e's service by one over the same store with the given
// hash gate and lookup bound (nil, 0: the defaults).
func (e *testEnv) rebuild(t *testing.T, gate *HashGate, lookup time.Duration) {
	t.Helper()
	box, err := secret.NewBox(e.key)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = New(Deps{Store: e.st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return e.now },
		HashGate: gate, LookupTimeout: lookup})
}

// signupOnEnv is signInEnv with signup on in acme under "Qe7-Vb2x-Km9p-Tw4z".
func signupOnEnv(t *testing.T) *testEnv {
	t.Helper()
	e, sys := signInEnv(t)
	ctx := context.Background()
	if _, err := e.svc.SetSignupKey(ctx, sys, "acme", "Qe7-Vb2x-Km9p-Tw4z"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetSignupEnabled(ctx, sys, "acme", true); err != nil {
		t.Fatal(err)
	}
	return e
}

// Unauthenticated memory exhaustion through signup: each signup ran argon2
// (19 MiB) before its key was looked up, so made-up keys cost as much as
// real ones. An invalid key, or signup closed, must cost no hash.
func TestSignupWithUnknownKeyDoesNotHash(t *testing.T) {
	e := signupOnEnv(t)
	gate := NewHashGate(4, 8, time.Second)
	e.rebuild(t, gate, 0)
	ctx := context.Background()
	in := SignupInput{Email: "new@acme.edu", Name: "New", Password: "new-password-1", RemoteAddr: "192.0.2.1:4000"}
	for i, key := range []string{"no-such-key-1", "no-such-key-2", "no-such-key-3"} {
		in.SignupKey = key
		if _, err := e.svc.Signup(ctx, in); !errors.Is(err, ErrSignupDenied) {
			t.Fatalf("signup %d with key %q: %v, want ErrSignupDenied", i, key, err)
		}
	}
	if n := gate.runs.Load(); n != 0 {
		t.Fatalf("signups with unknown keys ran argon2 %d times", n)
	}
	// Bad fields are refused before any hash too.
	in.SignupKey, in.Email = "Qe7-Vb2x-Km9p-Tw4z", "not an email"
	if _, err := e.svc.Signup(ctx, in); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad email: %v", err)
	}
	if n := gate.runs.Load(); n != 0 {
		t.Fatalf("an invalid signup ran argon2 %d times", n)
	}
	// The good key signs up, with one hash.
	in.Email = "new@acme.edu"
	if _, err := e.svc.Signup(ctx, in); err != nil {
		t.Fatal(err)
	}
	if n := gate.runs.Load(); n != 1 {
		t.Fatalf("a good signup ran argon2 %d times, want 1", n)
	}
}

// Unauthenticated memory exhaustion through sign-in: 200 parallel sign-ins
// ran 200 argon2 at once (3.9 GB). The hash gate lets a few run, a few
// wait briefly, and answers the rest ErrBusy at once.
func TestParallelSignInsAreBoundedByHashGate(t *testing.T) {
	e, _ := signInEnv(t)
	const slots = 2
	gate := NewHashGate(slots, 1, securityDeadline)
	e.rebuild(t, gate, 0)
	ctx := context.Background()
	signIn := func(i int) error {
		_, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: fmt.Sprintf("u%d@acme.edu", i),
			Password: "wrong-password", RemoteAddr: fmt.Sprintf("192.0.2.%d:4000", i%250+1)})
		return err
	}

	// Both slots taken: the first caller waits in the queue, the next one
	// is told the server is busy at once.
	var held []func()
	for range slots {
		release, err := gate.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, release)
	}
	queued := make(chan error, 1)
	go func() { queued <- signIn(0) }()
	deadline := time.Now().Add(securityDeadline)
	for gate.waiting.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first sign-in did not queue for a slot")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	if err := signIn(1); !errors.Is(err, ErrBusy) {
		t.Fatalf("sign-in with the gate full: %v, want ErrBusy", err)
	}
	for _, release := range held {
		release()
	}
	select {
	case err := <-queued:
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("queued sign-in: %v, want ErrBadCredentials once a slot freed", err)
		}
	case <-time.After(securityDeadline):
		t.Fatal("the queued sign-in never ran")
	}

	// Many at once: never more than the slots hash together, and every
	// caller gets an answer (a verdict, or busy).
	const n = 60
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- signIn(100 + i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrBusy):
			busy++
		case errors.Is(err, ErrBadCredentials):
		default:
			t.Fatalf("parallel sign-in: %v", err)
		}
	}
	if p := gate.peak.Load(); p > slots {
		t.Fatalf("%d argon2 runs at once, the gate has %d slots", p, slots)
	}
	t.Logf("%d of %d parallel sign-ins were told the server is busy", busy, n)
}

// Sign-in throttled per source address: one address (an IPv6 client by
// its /64) may fail signInAddrFailures times in the window, whatever keys
// and emails it uses, and make signInPerMinute attempts a minute, which
// bounds the hashing it can ask for.
func TestSignInThrottledPerSourceAddress(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	try := func(addr, email, password string) error {
		_, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: email, Password: password, RemoteAddr: addr})
		return err
	}
	for i := range signInAddrFailures {
		if err := try(fmt.Sprintf("198.51.100.7:%d", 1000+i), fmt.Sprintf("spray%d@acme.edu", i), "guess-1234"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	var te *ThrottledError
	if err := try("198.51.100.7:2000", "m@acme.edu", "member-pass-1"); !errors.As(err, &te) {
		t.Fatalf("past the failures of an address, right password: %v, want *ThrottledError", err)
	}
	// Another address is not paused.
	if err := try("198.51.100.8:2000", "m@acme.edu", "member-pass-1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// IPv6: the whole /64 is one client.
	for i := range signInAddrFailures {
		if err := try(fmt.Sprintf("[2001:db8:1:2::%x]:22", i+1), fmt.Sprintf("v6-%d@acme.edu", i), "guess-1234"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("v6 attempt %d: %v", i+1, err)
		}
	}
	if err := try("[2001:db8:1:2:ffff::1]:22", "admin@acme.edu", "password-1"); !errors.As(err, &te) {
		t.Fatalf("same /64: %v, want *ThrottledError", err)
	}
	e.now = e.now.Add(signInWindow)
	if err := try("198.51.100.7:2001", "admin@acme.edu", "password-1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// Attempts, failed or not, are counted per minute: with hashing
	// saturated each one is answered busy, and past the limit the address
	// is paused without asking for a slot at all.
	e.rebuild(t, NewHashGate(1, 0, time.Second), 0)
	busy, _ := e.svc.hashes.Acquire(ctx)
	defer busy()
	for i := range signInPerMinute {
		if err := try("192.0.2.50:1", fmt.Sprintf("b%d@acme.edu", i), "guess-1234"); !errors.Is(err, ErrBusy) {
			t.Fatalf("attempt %d with hashing saturated: %v, want ErrBusy", i+1, err)
		}
	}
	if err := try("192.0.2.50:1", "m@acme.edu", "member-pass-1"); !errors.As(err, &te) || te.RetryAfter > time.Minute {
		t.Fatalf("past the attempts of a minute: %v, want *ThrottledError within a minute", err)
	}
}

// Anyone could lock an email's sign-in for 15 minutes by failing five
// times on it. The address that failed stays paused; the owner, adding a
// laptop from elsewhere, still gets in with the right password. Guessing
// from many addresses still meets a ceiling.
func TestEmailLockoutByStrangerDoesNotLockOutOwner(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	try := func(addr, email, password string) error {
		_, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: email, Password: password, RemoteAddr: addr})
		return err
	}
	const stranger, owner, third = "203.0.113.9:5000", "198.51.100.4:6000", "192.0.2.33:7000"
	for i := range signInMaxFailures {
		if err := try(stranger, "m@acme.edu", "wrong-password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("stranger's failure %d: %v", i+1, err)
		}
	}
	var te *ThrottledError
	if err := try(stranger, "m@acme.edu", "member-pass-1"); !errors.As(err, &te) {
		t.Fatalf("the stranger's address after 5 failures: %v, want *ThrottledError", err)
	}
	// The owner, from their own address with a new key, signs in.
	if err := try(owner, "m@acme.edu", "member-pass-1"); err != nil {
		t.Fatalf("owner locked out by a stranger: %v", err)
	}

	// While the email is paused, another address gets signInLockedTries
	// tries, not five.
	for i := range signInMaxFailures {
		if err := try(stranger, "admin@acme.edu", "wrong-password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d on admin: %v", i+1, err)
		}
	}
	for i := range signInLockedTries {
		if err := try(third, "admin@acme.edu", "wrong-password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("third address, failure %d: %v", i+1, err)
		}
	}
	if err := try(third, "admin@acme.edu", "password-1"); !errors.As(err, &te) {
		t.Fatalf("third address past its tries on a paused email: %v, want *ThrottledError", err)
	}

	// Guessing spread over many addresses pauses the email for everyone.
	e.now = e.now.Add(signInWindow)
	for i := range signInEmailCeiling {
		addr := fmt.Sprintf("10.%d.%d.1:1", i/200, i%200)
		if err := try(addr, "m@acme.edu", "wrong-password"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("distributed failure %d: %v", i+1, err)
		}
	}
	if err := try("172.16.0.1:1", "m@acme.edu", "member-pass-1"); !errors.As(err, &te) {
		t.Fatalf("past the ceiling: %v, want *ThrottledError", err)
	}
}

// A frozen disk hung SSH logins: the identity lookup had no bound, and a
// login waited for the database as long as the client stayed. Holding the
// database's one write connection (as a stuck write would) must neither
// hang the lookup of a known key nor a sign-in, which answers
// ErrUnavailable within the bound.
func TestFrozenDatabaseDoesNotHangSSHLogin(t *testing.T) {
	e, sys := signInEnv(t)
	_, fp := userWithKey(t, e, sys, "acme", "k@acme.edu", "member", "")
	e.rebuild(t, nil, 300*time.Millisecond)

	held, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- e.st.InTx(context.Background(), func(*store.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	defer func() {
		close(release)
		<-txDone
	}()
	<-held

	within := func(what string, fn func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			return err
		case <-time.After(securityDeadline):
			t.Fatalf("%s hung with the database stuck", what)
			return nil
		}
	}
	err := within("the lookup of a known key", func() error {
		a, err := e.svc.ActorForSSHKey(context.Background(), fp)
		if err == nil && a.Email != "k@acme.edu" {
			err = fmt.Errorf("resolved as %s", a.Email)
		}
		return err
	})
	if err != nil {
		t.Fatalf("known key with the writer stuck: %v", err)
	}
	err = within("a sign-in", func() error {
		_, err := e.svc.SignIn(context.Background(), SignInInput{Key: freshKey(t), Email: "m@acme.edu",
			Password: "member-pass-1", RemoteAddr: "192.0.2.1:1"})
		return err
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("sign-in with the writer stuck: %v, want ErrUnavailable", err)
	}

	// A read that no cancellation reaches (a read() stuck in the kernel)
	// is left behind at the bound.
	stuck := make(chan struct{})
	defer close(stuck)
	_, err = bounded(context.Background(), 50*time.Millisecond, func(context.Context) (int, error) {
		<-stuck
		return 0, nil
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("stuck read: %v, want ErrUnavailable", err)
	}
}
