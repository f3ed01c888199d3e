package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/secret"
	"lamb/store"
)

// testEnv is a service over a real SQLite file with migrations applied.
type testEnv struct {
	svc *Service
	st  *store.Store
	key []byte
	dir string
	now time.Time
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	e := &testEnv{key: key, dir: dir, now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	e.open(t, key)
	return e
}

func (e *testEnv) open(t *testing.T, key []byte) {
	t.Helper()
	clock := func() time.Time { return e.now }
	st, err := store.Open(filepath.Join(e.dir, "lamb.db"), store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	e.svc = New(Deps{Store: st, Box: box, Logger: log.New(io.Discard), Now: clock})
}

// newKey returns a fresh ed25519 public key as an authorized-key line.
func newKey(t *testing.T, comment string) (line, fingerprint string) {
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

func strp(s string) *string { return &s }

func mustSync(t *testing.T, e *testEnv, env config.System) []config.Change {
	t.Helper()
	ch, err := e.svc.SyncSystemOrg(context.Background(), SystemActor(), env)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func (e *testEnv) auditCount(t *testing.T, action string) int {
	t.Helper()
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func (e *testEnv) systemConfig(t *testing.T) *config.Org {
	t.Helper()
	org, err := e.st.SystemOrg(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.openConfig(org)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func storeFilterAll() store.AuditFilter { return store.AuditFilter{Limit: 1000} }

func storeOrg(slug string) store.Org {
	return store.Org{Slug: slug, Name: slug, Config: string(config.NewOrg().JSON())}
}

func readFileIfExists(path string) ([]byte, error) { return os.ReadFile(path) }
