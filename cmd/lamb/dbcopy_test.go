package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/internal/fakeopenai"
	"lamb/internal/pgtest"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// runLamb runs the lamb binary in dir with only the given variables and
// returns what it printed and its exit code.
func runLamb(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run lamb %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// withPassword returns a pgtest URL that carries a password, for the
// checks that it is never printed: pgtest's own when it has one, else a
// made-up one, which its trust authentication ignores.
func withPassword(t *testing.T, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return raw, pw
	}
	u.User = url.UserPassword(u.User.Username(), "pg-s3cret")
	return u.String(), "pg-s3cret"
}

// deployment is what a test knows of a lamb's data, read through the
// service: enough to tell whether a copy is the same lamb.
type deployment struct {
	exports map[string]string // org slug → org export with secrets
	usage   string            // acme's usage by assistant
	audit   string            // acme's audit events
}

// fixture is what fillSQLite made that a test uses afterwards.
type fixture struct {
	key             []byte           // the secret key
	root, admin     string           // SSH key fingerprints: the system admin, acme's admin
	apiKey, revoked string           // acme's org API key, and one revoked
	assistants      map[string]int64 // org slug → its enabled assistant
}

// openService opens the service on a store with a key, as lamb would.
func openService(t *testing.T, st *store.Store, key []byte) *service.Service {
	t.Helper()
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), PublicURL: "http://127.0.0.1"})
	if err := svc.CheckSecretKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// fillSQLite makes the SQLite deployment of data dir through the
// service: the system org from the environment with a provider key, two
// orgs with admins, members, SSH keys, signup keys, providers with keys,
// assistants, API keys (one revoked), completions with their usage and
// rollups, audit, and the secret key check.
func fillSQLite(t *testing.T, dataDir string, provider string) fixture {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := secret.CreateKeyFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	fx := fixture{key: key, assistants: map[string]int64{}}
	st, err := store.Open(filepath.Join(dataDir, "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc := openService(t, st, key)
	defer svc.Close()
	sysKey := "sk-system-0123456789"
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{OpenAIAPIKey: &sysKey}); err != nil {
		t.Fatal(err)
	}
	rootSigner, rootKey := newSigner(t)
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), []string{rootKey}, "root@uni.example", "Root"); err != nil {
		t.Fatal(err)
	}
	fx.root = ssh.FingerprintSHA256(rootSigner.PublicKey())
	root := actorOf(t, svc, fx.root)
	for i, slug := range []string{"acme", "beta"} {
		adminSigner, adminKey := newSigner(t)
		if _, err := svc.CreateOrg(ctx, root, service.CreateOrgInput{Slug: slug, Name: strings.ToUpper(slug),
			Admin: &service.NewAdmin{Email: "admin@" + slug + ".example", Name: "Admin", SSHKey: adminKey}, CopySystemProviders: i == 1}); err != nil {
			t.Fatal(err)
		}
		adminFP := ssh.FingerprintSHA256(adminSigner.PublicKey())
		admin := actorOf(t, svc, adminFP)
		apiKey := fmt.Sprintf("sk-%s-0123456789", slug)
		if err := svc.UpdateProvider(ctx, admin, slug, "default", "openai", service.ProviderInput{Enabled: true,
			BaseURL: provider, APIKey: &apiKey, Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetSignupKey(ctx, admin, slug, slug+"-signup-key-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetSignupEnabled(ctx, admin, slug, true); err != nil {
			t.Fatal(err)
		}
		_, memberKey := newSigner(t)
		if _, err := svc.CreateUser(ctx, admin, service.CreateUserInput{OrgSlug: slug, Email: "ana@" + slug + ".example", Name: "Ana",
			Password: "a-long-password", SSHKey: memberKey}); err != nil {
			t.Fatal(err)
		}
		temp := 0.3
		as, err := svc.CreateAssistant(ctx, admin, service.AssistantInput{Name: "Tutor", SystemPrompt: "Be brief.", Provider: "openai",
			Model: "gpt-4o-mini", Temperature: &temp, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateAssistant(ctx, admin, service.AssistantInput{Name: "Off", Provider: "openai", Model: "gpt-4o-mini"}); err != nil {
			t.Fatal(err)
		}
		k, err := svc.CreateAPIKey(ctx, admin, slug, "lms", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		old, err := svc.CreateAPIKey(ctx, admin, slug, "old", false, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.RevokeAPIKey(ctx, admin, old.ID); err != nil {
			t.Fatal(err)
		}
		chat(t, svc, k.Key, as.ID)
		chat(t, svc, k.Key, as.ID)
		fx.assistants[slug] = as.ID
		if slug == "acme" {
			fx.admin, fx.apiKey, fx.revoked = adminFP, k.Key, old.Key
		}
	}
	return fx
}

// actorOf is the actor an SSH key signs in as.
func actorOf(t *testing.T, svc *service.Service, fingerprint string) service.Actor {
	t.Helper()
	a, err := svc.ActorForSSHKey(context.Background(), fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// chat runs one completion with an API key.
func chat(t *testing.T, svc *service.Service, apiKey string, assistantID int64) {
	t.Helper()
	ctx := context.Background()
	caller, err := svc.Authenticate(ctx, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	req, err := service.NewChatRequest([]byte(fmt.Sprintf(`{"model":"lamb_assistant.%d","messages":[{"role":"user","content":"hi"}]}`, assistantID)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Chat(ctx, caller, req); err != nil {
		t.Fatal(err)
	}
}

// read reads what a deployment holds, as the system admin sees it.
func read(t *testing.T, svc *service.Service, root service.Actor) deployment {
	t.Helper()
	ctx := context.Background()
	d := deployment{exports: map[string]string{}}
	orgs, err := svc.ListOrgs(ctx, root, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs.Items {
		ex, err := svc.ExportOrg(ctx, root, o.Slug, true)
		if err != nil {
			t.Fatal(err)
		}
		d.exports[o.Slug] = mustJSON(t, ex)
	}
	u, err := svc.Usage(ctx, root, service.UsageQuery{Org: "acme", From: time.Now().AddDate(0, -1, 0), By: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	d.usage = mustJSON(t, u)
	a, err := svc.ListAudit(ctx, root, service.AuditQuery{Org: "acme", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	d.audit = mustJSON(t, a)
	return d
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The round trip of issue 10: a SQLite deployment filled through the
// service, `lamb db copy` into PostgreSQL, then lamb's service on the
// copy with the same key: every org exports the same (secrets included,
// so they open with the key), usage and audit read the same, API keys
// authenticate or stay revoked, and new rows get fresh ids.
func TestDBCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	fake := fakeopenai.New()
	fake.SetUsage(12, 3)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	fx := fillSQLite(t, dataDir, srv.URL+"/v1")
	sq, err := store.Open(filepath.Join(dataDir, "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := openService(t, sq, fx.key)
	root := actorOf(t, svc, fx.root)
	before := read(t, svc, root)
	svc.Close()
	sq.Close()
	if len(before.exports) != 3 || !strings.Contains(before.exports["acme"], "sk-acme-0123456789") ||
		!strings.Contains(before.exports["acme"], "acme-signup-key-1") {
		t.Fatalf("fixture: want the exports of lamb, acme and beta with their secrets opened, got %v", before.exports)
	}

	pgURL, password := withPassword(t, pgtest.URL(t))
	out, errOut, code := runLamb(t, dir, []string{"LAMB_DATA_DIR=data"}, "db", "copy", "--to", pgURL)
	if code != 0 {
		t.Fatalf("db copy exited %d:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Fatalf("db copy printed the database password:\n%s%s", out, errOut)
	}
	keyFile, _ := filepath.Abs(filepath.Join(dataDir, "secret.key"))
	for _, want := range []string{"organizations", "usage_events", "audit_events", "settings", "Every count matches",
		"LAMB_DATABASE_URL='" + store.Redacted(pgURL) + "'", `LAMB_SECRET_KEY="$(cat ` + keyFile + `)"`} {
		if !strings.Contains(out, want) {
			t.Errorf("db copy output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "schema_migrations") {
		t.Errorf("db copy reports schema_migrations, which the target's migrations fill:\n%s", out)
	}

	pg, err := store.OpenURL(ctx, pgURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Migrate(ctx); err != nil { // what lamb does at start: nothing left to do
		t.Fatal(err)
	}
	psvc := openService(t, pg, fx.key) // the secret key check passes on the copy
	defer psvc.Close()
	after := read(t, psvc, root)
	for slug, ex := range before.exports {
		if after.exports[slug] != ex {
			t.Errorf("org %s exports differently after the copy:\nSQLite:\n%s\nPostgreSQL:\n%s", slug, ex, after.exports[slug])
		}
	}
	if len(after.exports) != len(before.exports) {
		t.Errorf("orgs after the copy: %d, before %d", len(after.exports), len(before.exports))
	}
	if after.usage != before.usage {
		t.Errorf("acme's usage differs after the copy:\nSQLite:\n%s\nPostgreSQL:\n%s", before.usage, after.usage)
	}
	// The exports with secrets were audited on SQLite before the copy;
	// compare what acme's audit held then.
	if !strings.HasSuffix(after.audit, strings.TrimPrefix(before.audit, "[")) {
		t.Errorf("acme's audit differs after the copy:\nSQLite:\n%s\nPostgreSQL:\n%s", before.audit, after.audit)
	}

	// The copy serves: its keys, its users' SSH keys, and new rows of
	// every kind (ids from counters and from sequences) beside the copied.
	if _, err := psvc.Authenticate(ctx, fx.apiKey); err != nil {
		t.Errorf("acme's API key on the copy: %v", err)
	}
	if _, err := psvc.Authenticate(ctx, fx.revoked); err == nil {
		t.Error("a key revoked on SQLite authenticates on the copy")
	}
	acmeAdmin := actorOf(t, psvc, fx.admin)
	_, newKey := newSigner(t)
	res, err := psvc.CreateUser(ctx, acmeAdmin, service.CreateUserInput{OrgSlug: "acme", Email: "new@acme.example", Name: "New", SSHKey: newKey})
	if err != nil {
		t.Fatalf("a new user with an SSH key on the copy: %v", err)
	}
	users, err := psvc.ListUsers(ctx, root, service.UserQuery{}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users.Items {
		if u.ID >= res.User.ID && u.Email != "new@acme.example" {
			t.Errorf("new user got id %d, not after %s's %d", res.User.ID, u.Email, u.ID)
		}
	}
	as, err := psvc.CreateAssistant(ctx, acmeAdmin, service.AssistantInput{Name: "New", Provider: "openai", Model: "gpt-4o-mini", Enabled: true})
	if err != nil {
		t.Fatalf("a new assistant on the copy: %v", err)
	}
	k, err := psvc.CreateAPIKey(ctx, acmeAdmin, "acme", "new", false, time.Time{})
	if err != nil {
		t.Fatalf("a new API key on the copy: %v", err)
	}
	chat(t, psvc, k.Key, as.ID)                     // a new assistant, key and usage row
	chat(t, psvc, fx.apiKey, fx.assistants["acme"]) // the provider key, sealed on SQLite, opens here
	psvc.Close()                                    // flush the usage event
	u, err := psvc.Usage(ctx, root, service.UsageQuery{Org: "acme", From: time.Now().AddDate(0, -1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Total.Requests != 4 {
		t.Errorf("acme's requests after two more on the copy: %d, want 4", u.Total.Requests)
	}

	// A second copy finds the target not empty and writes nothing.
	mid := read(t, psvc, root)
	out, errOut, code = runLamb(t, dir, []string{"LAMB_DATA_DIR=data"}, "db", "copy", "--to", pgURL)
	if code == 0 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "Nothing was written") {
		t.Fatalf("a copy into the copied database: exit %d:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Fatalf("the refusal printed the database password:\n%s%s", out, errOut)
	}
	again := read(t, psvc, root)
	for slug, ex := range mid.exports {
		if again.exports[slug] != ex {
			t.Errorf("org %s changed after the refused copy", slug)
		}
	}
	if again.usage != mid.usage {
		t.Errorf("acme's usage changed after the refused copy")
	}
}

// Every way of getting --to wrong is named, exits non-zero, and never
// prints the password given in it.
func TestDBCopyBadTargetNamesFlagAndHidesPassword(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(fakeopenai.New())
	defer srv.Close()
	fillSQLite(t, filepath.Join(dir, "data"), srv.URL+"/v1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	for name, c := range map[string]struct {
		args []string
		want string
		code int
	}{
		"missing":      {nil, "--to is required", 2},
		"not postgres": {[]string{"--to", "mysql://lamb:pg-s3cret@db.example/lamb"}, "--to: want a postgres://", 2},
		"unreachable":  {[]string{"--to", "postgres://lamb:pg-s3cret@" + closed + "/lamb?sslmode=disable"}, "--to: open database postgres://lamb:xxxxx@" + closed, 1},
		"extra":        {[]string{"--to", "postgres://lamb:pg-s3cret@" + closed + "/lamb", "now"}, "unexpected argument", 2},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runLamb(t, dir, nil, append([]string{"db", "copy"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, c.code, c.want)
			}
			if strings.Contains(out+errOut, "pg-s3cret") {
				t.Errorf("the password was printed:\n%s%s", out, errOut)
			}
		})
	}
	if _, errOut, code := runLamb(t, dir, nil, "db"); code != 2 || !strings.Contains(errOut, "lamb db copy --to") {
		t.Errorf("lamb db: exit %d, %s; want the usage", code, errOut)
	}
	if _, errOut, code := runLamb(t, t.TempDir(), nil, "db", "copy", "--to", "postgres://lamb:pg-s3cret@"+closed+"/lamb"); code != 1 ||
		!strings.Contains(errOut, "no lamb database at") || !strings.Contains(errOut, "--data-dir") {
		t.Errorf("db copy without a database: exit %d, %s; want the data directory named", code, errOut)
	}
}

// A lamb still running on the SQLite database would go on writing to it
// after the copy: db copy refuses while it runs, writing nothing, and
// copies once it is stopped.
func TestDBCopyRefusedWhileLambRuns(t *testing.T) {
	dir := t.TempDir()
	pgURL := pgtest.URL(t)
	p := start(t, dir)
	_, errOut, code := runLamb(t, dir, nil, "db", "copy", "--to", pgURL)
	if code != 1 || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "stop every lamb") {
		t.Fatalf("db copy beside a running lamb: exit %d:\n%s", code, errOut)
	}
	pg, err := store.OpenURL(context.Background(), pgURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if v, err := pg.SchemaVersion(context.Background()); err == nil {
		t.Fatalf("the refused copy migrated the target (version %d)", v)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("lamb exited %d after SIGTERM", code)
	}
	if out, errOut, code := runLamb(t, dir, nil, "db", "copy", "--to", pgURL); code != 0 || !strings.Contains(out, "Every count matches") {
		t.Fatalf("db copy after lamb stopped: exit %d:\n%s%s", code, out, errOut)
	}
}
