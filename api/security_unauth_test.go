package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/service"
)

// gatedEnv is a testEnv whose password hashing has one slot and no queue,
// with that slot taken by the test until it calls release.
func gatedEnv(t *testing.T) (*testEnv, func()) {
	t.Helper()
	gate := service.NewHashGate(1, 0, time.Second)
	e := newTestEnvDeps(t, config.System{}, func(d *service.Deps) { d.HashGate = gate })
	free, err := gate.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(free) }
	t.Cleanup(release)
	return e, release
}

// Unauthenticated memory exhaustion through signup: when every hashing
// slot is taken, a signup is answered 503 with Retry-After at once (JSON
// in the OpenAI shape, and the page says so), instead of queueing another
// 19 MiB argon2 run.
func TestSignupWhileHashingIsSaturatedAnswersBusy(t *testing.T) {
	e, release := gatedEnv(t)
	r := e.signup(t, signupFields("ada@example.org"))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("JSON signup with hashing saturated: %d, Retry-After %q, %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	var body errorBody
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != "server_busy" || !strings.Contains(body.Error.Message, "busy") {
		t.Fatalf("JSON signup busy body: %s (%v)", r.body, err)
	}
	form := url.Values{"email": {"ada@example.org"}, "name": {"Ada"}, "password": {testPassword}, "signup_key": {testSignupKey}}
	r = e.postForm(t, form)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "busy; try again") {
		t.Fatalf("form signup with hashing saturated: %d, Retry-After %q, %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if n := e.countUsers(t, "ada@example.org"); n != 0 {
		t.Fatalf("%d accounts created while busy", n)
	}
	release()
	if r := e.signup(t, signupFields("ada@example.org")); r.status != http.StatusCreated {
		t.Fatalf("signup once a slot is free: %d %s", r.status, r.body)
	}
}

// Unauthenticated memory exhaustion through signup with made-up keys: the
// key is looked up before the password is hashed, so a flood of invalid
// keys never reaches hashing (here: never finds its only slot taken).
func TestSignupFloodWithInvalidKeysNeverReachesHashing(t *testing.T) {
	e, _ := gatedEnv(t)
	for i := range 40 {
		r := e.serveFrom(t, fmt.Sprintf("192.0.2.%d:1234", i+1), with(signupFields("ada@example.org"), "signup_key", fmt.Sprintf("made-up-key-%d", i)))
		if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "signup_denied") {
			t.Fatalf("signup %d with a made-up key: %d %s", i, r.status, r.body)
		}
	}
}
