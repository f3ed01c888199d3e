package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// Test fixtures: the org that testEnv creates with signup on, and the
// options its pages are rendered with.
const (
	testOrgSlug   = "acme"
	testOrgName   = "Acme University"
	testSignupKey = "acme-signup-key-1"
	testPublicURL = "http://lamb.test"
	testSSHHint   = "ssh -p 2222 lamb.test"
)

// testEnv is the HTTP API over a real SQLite file with migrations applied:
// the system org synced from an environment, a system admin, and org
// testOrgSlug with signup enabled under testSignupKey.
type testEnv struct {
	st      *store.Store
	svc     *service.Service
	handler *Handler
	srv     *httptest.Server
	dbPath  string
	clock   *testClock
	admin   service.Actor // a system admin
}

// testClock is the service's and the store's clock. Tests move it forward
// to leave a rate-limit window instead of waiting a minute.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestEnv returns a testEnv whose system org was synced from an empty
// environment.
func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvWith(t, config.System{})
}

// newTestEnvWith returns a testEnv whose system org was synced from sys,
// as at startup.
func newTestEnvWith(t testing.TB, sys config.System) *testEnv {
	t.Helper()
	return newTestEnvDeps(t, sys, func(*service.Deps) {})
}

// newTestEnvDeps is newTestEnvWith with the service's dependencies changed
// by deps before it is built.
func newTestEnvDeps(t testing.TB, sys config.System, deps func(*service.Deps)) *testEnv {
	t.Helper()
	clock := &testClock{now: time.Now().Truncate(time.Second)}
	dbPath := filepath.Join(t.TempDir(), "lamb.db")
	st, err := store.Open(dbPath, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnvStore(t, st, clock, sys, deps, Options{})
	e.dbPath = dbPath
	return e
}

// newTestEnvStore is newTestEnvDeps over an open store of the test's
// choosing (PostgreSQL, say), migrated here and closed when t ends, with
// the handler's options opts.
func newTestEnvStore(t testing.TB, st *store.Store, clock *testClock, sys config.System, deps func(*service.Deps), opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	e := &testEnv{st: st, clock: clock}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		t.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	d := service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: e.clock.Now, PublicURL: testPublicURL,
		// Hashing waits as long as it must: a loaded machine (the race
		// detector, a busy CI box) must not turn a test's answers into
		// "busy". Tests of the gate's bound set their own.
		HashGate: service.NewHashGate(4, 64, time.Minute)}
	deps(&d)
	e.svc = service.New(d)
	if _, err := e.svc.SyncSystemOrg(ctx, service.SystemActor(), sys); err != nil {
		t.Fatalf("sync system org: %v", err)
	}
	line, fp := newSSHKey(t, "root@lamb.test")
	if err := e.svc.BootstrapAdmins(ctx, service.SystemActor(), []string{line}, "root@lamb.test", "Root"); err != nil {
		t.Fatalf("bootstrap admin: %v", err)
	}
	if e.admin, err = e.svc.ActorForSSHKey(ctx, fp); err != nil {
		t.Fatalf("system admin actor: %v", err)
	}
	e.createOrg(t, testOrgSlug, testOrgName, testSignupKey, true)

	opts.PublicURL, opts.SSHHint = testPublicURL, testSSHHint
	e.handler = NewHandler(e.svc, slog.New(slog.DiscardHandler), opts)
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(func() {
		e.srv.Close()
		st.Close()
	})
	return e
}

// createOrg creates an org as the system admin with the given signup key,
// and turns signup on or leaves it off.
func (e *testEnv) createOrg(t testing.TB, slug, name, signupKey string, signupOn bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.svc.CreateOrg(ctx, e.admin, service.CreateOrgInput{Slug: slug, Name: name}); err != nil {
		t.Fatalf("create org %s: %v", slug, err)
	}
	if _, err := e.svc.SetSignupKey(ctx, e.admin, slug, signupKey); err != nil {
		t.Fatalf("set signup key of %s: %v", slug, err)
	}
	if signupOn {
		if _, err := e.svc.SetSignupEnabled(ctx, e.admin, slug, true); err != nil {
			t.Fatalf("enable signup of %s: %v", slug, err)
		}
	}
}

// nextWindow moves the clock past the signup rate-limit window, so that
// the next attempts start from zero.
func (e *testEnv) nextWindow() { e.clock.Advance(time.Minute + time.Second) }

// reply is an HTTP answer read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends req through the test server (over loopback, from 127.0.0.1).
func (e *testEnv) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	resp, err := e.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return reply{resp.StatusCode, resp.Header, body}
}

// post sends body with contentType to path on the test server.
func (e *testEnv) post(t *testing.T, path, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e.do(t, req)
}

func (e *testEnv) get(t *testing.T, path string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e.do(t, req)
}

// signup posts fields as JSON to /v1/signup on the test server.
func (e *testEnv) signup(t *testing.T, fields map[string]any) reply {
	t.Helper()
	return e.post(t, "/v1/signup", "application/json", mustJSON(t, fields))
}

// postForm posts fields url-encoded to /signup on the test server. A
// signup that works answers 303 to the result page: postForm returns that
// answer as it is, without following it.
func (e *testEnv) postForm(t *testing.T, fields url.Values) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/signup", strings.NewReader(fields.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := *e.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST /signup: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /signup: read body: %v", err)
	}
	return reply{resp.StatusCode, resp.Header, body}
}

// getWith gets path with the cookies a previous answer set, as a browser
// following its redirect would.
func (e *testEnv) getWith(t *testing.T, path string, from reply) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range (&http.Response{Header: from.header}).Cookies() {
		req.AddCookie(c)
	}
	return e.do(t, req)
}

// signupPage posts the form, follows its redirect with its cookie, and
// returns the result page (want: its status).
func (e *testEnv) signupPage(t *testing.T, fields url.Values, want int) string {
	t.Helper()
	r := e.postForm(t, fields)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/signup/done" {
		t.Fatalf("POST /signup = %d, Location %q, want 303 to /signup/done; body\n%s", r.status, r.header.Get("Location"), r.body)
	}
	return wantPage(t, e.getWith(t, "/signup/done", r), want)
}

// serveFrom calls the handler directly with a client address of our
// choosing: rate limits go by r.RemoteAddr, which a loopback client can't
// vary.
func (e *testEnv) serveFrom(t testing.TB, remoteAddr string, fields map[string]any) reply {
	t.Helper()
	return e.serveFromBody(t, remoteAddr, mustJSON(t, fields))
}

// serveFromBody is serveFrom with the body as given.
func (e *testEnv) serveFromBody(t testing.TB, remoteAddr string, body []byte) reply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/signup", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return reply{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// db opens a second connection to the test database, for checks of what
// is stored (hashes, counts) that no service method shows.
func (e *testEnv) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+e.dbPath+"?_busy_timeout=5000&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countUsers counts the users with email, or every user for "".
func (e *testEnv) countUsers(t *testing.T, email string) int {
	t.Helper()
	q, args := `SELECT COUNT(*) FROM users`, []any{}
	if email != "" {
		q, args = q+` WHERE email = ?`, []any{email}
	}
	var n int
	if err := e.db(t).QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// audit returns the org's audit events of action, newest first.
func (e *testEnv) audit(t *testing.T, slug, action string) []store.AuditEvent {
	t.Helper()
	o, err := e.st.OrgBySlug(context.Background(), slug)
	if err != nil {
		t.Fatalf("org %s: %v", slug, err)
	}
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{OrganizationID: o.ID, Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// newSSHKey returns a fresh ed25519 public key as an authorized-key line,
// and its fingerprint.
func newSSHKey(t testing.TB, comment string) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, ssh.FingerprintSHA256(pk)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantError checks that r is the one JSON error shape of DESIGN §7, with
// exactly the keys error.{message,type,code}, and returns its message.
func wantError(t *testing.T, r reply, status int, typ, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &outer); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Fatalf("error body %s: want exactly the key \"error\"", r.body)
	}
	var inner map[string]any
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	for _, k := range []string{"message", "type", "code"} {
		if s, ok := inner[k].(string); !ok || s == "" {
			t.Fatalf("error body %s: %q is not a non-empty string", r.body, k)
		}
	}
	if len(inner) != 3 {
		t.Fatalf("error body %s: want exactly message, type and code", r.body)
	}
	if inner["type"] != typ || inner["code"] != code {
		t.Fatalf("error %s: want type %q, code %q", r.body, typ, code)
	}
	return inner["message"].(string)
}
