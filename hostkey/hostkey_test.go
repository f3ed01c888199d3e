package hostkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateMakesAnEd25519KeyEachTime(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	sa, err := Parse(a)
	if err != nil {
		t.Fatalf("a generated key doesn't parse: %v", err)
	}
	if sa.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("generated a %s key, want ed25519", sa.PublicKey().Type())
	}
	if !strings.HasPrefix(string(a), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Fatalf("not in OpenSSH's format:\n%s", a)
	}
	if Fingerprint(a) == Fingerprint(b) || Fingerprint(a) == "" {
		t.Fatalf("two generated keys share fingerprint %q", Fingerprint(a))
	}
}

func TestLoadRefusesWhatIsNotAUsablePrivateKey(t *testing.T) {
	dir := t.TempDir()
	good, _ := Generate()
	signer, _ := Parse(good)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"good":       good,
		"public":     ssh.MarshalAuthorizedKey(signer.PublicKey()),
		"passphrase": pem.EncodeToMemory(block),
		"garbage":    []byte("not a key at all\n"),
		"empty":      nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if key, err := Load(filepath.Join(dir, "good")); err != nil || !bytes.Equal(key, good) {
		t.Fatalf("Load(good) = %v", err)
	}
	for _, tc := range []struct{ file, want string }{
		{"missing", "does not exist"},
		{"public", "public key"},
		{"passphrase", "passphrase"},
		{"garbage", "not an SSH private key"},
		{"empty", "not an SSH private key"},
		{".", "can't be read"}, // a directory
	} {
		path := filepath.Join(dir, tc.file)
		_, err := Load(path)
		if err == nil {
			t.Errorf("Load(%s) accepted it", tc.file)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) = %q, want it to name the file and say %q", tc.file, err, tc.want)
		}
		if tc.file == "passphrase" && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the passphrase leaked: %v", err)
		}
	}
}

func TestLoadOfUnreadableFileSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	good, _ := Generate()
	os.WriteFile(path, good, 0o000)
	want := "can't be read by lamb's user"
	if os.Geteuid() == 0 {
		// Root reads any file: a path lamb can't read as a file at all
		// (a directory) takes the other branch, which says so too.
		path, want = t.TempDir(), "can't be read"
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load(unreadable) = %v, want it to say %q", err, want)
	}
}

// The data directory's key is made once, private to lamb's user, with its
// public key beside it; every later start reads the same key.
func TestLoadOrCreateMakesThenKeeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "ssh_host_ed25519_key")
	key, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate = created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil || ssh.FingerprintSHA256(pk) != Fingerprint(key) {
		t.Fatalf(".pub doesn't hold the key's public half: %v", err)
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second LoadOrCreate = created %v, same %v, %v", created, bytes.Equal(again, key), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".host-key-*")); len(left) > 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// A key file that is there but broken is never replaced by a new key:
// the operator's file stays as it was and the error says what's wrong.
func TestLoadOrCreateNeverOverwritesABrokenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "not an SSH private key") {
		t.Fatalf("LoadOrCreate(broken) = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "garbage" {
		t.Fatalf("the broken file was replaced: %q", data)
	}
}

// Callers making the key at once all end with the one that was written.
func TestLoadOrCreateRaceYieldsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], _, errs[i] = LoadOrCreate(path)
		}()
	}
	wg.Wait()
	onDisk, _ := os.ReadFile(path)
	for i := range n {
		if errs[i] != nil || !bytes.Equal(keys[i], onDisk) {
			t.Fatalf("caller %d: %v, same as on disk: %v", i, errs[i], bytes.Equal(keys[i], onDisk))
		}
	}
}
