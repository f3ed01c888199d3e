package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"lamb/hostkey"
	"lamb/secret"
	"lamb/store"
)

// instanceWithKey is another lamb on e's PostgreSQL database: its own store (a
// pool of its own) and a service with the given secret key.
func (e *testEnv) instanceWithKey(t *testing.T, key []byte) *Service {
	t.Helper()
	st, err := store.OpenURL(context.Background(), e.url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(svc.Close)
	return svc
}

func hostKeyOf(t *testing.T, svc *Service, src HostKeySources) HostKey {
	t.Helper()
	hk, err := svc.SSHHostKey(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hostkey.Parse(hk.PEM); err != nil {
		t.Fatalf("the host key doesn't parse: %v", err)
	}
	return hk
}

// Two instances of one PostgreSQL database present the same host key,
// none of them writing a key file: the first stores its key, the second
// reads it. Later starts read the same key.
func TestHostKeySharedByInstancesOfOneDatabase(t *testing.T) {
	e := newTestEnvOn(t, store.EnginePostgres)
	fileA, fileB := filepath.Join(t.TempDir(), "key"), filepath.Join(t.TempDir(), "key")
	a := hostKeyOf(t, e.svc, HostKeySources{File: fileA})
	b := hostKeyOf(t, e.instanceWithKey(t, e.key), HostKeySources{File: fileB})
	if !a.Created || b.Created || a.From != "database" || b.From != "database" {
		t.Fatalf("first: created %v from %q; second: created %v from %q", a.Created, a.From, b.Created, b.From)
	}
	if !bytes.Equal(a.PEM, b.PEM) || a.Fingerprint != b.Fingerprint || a.Fingerprint == "" {
		t.Fatalf("instances present different host keys: %s and %s", a.Fingerprint, b.Fingerprint)
	}
	for _, f := range []string{fileA, fileB} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a key file was written beside a shared database: %s (%v)", f, err)
		}
	}
	if again := hostKeyOf(t, e.instanceWithKey(t, e.key), HostKeySources{}); again.Fingerprint != a.Fingerprint || again.Created {
		t.Fatalf("a later start got %s (created %v), want %s", again.Fingerprint, again.Created, a.Fingerprint)
	}
}

// Instances starting at the same moment on an empty database each make a
// key and race to store it: all of them end with the one that won.
func TestHostKeyFirstStartRaceYieldsOneKey(t *testing.T) {
	e := newTestEnvOn(t, store.EnginePostgres)
	const n = 8
	svcs := make([]*Service, n)
	for i := range svcs {
		svcs[i] = e.instanceWithKey(t, e.key)
	}
	keys := make([]HostKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			keys[i], errs[i] = svcs[i].SSHHostKey(context.Background(), HostKeySources{})
		}()
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if keys[i].Fingerprint != keys[0].Fingerprint {
			t.Fatalf("instance %d has host key %s, instance 0 %s", i, keys[i].Fingerprint, keys[0].Fingerprint)
		}
		if keys[i].Created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d instances say they stored the key, want 1", created)
	}
}

// The key in the database is sealed with LAMB_SECRET_KEY: neither the
// private key nor its base64 body is in the row, and an instance with
// another secret key can't use it (and says which variable to fix).
func TestHostKeyIsSealedInTheDatabase(t *testing.T) {
	e := newTestEnvOn(t, store.EnginePostgres)
	hk := hostKeyOf(t, e.svc, HostKeySources{})
	var stored string
	if err := e.rawDB(t).QueryRow(`SELECT value FROM settings WHERE key = $1`, hostKeySetting).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	body := strings.Join(strings.Split(string(hk.PEM), "\n")[1:3], "")
	if !strings.HasPrefix(stored, "enc:v1:") || strings.Contains(stored, "PRIVATE KEY") || strings.Contains(stored, body) {
		t.Fatalf("the stored host key is not sealed: %.60s…", stored)
	}
	other := make([]byte, secret.KeySize)
	other[0] = 1
	_, err := e.instanceWithKey(t, other).SSHHostKey(context.Background(), HostKeySources{})
	if err == nil || !strings.Contains(err.Error(), "LAMB_SECRET_KEY") {
		t.Fatalf("another secret key: %v; want a refusal naming LAMB_SECRET_KEY", err)
	}
}

// An instance that ran alone before keeps its users' host key: a shared
// database without a key adopts the data directory's. Once the database
// has one, an instance with another file uses the database's.
func TestHostKeySharedDatabaseAdoptsTheDataDirectorysKey(t *testing.T) {
	e := newTestEnvOn(t, store.EnginePostgres)
	old := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	oldKey, _, err := hostkey.LoadOrCreate(old)
	if err != nil {
		t.Fatal(err)
	}
	hk := hostKeyOf(t, e.svc, HostKeySources{File: old})
	if !bytes.Equal(hk.PEM, oldKey) || !hk.Created {
		t.Fatalf("the database didn't adopt the data directory's key: %s, want %s", hk.Fingerprint, hostkey.Fingerprint(oldKey))
	}
	another := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	if _, _, err := hostkey.LoadOrCreate(another); err != nil {
		t.Fatal(err)
	}
	if got := hostKeyOf(t, e.instanceWithKey(t, e.key), HostKeySources{File: another}); !bytes.Equal(got.PEM, oldKey) {
		t.Fatalf("a second instance used its own file's key %s, want the shared %s", got.Fingerprint, hk.Fingerprint)
	}
}

// A key file that is there but broken is a mistake to fix: the shared
// database doesn't get a new key in its place.
func TestHostKeyBrokenDataDirectoryFileIsNotReplaced(t *testing.T) {
	e := newTestEnvOn(t, store.EnginePostgres)
	broken := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	os.WriteFile(broken, []byte("garbage"), 0o600)
	_, err := e.svc.SSHHostKey(context.Background(), HostKeySources{File: broken})
	if err == nil || !strings.Contains(err.Error(), broken) || !strings.Contains(err.Error(), "LAMB_SSH_HOST_KEY") {
		t.Fatalf("broken key file: %v", err)
	}
	if _, err := e.st.Setting(context.Background(), hostKeySetting); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a key was stored anyway: %v", err)
	}
}

// LAMB_SSH_HOST_KEY wins on both engines: nothing is made, stored or read.
func TestHostKeyConfiguredWins(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) {
			e := newTestEnvOn(t, engine)
			configured, _ := hostkey.Generate()
			file := filepath.Join(e.dir, "ssh_host_ed25519_key")
			hk := hostKeyOf(t, e.svc, HostKeySources{Configured: configured, File: file})
			if !bytes.Equal(hk.PEM, configured) || hk.From != "LAMB_SSH_HOST_KEY" || hk.Created {
				t.Fatalf("got %s from %q, want LAMB_SSH_HOST_KEY's %s", hk.Fingerprint, hk.From, hostkey.Fingerprint(configured))
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a key file was made: %v", err)
			}
			if _, err := e.st.Setting(context.Background(), hostKeySetting); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a key was stored: %v", err)
			}
		})
	}
}

// SQLite is as before: the data directory's file, made on the first start
// and read at every later one; the database holds no key.
func TestHostKeySQLiteIsTheDataDirectorysFile(t *testing.T) {
	e := newTestEnv(t)
	file := filepath.Join(e.dir, "ssh_host_ed25519_key")
	first := hostKeyOf(t, e.svc, HostKeySources{File: file})
	onDisk, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(onDisk, first.PEM) || !first.Created || first.From != file {
		t.Fatalf("first start: file %v, same %v, created %v, from %q", err, bytes.Equal(onDisk, first.PEM), first.Created, first.From)
	}
	second := hostKeyOf(t, e.svc, HostKeySources{File: file})
	if !bytes.Equal(second.PEM, first.PEM) || second.Created {
		t.Fatalf("second start: %s (created %v), want %s", second.Fingerprint, second.Created, first.Fingerprint)
	}
	if _, err := e.st.Setting(context.Background(), hostKeySetting); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SQLite stored a key in the database: %v", err)
	}
}
