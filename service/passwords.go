package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
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

// HashGate bounds the argon2 runs in progress. Each run holds 19 MiB
// while it lasts, and sign-in and signup run one for anyone who asks:
// without a bound, parallel requests (unauthenticated memory exhaustion:
// 200 parallel sign-ins took the process from 39 MB to 3.9 GB) grow the
// process until it dies. A few callers may wait briefly for a slot; past
// that they get ErrBusy at once instead of piling up.
type HashGate struct {
	slots   chan struct{}
	queue   int64         // callers that may wait for a slot
	wait    time.Duration // how long one of them waits
	waiting atomic.Int64

	running, peak atomic.Int64 // runs in progress, and the most seen at once
	runs          atomic.Int64 // runs started
}

// Default HashGate: 4 slots are 76 MiB of argon2 memory at most. A
// waiting caller costs no hash memory, so the queue is room for a
// classroom signing up at once (about 70 runs a second on 2 cores), and
// the wait bounds how long one may take.
const (
	defaultHashSlots = 4
	defaultHashQueue = 32
	defaultHashWait  = 2 * time.Second
)

// NewHashGate returns a gate that lets slots argon2 runs go at once and
// queue more callers wait up to wait for one.
func NewHashGate(slots, queue int, wait time.Duration) *HashGate {
	return &HashGate{slots: make(chan struct{}, max(1, slots)), queue: int64(max(0, queue)), wait: wait}
}

// Acquire takes a slot, waiting briefly if all are taken; release gives it
// back. ErrBusy when the queue is full or the wait ran out.
func (g *HashGate) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.queue {
			g.waiting.Add(-1)
			return nil, ErrBusy
		}
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
		case <-t.C:
			g.waiting.Add(-1)
			return nil, ErrBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			return nil, ctx.Err()
		}
	}
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.runs.Add(1)
	return func() {
		g.running.Add(-1)
		<-g.slots
	}, nil
}

// hashPassword hashes pw through the gate.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	release, err := s.hashes.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return argonHash(pw)
}

// verifyPassword checks pw against hash through the gate. A one-time
// password's hash (oneTimeHashPrefix) is checked by its fast hash, and an
// argon2 run is spent beside it all the same: a sign-in with one must take
// as long as any other, or timing would tell which accounts wait for
// their first sign-in.
func (s *Service) verifyPassword(ctx context.Context, hash, pw string) (bool, error) {
	release, err := s.hashes.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if strings.HasPrefix(hash, oneTimeHashPrefix) {
		ok := oneTimeVerify(hash, pw)
		argonVerify(dummyHash, pw)
		return ok, nil
	}
	return argonVerify(hash, pw), nil
}

// argonHash returns an argon2id hash in the PHC string format. Call it
// through Service.hashPassword, which bounds the runs at once.
func argonHash(pw string) (string, error) {
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
var dummyHash, _ = argonHash("lamb-dummy-password")

// argonVerify reports whether pw matches the PHC hash. An empty or
// malformed hash matches nothing. Call it through Service.verifyPassword.
func argonVerify(hash, pw string) bool {
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

// A stored password (users.password_hash) is one of:
//
//	""                         none: the account signs in with its SSH keys
//	"$argon2id$…"              a password the user chose (or an admin chose for them)
//	"otp:<unix>:$sha256$…"     a one-time password: good for one sign-in until <unix>
//	"otp:<unix>:$argon2id$…"   the same, generated before they were hashed with SHA-256
//	"otp:used"                 a one-time password that was used: the user must choose one
//
// A generated password was once neither one-time nor forced to change:
// the code shown by user create, reset-password or org create linked two
// different SSH keys and stayed valid. Now the first sign-in consumes it,
// it expires, and the session it opens chooses a password first.
const (
	oneTimePrefix = "otp:"
	usedOneTime   = "otp:used"
)

// OneTimePasswordValidity is how long a generated password works.
const OneTimePasswordValidity = 7 * 24 * time.Hour

// splitStored returns the argon2 hash a password is checked against (""
// for none), and for a one-time password that it is one and when it
// expires.
func splitStored(stored string) (hash string, oneTime bool, expires time.Time) {
	rest, ok := strings.CutPrefix(stored, oneTimePrefix)
	if !ok {
		if strings.HasPrefix(stored, oneTimeHashPrefix) {
			return "", false, time.Time{} // only a one-time password is kept that way
		}
		return stored, false, time.Time{}
	}
	unix, hash, ok := strings.Cut(rest, ":")
	secs, err := strconv.ParseInt(unix, 10, 64)
	if !ok || err != nil {
		return "", true, time.Time{} // used, or not a password anymore
	}
	return hash, true, time.Unix(secs, 0)
}

// mustChoosePassword reports whether an account's password is one-time
// (used or not): its sessions choose a password before anything else.
func mustChoosePassword(stored string) bool { return strings.HasPrefix(stored, oneTimePrefix) }

// newOneTimePassword generates a one-time password and what to store for
// it, valid for OneTimePasswordValidity from now.
//
// It is hashed with salted SHA-256, not argon2: a generated password is 80
// random bits (16 of 32 symbols), which no offline guessing reaches, while
// an argon2 run of 20 ms each made a course of 10,000 accounts cost minutes
// of CPU and held the hashing gate that sign-ins wait for. Passwords people
// choose stay argon2id.
func (s *Service) newOneTimePassword(_ context.Context) (plain, stored string, err error) {
	if plain, err = oneTimePassword(); err != nil {
		return "", "", err
	}
	hash, err := oneTimeHash(plain)
	if err != nil {
		return "", "", err
	}
	return plain, fmt.Sprintf("%s%d:%s", oneTimePrefix, s.now().Add(OneTimePasswordValidity).Unix(), hash), nil
}

// oneTimeHashPrefix starts the hash of a generated one-time password.
const oneTimeHashPrefix = "$sha256$"

// oneTimeHash returns "$sha256$<salt>$<sum>" of a generated password.
func oneTimeHash(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	sum := sha256.Sum256(append(salt, pw...))
	b64 := base64.RawStdEncoding
	return oneTimeHashPrefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(sum[:]), nil
}

// oneTimeVerify reports whether pw matches a oneTimeHash.
func oneTimeVerify(hash, pw string) bool {
	salt64, sum64, ok := strings.Cut(strings.TrimPrefix(hash, oneTimeHashPrefix), "$")
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(salt64)
	want, err2 := b64.DecodeString(sum64)
	if !ok || err1 != nil || err2 != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256(append(salt, pw...))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// ErrOneTimeExpired answers a one-time password used after it expired.
var ErrOneTimeExpired = errors.New("this one-time password has expired; ask your organization's admin for a new one")

// oneTimePassword generates a password to hand to a user once.
func oneTimePassword() (string, error) {
	s, err := secret.Token(16, secret.ClaimAlphabet)
	if err != nil {
		return "", err
	}
	return s[:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:], nil
}
