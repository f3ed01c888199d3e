package service

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"lamb/secret"
)

// Argon2id parameters (OWASP's recommendation: 19 MiB, 2 passes, 1 lane):
// about 20 ms a hash here, so sign-in and signup stay quick while offline
// guessing stays expensive.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// checkPassword enforces the password rules.
func checkPassword(field, pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return invalid(field, "must be at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return invalid(field, "must be at most 1024 bytes")
	}
	return nil
}

// hashPassword returns an argon2id hash in the PHC string format.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	sum := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// dummyHash is compared against when the email is unknown, so that the
// answer takes as long as for a wrong password.
var dummyHash, _ = hashPassword("lamb-dummy-password")

// verifyPassword reports whether pw matches the PHC hash. An empty or
// malformed hash matches nothing.
func verifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// oneTimePassword generates a password to hand to a user once.
func oneTimePassword() (string, error) {
	s, err := secret.Token(16, secret.ClaimAlphabet)
	if err != nil {
		return "", err
	}
	return s[:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:], nil
}
