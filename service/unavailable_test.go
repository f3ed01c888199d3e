package service

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/pgtest"
	"lamb/secret"
)

// outageBound is how long a call may take while the database is down:
// the server refuses connections at once, so a hang is the failure.
const outageBound = 15 * time.Second

// within runs fn with a deadline and fails the test if it doesn't return
// within outageBound.
func within[T any](t *testing.T, fn func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), outageBound)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() { v, err := fn(ctx); done <- result{v, err} }()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(outageBound + 5*time.Second):
		t.Fatalf("no answer within %s with the database down", outageBound)
		panic("unreachable")
	}
}

// The database going away while lamb serves: every operation that needs
// it says ErrUnavailable (the gateway as 503 service_unavailable) at
// once, nothing panics, and the same service answers again once the
// database is back, without a restart.
func TestServiceSurvivesADatabaseOutage(t *testing.T) {
	c := pgtest.NewCluster(t)
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	e := &testEnv{key: key, dir: t.TempDir(), url: c.URL(t), now: time.Now().UTC()}
	e.open(t, key)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	apiKey, err := e.svc.CreateAPIKey(ctx, sys, "lamb", "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() string { // a key no cache has seen: its lookup needs the database
		k, err := secret.Token(43, secret.Base62)
		if err != nil {
			t.Fatal(err)
		}
		return apiKeyPrefix + k
	}

	caller, err := e.svc.Authenticate(ctx, apiKey.Key) // now cached: a completion needs the database for its assistant
	if err != nil {
		t.Fatal(err)
	}
	chat, err := NewChatRequest([]byte(`{"model":"lamb_assistant.1","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}

	c.Stop(t)
	_, err = within(t, func(ctx context.Context) (ChatAnswer, error) { return e.svc.Chat(ctx, caller, chat) })
	if ge, ok := err.(*GatewayError); !ok || ge.Status != 503 || ge.Code != "service_unavailable" {
		t.Fatalf("a completion routed with the database down: %v, want 503 service_unavailable", err)
	}
	_, err = within(t, func(ctx context.Context) (Page[Org], error) { return e.svc.ListOrgs(ctx, sys, "", 0, 10) })
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ListOrgs with the database down: %v, want ErrUnavailable", err)
	}
	_, err = within(t, func(ctx context.Context) (Caller, error) { return e.svc.Authenticate(ctx, fresh()) })
	var ge *GatewayError
	if !errors.As(err, &ge) || ge.Status != 503 || ge.Code != "service_unavailable" || ge.RetryAfter <= 0 {
		t.Fatalf("Authenticate with the database down: %#v, want 503 service_unavailable with Retry-After", err)
	}
	if strings.Contains(ge.Message, "127.0.0.1") || strings.Contains(ge.Message, "dial") {
		t.Fatalf("the caller is told the driver's words: %q", ge.Message)
	}
	_, err = within(t, func(ctx context.Context) (Actor, error) { return e.svc.ActorForSSHKey(ctx, "SHA256:unknown") })
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ActorForSSHKey with the database down: %v, want ErrUnavailable", err)
	}
	_, err = within(t, func(ctx context.Context) (SignupResult, error) {
		return e.svc.Signup(ctx, SignupInput{Email: "ana@uni.example", Name: "Ana", Password: "correct horse", SignupKey: "AbCdEfGh12345678Xy", RemoteAddr: "192.0.2.1:1"})
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Signup with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := within(t, func(ctx context.Context) (struct{}, error) { return struct{}{}, e.svc.Healthy(ctx) }); !errors.Is(err, ErrDatabaseDown) {
		t.Fatalf("Healthy with the database down: %v", err)
	}

	c.Start(t)
	var page Page[Org]
	for range 3 { // a pooled connection from before the restart may fail once more
		if page, err = e.svc.ListOrgs(ctx, sys, "", 0, 10); err == nil {
			break
		}
	}
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("ListOrgs after the database came back: %d orgs, %v", len(page.Items), err)
	}
	if _, err := e.svc.Chat(ctx, caller, chat); !errors.As(err, new(*GatewayError)) || err.(*GatewayError).Code != "model_not_found" {
		t.Fatalf("a completion after the database came back: %v, want model_not_found (there is no assistant 1)", err)
	}
	if caller, err := e.svc.Authenticate(ctx, apiKey.Key); err != nil || caller.OrgSlug != "lamb" {
		t.Fatalf("Authenticate after the database came back: %+v, %v", caller, err)
	}
	if _, err := e.svc.Authenticate(ctx, fresh()); !errors.Is(err, errInvalidKey) {
		t.Fatalf("an unknown key after the database came back: %v, want invalid_api_key", err)
	}
	// The usage writer kept the refused completion's event and retries
	// (at most 5 s apart): health comes back when it is stored.
	deadline := time.Now().Add(outageBound)
	for err = e.svc.Healthy(ctx); err != nil && time.Now().Before(deadline); err = e.svc.Healthy(ctx) {
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if err != nil {
		t.Fatalf("Healthy after the database came back: %v", err)
	}
}
