package secret_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lamb/secret"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, secret.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newBox(t *testing.T, key []byte) *secret.Box {
	t.Helper()
	b, err := secret.NewBox(key)
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func seal(t *testing.T, b *secret.Box, plaintext string) string {
	t.Helper()
	s, err := b.Seal(plaintext)
	if err != nil {
		t.Fatalf("Seal(%q): %v", plaintext, err)
	}
	return s
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := secret.NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox(%d bytes) = nil error", n)
		}
	}
	if _, err := secret.NewBox(make([]byte, secret.KeySize)); err != nil {
		t.Errorf("NewBox(32 bytes) = %v", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBox(t, newKey(t))
	for _, pt := range []string{
		"sk-proj-0123456789abcdef",
		"x",
		"with spaces, ünïcödé and a newline\n",
		"\x00binary\xff",
		strings.Repeat("long ", 2000),
	} {
		sealed := seal(t, b, pt)
		if !strings.HasPrefix(sealed, "enc:v1:") {
			t.Errorf("Seal(%.20q) = %.30q, want the enc:v1: prefix", pt, sealed)
		}
		if !secret.IsSealed(sealed) {
			t.Errorf("IsSealed(Seal(%.20q)) = false", pt)
		}
		if len(pt) > 1 && strings.Contains(sealed, pt) {
			t.Errorf("Seal(%.20q) contains the plaintext", pt)
		}
		got, err := b.Open(sealed)
		if err != nil {
			t.Fatalf("Open(Seal(%.20q)) = %v", pt, err)
		}
		if got != pt {
			t.Errorf("Open(Seal(%.20q)) = %.20q", pt, got)
		}
	}
}

func TestSealedTextHidesThePlaintext(t *testing.T) {
	b := newBox(t, newKey(t))
	const pt = "sk-proj-0123456789abcdef"
	sealed := seal(t, b, pt)
	for _, s := range []string{pt, "0123456789", base64.StdEncoding.EncodeToString([]byte(pt))[:12], hex.EncodeToString([]byte(pt))[:12]} {
		if strings.Contains(sealed, s) {
			t.Errorf("sealed text %q contains %q", sealed, s)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	b := newBox(t, newKey(t))
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		s := seal(t, b, "same plaintext")
		if seen[s] {
			t.Fatalf("two seals of the same plaintext are equal: %q", s)
		}
		seen[s] = true
	}
}

func TestSealKeepsEmptyEmpty(t *testing.T) {
	b := newBox(t, newKey(t))
	if s := seal(t, b, ""); s != "" {
		t.Errorf(`Seal("") = %q, want ""`, s)
	}
	if s, err := b.Open(""); err != nil || s != "" {
		t.Errorf(`Open("") = %q, %v; want "", nil`, s, err)
	}
	if secret.IsSealed("") {
		t.Error(`IsSealed("") = true`)
	}
}

func TestOpenWithAnotherKey(t *testing.T) {
	a, b := newBox(t, newKey(t)), newBox(t, newKey(t))
	sealed := seal(t, a, "sk-secret")
	got, err := b.Open(sealed)
	if !errors.Is(err, secret.ErrDecrypt) {
		t.Fatalf("Open with another key = %q, %v; want ErrDecrypt", got, err)
	}
	if got != "" {
		t.Errorf("Open with another key returned %q", got)
	}
	// The same key in a new Box opens it: nothing depends on the Box instance.
	key := newKey(t)
	sealed = seal(t, newBox(t, key), "sk-secret")
	if got, err := newBox(t, key).Open(sealed); err != nil || got != "sk-secret" {
		t.Errorf("Open with a new Box of the same key = %q, %v", got, err)
	}
}

func TestOpenTampered(t *testing.T) {
	b := newBox(t, newKey(t))
	sealed := seal(t, b, "sk-secret-value")
	body := strings.TrimPrefix(sealed, "enc:v1:")
	raw, err := base64.RawStdEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("sealed body isn't raw base64: %v", err)
	}
	flip := func(i int) string {
		r := bytes.Clone(raw)
		r[i] ^= 0x01
		return "enc:v1:" + base64.RawStdEncoding.EncodeToString(r)
	}
	tests := []struct {
		name, value string
	}{
		{"nonce byte flipped", flip(0)},
		{"ciphertext byte flipped", flip(12)},
		{"tag byte flipped", flip(len(raw) - 1)},
		{"truncated tag", "enc:v1:" + base64.RawStdEncoding.EncodeToString(raw[:len(raw)-1])},
		{"shorter than a nonce", "enc:v1:" + base64.RawStdEncoding.EncodeToString(raw[:5])},
		{"nonce only", "enc:v1:" + base64.RawStdEncoding.EncodeToString(raw[:12])},
		{"extra byte", "enc:v1:" + base64.RawStdEncoding.EncodeToString(append(bytes.Clone(raw), 0))},
		{"not base64", "enc:v1:!!!not base64!!!"},
		{"prefix only", "enc:v1:"},
		{"other version", "enc:v2:" + body},
		{"no prefix", body},
		{"plaintext", "sk-secret-value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Open(tt.value)
			if !errors.Is(err, secret.ErrDecrypt) {
				t.Errorf("Open = %q, %v; want ErrDecrypt", got, err)
			}
		})
	}
}

func TestIsSealed(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"enc:v1:abc", true},
		{"sk-abc", false},
		{"enc:v2:abc", false},
		{"ENC:V1:abc", false},
	} {
		if got := secret.IsSealed(tt.s); got != tt.want {
			t.Errorf("IsSealed(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestHash(t *testing.T) {
	key := newKey(t)
	a1, a2, other := newBox(t, key), newBox(t, key), newBox(t, newKey(t))

	h := a1.Hash("signup-key-123")
	if len(h) != 64 {
		t.Errorf("Hash length = %d, want 64 hex characters", len(h))
	}
	if _, err := hex.DecodeString(h); err != nil {
		t.Errorf("Hash = %q is not hex", h)
	}
	if a1.Hash("signup-key-123") != h || a2.Hash("signup-key-123") != h {
		t.Error("Hash is not stable for one key")
	}
	if other.Hash("signup-key-123") == h {
		t.Error("Hash is the same under another key")
	}
	if a1.Hash("signup-key-124") == h || a1.Hash("") == h {
		t.Error("Hash is the same for different values")
	}
	if strings.Contains(h, hex.EncodeToString([]byte("signup"))) {
		t.Error("Hash shows the value")
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(0xf8 + i%8) // encodes with + and / in base64, - and _ in base64url
	}
	std := base64.StdEncoding.EncodeToString(key)
	url := base64.URLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key doesn't exercise the alphabets: %s %s", std, url)
	}
	good := []struct {
		name, s string
	}{
		{"hex", hex.EncodeToString(key)},
		{"upper-case hex", strings.ToUpper(hex.EncodeToString(key))},
		{"base64", std},
		{"base64 without padding", base64.RawStdEncoding.EncodeToString(key)},
		{"base64url", url},
		{"base64url without padding", base64.RawURLEncoding.EncodeToString(key)},
		{"surrounding space", "  " + std + "\n"},
	}
	for _, tt := range good {
		got, err := secret.ParseKey(tt.s)
		if err != nil {
			t.Errorf("ParseKey(%s %q) = %v", tt.name, tt.s, err)
			continue
		}
		if !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%s) = %x, want %x", tt.name, got, key)
		}
	}

	for _, n := range []int{31, 33, 16, 0} {
		k := bytes.Repeat([]byte{7}, n)
		for _, s := range []string{
			hex.EncodeToString(k),
			base64.StdEncoding.EncodeToString(k),
			base64.RawStdEncoding.EncodeToString(k),
			base64.URLEncoding.EncodeToString(k),
			base64.RawURLEncoding.EncodeToString(k),
		} {
			if got, err := secret.ParseKey(s); err == nil {
				t.Errorf("ParseKey(%d bytes as %q) = %x, want an error", n, s, got)
			}
		}
	}
	for _, s := range []string{"correct horse battery staple", "not-a-key", strings.Repeat("z", 64)} {
		if _, err := secret.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) = nil error", s)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k1, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("first LoadOrCreateKeyFile = %v", err)
	}
	if len(k1) != secret.KeySize {
		t.Fatalf("key length = %d", len(k1))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fromFile, err := secret.ParseKey(string(data)); err != nil || !bytes.Equal(fromFile, k1) {
		t.Errorf("key file holds %q, which doesn't parse to the key (%v)", data, err)
	}

	k2, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateKeyFile = %v", err)
	}
	if !bytes.Equal(k1, k2) {
		t.Error("second LoadOrCreateKeyFile returned another key")
	}
	// What one run sealed, the next opens.
	sealed := seal(t, newBox(t, k1), "sk-kept")
	if got, err := newBox(t, k2).Open(sealed); err != nil || got != "sk-kept" {
		t.Errorf("Open after reloading the key = %q, %v", got, err)
	}

	other, err := secret.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, k1) {
		t.Error("two new key files hold the same key")
	}
}

func TestLoadOrCreateKeyFileReadsAGivenKey(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	path := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := secret.LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Errorf("LoadOrCreateKeyFile(hex file) = %x, %v", got, err)
	}
}

func TestLoadOrCreateKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
	}{
		{"garbage", "this is not a key\n"},
		{"31 bytes", base64.StdEncoding.EncodeToString(make([]byte, 31))},
		{"empty", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := secret.LoadOrCreateKeyFile(path)
			if err == nil {
				t.Fatalf("LoadOrCreateKeyFile(corrupt) = %x, want an error", k)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q doesn't name the file", err)
			}
			// A corrupt key file is never replaced: the stored secrets need it.
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("the corrupt key file was rewritten to %q", data)
			}
		})
	}

	if _, err := secret.LoadOrCreateKeyFile(filepath.Join(dir, "no", "such", "dir", "secret.key")); err == nil {
		t.Error("LoadOrCreateKeyFile in a missing directory = nil error")
	}
	if _, err := secret.LoadOrCreateKeyFile(dir); err == nil {
		t.Error("LoadOrCreateKeyFile(a directory) = nil error")
	}
}

func TestToken(t *testing.T) {
	for _, tt := range []struct {
		n        int
		alphabet string
	}{
		{0, secret.Base62},
		{1, secret.Base62},
		{32, secret.Base62},
		{43, secret.Base62},
		{10, secret.ClaimAlphabet},
		{100, "ab"},
		{7, "x"},
	} {
		tok, err := secret.Token(tt.n, tt.alphabet)
		if err != nil {
			t.Fatalf("Token(%d, %q) = %v", tt.n, tt.alphabet, err)
		}
		if len(tok) != tt.n {
			t.Errorf("Token(%d, %q) has length %d", tt.n, tt.alphabet, len(tok))
		}
		for _, r := range tok {
			if !strings.ContainsRune(tt.alphabet, r) {
				t.Errorf("Token(%d, %q) = %q holds %q", tt.n, tt.alphabet, tok, r)
			}
		}
	}
}

func TestTokenUsesTheWholeAlphabet(t *testing.T) {
	for _, alphabet := range []string{secret.Base62, secret.ClaimAlphabet} {
		// 20000 draws from at most 62 symbols: a missing symbol would mean
		// a broken mapping, not bad luck (odds below 1e-130).
		tok, err := secret.Token(20000, alphabet)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range alphabet {
			if !strings.ContainsRune(tok, r) {
				t.Errorf("Token over %q never produced %q", alphabet, r)
			}
		}
	}
	a, _ := secret.Token(32, secret.Base62)
	b, _ := secret.Token(32, secret.Base62)
	if a == b {
		t.Error("two tokens are equal")
	}
}

func TestClaimAlphabetIsUnambiguous(t *testing.T) {
	if strings.ContainsAny(secret.ClaimAlphabet, "0O1Il") {
		t.Errorf("ClaimAlphabet %q holds characters that read alike", secret.ClaimAlphabet)
	}
}
