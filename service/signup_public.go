package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"lamb/config"
	"lamb/internal/connlimit"
	"lamb/store"
)

// ErrSignupDenied is the one answer for an unknown key, a disabled signup
// and a suspended org, so that keys can't be probed.
var ErrSignupDenied = errors.New("this signup key is not valid, or signup is closed; ask your organization's admin for a current signup link")

// Signup rate limits: attempts per minute from one address, and per key.
const (
	signupPerMinute = 10
	signupWindow    = time.Minute
)

// RateLimitedError asks the caller to come back later.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many signup attempts; try again in %d seconds", e.Seconds())
}

// Seconds is RetryAfter in whole seconds, rounded up and at least 1, as
// Retry-After wants it: "0" would invite an immediate retry that fails again.
func (e *RateLimitedError) Seconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// SignupInput is what a person sends to sign up.
type SignupInput struct {
	Email      string
	Name       string
	Password   string
	SignupKey  string
	SSHKey     string // optional
	RemoteAddr string // the caller's address, for rate limiting
}

// SignupResult is the new account.
type SignupResult struct {
	ID      int64  `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	OrgSlug string `json:"-"`
	OrgName string `json:"-"`
	Role    string `json:"role"`
}

// Signup creates a member account in the org whose signup key matches. The
// key is found by its keyed hash (no plain text is compared or stored);
// the org must be active with signup enabled. The legacy SIGNUP_SECRET_KEY
// is org lamb's key, so it takes the same path.
func (s *Service) Signup(ctx context.Context, in SignupInput) (SignupResult, error) {
	now := s.now()
	if wait, err := s.signups.take(ctx, "addr:"+clientKey(in.RemoteAddr), now); err != nil {
		return SignupResult{}, err
	} else if wait > 0 {
		return SignupResult{}, &RateLimitedError{RetryAfter: wait}
	}
	// Counted by the key as it is looked up (trimmed), so that padding it
	// with spaces doesn't make a fresh key for the limit.
	if k := strings.TrimSpace(in.SignupKey); k != "" {
		if wait, err := s.signupKeys.take(ctx, "key:"+k, now); err != nil {
			return SignupResult{}, err
		} else if wait > 0 {
			return SignupResult{}, &RateLimitedError{RetryAfter: wait}
		}
	}
	// Every field is checked, so a form can show all its mistakes at once.
	var bad InvalidErrors
	collect := func(err error) {
		var ie *InvalidError
		if errors.As(err, &ie) {
			bad = append(bad, ie)
		}
	}
	email, err := normalizeEmail(in.Email)
	collect(err)
	name, err := checkName("name", in.Name)
	collect(err)
	collect(checkPassword("password", in.Password))
	var key *parsedKey
	if strings.TrimSpace(in.SSHKey) != "" {
		k, err := parseSSHKey("ssh_public_key", in.SSHKey)
		collect(err)
		key = &k
	}
	if strings.TrimSpace(in.SignupKey) == "" {
		collect(invalid("signup_key", "is required"))
	}
	if len(bad) == 1 {
		return SignupResult{}, bad[0]
	}
	if len(bad) > 1 {
		return SignupResult{}, bad
	}
	// The key is checked before the password is hashed: an invalid key
	// costs no argon2 run (unauthenticated memory exhaustion: 400 signups
	// with made-up keys took 7 GB when the hash came first). The
	// transaction checks it again, as it may change meanwhile.
	keyHash := s.box.Hash(strings.TrimSpace(in.SignupKey))
	if _, err := s.signupOrg(ctx, s.st.Queries, keyHash); err != nil {
		return SignupResult{}, err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return SignupResult{}, err
	}
	var out SignupResult
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.signupOrg(ctx, tx.Queries, keyHash)
		if err != nil {
			return err
		}
		if err := s.checkMaxUsers(ctx, tx.Queries, o); err != nil {
			return err
		}
		u, err := tx.CreateUser(ctx, store.User{OrganizationID: o.ID, Email: email, Name: name,
			PasswordHash: hash, Role: store.RoleMember, Enabled: true})
		if errors.Is(err, store.ErrConflict) {
			return ErrEmailTaken
		} else if err != nil {
			return err
		}
		actor := actorFor(u, o, "signup")
		if key != nil {
			err := s.addKey(ctx, tx.Queries, actor, u, *key)
			// A key linked to another account is bad input of this form,
			// named by its field, not a server failure.
			if errors.Is(err, ErrConflict) {
				return invalid("ssh_public_key", "this key is already linked to an account; use another key, or leave the field empty")
			} else if err != nil {
				return err
			}
		}
		out = SignupResult{ID: u.ID, Email: u.Email, Name: u.Name, OrgSlug: o.Slug, OrgName: o.Name, Role: u.Role}
		// In the org the account landed in, with where it came from: a
		// signup with a guessed key must show in the victim's audit.
		return s.audit(ctx, tx.Queries, actor, o.ID, "user.signup", u.Email, map[string]any{"ssh_key": key != nil, "from": in.RemoteAddr})
	})
	return out, err
}

// signupOrg returns the org whose signup key has keyHash, if it is active
// with signup enabled; ErrSignupDenied otherwise.
func (s *Service) signupOrg(ctx context.Context, q *store.Queries, keyHash string) (store.Org, error) {
	o, err := q.OrgBySignupKeyHash(ctx, keyHash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Org{}, ErrSignupDenied
	} else if err != nil {
		return store.Org{}, err
	}
	cfg, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return store.Org{}, err
	}
	if o.Status != store.OrgActive || !cfg.Features.SignupEnabled {
		return store.Org{}, ErrSignupDenied
	}
	return o, nil
}

// ErrEmailTaken says an account with that email exists.
var ErrEmailTaken = &conflictError{"email: an account with this email already exists; sign in instead, or ask your admin to reset your password"}

// clientKey is the client an address belongs to, for rate limits: IPv6
// clients by /64, since one host usually holds a whole /64; IPv4 clients
// by address.
func clientKey(remote string) string { return connlimit.ClientKey(remote) }
