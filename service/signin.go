package service

import (
	"context"
	"errors"
	"net"
	"time"

	"lamb/store"
)

// Sign-in throttling (DESIGN §5), and what keeps one stranger from locking
// an account's owner out.
const (
	signInMaxFailures = 5 // per key fingerprint and per email, in signInWindow
	signInWindow      = 15 * time.Minute
	// signInPerMinute is how many attempts one source address (IPv6: its
	// /64) may make a minute: it bounds the argon2 work one address asks
	// for, while a classroom behind one NAT address can all sign in.
	signInPerMinute = 60
	// signInAddrFailures failures from one address in signInWindow pause
	// it: the bound on password spraying over many accounts.
	signInAddrFailures = 30
	// An email with signInMaxFailures failures is paused only for the
	// addresses that failed on it: another address may still try it
	// signInLockedTries times in the window (see SignIn).
	signInLockedTries = 2
	// signInEmailCeiling failures on one email from all addresses pause it
	// for everyone: the bound on guessing spread over many addresses.
	signInEmailCeiling = 50
)

// ErrBadCredentials is the one answer to an unknown email and a wrong
// password, so that sign-in can't be used to find accounts.
var ErrBadCredentials = errors.New("email or password is not right")

// ThrottledError says sign-in is paused for a key, an email or an address.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return "too many sign-in attempts; try again in " + waitText(e.RetryAfter)
}

// signInLimits are the sliding windows of sign-in.
type signInLimits struct {
	failures *window // per "key:" fingerprint, "email:", "pair:" email and address, "addr:"
	addrs    *window // attempts per source address
}

func (s *Service) newSignInLimits() signInLimits {
	return signInLimits{
		failures: s.newWindow(scopeSignInFailures, signInMaxFailures, signInWindow),
		addrs:    s.newWindow(scopeSignInAddrs, signInPerMinute, time.Minute),
	}
}

// signInKeys are what sign-in failures are counted by.
type signInKeys struct{ key, email, pair, addr string }

// admit returns how long an attempt must wait (0: it may go on): while
// the key, the email or the address has too many failures, or the address
// too many attempts. Only an attempt that may go on is counted.
func (l signInLimits) admit(ctx context.Context, now time.Time, k signInKeys, addr string) (time.Duration, error) {
	seen, err := l.failures.look(ctx, now, k.key, k.email, k.pair, k.addr)
	if err != nil {
		return 0, err
	}
	wait := max(seen.wait(k.key), seen.waitAt(k.email, signInEmailCeiling), seen.waitAt(k.addr, signInAddrFailures))
	if seen.count(k.email) >= signInMaxFailures {
		wait = max(wait, seen.waitAt(k.pair, signInLockedTries))
	}
	if wait > 0 {
		return wait, nil
	}
	// Counted last, so that attempts refused above cost the address
	// nothing; counted before any hashing, so that parallel attempts
	// can't all pass the check.
	return l.addrs.take(ctx, addr, now)
}

// SignInInput is what the sign-in screen sends.
type SignInInput struct {
	Key        string // the session's public key, an authorized-key line
	Email      string
	Password   string
	RemoteAddr string // the client's address, for throttling
}

// SignIn checks an email and password for an SSH key that is not linked to
// any account yet. On success the key is linked to the account (audited)
// and the account's actor is returned. An unknown email and a wrong
// password answer the same.
//
// Failures are throttled per key, per email and per source address, and
// attempts per source address. Pausing an email must not let a stranger
// lock its owner out (anyone could fail five times on someone else's
// email): once an email has signInMaxFailures failures it stays open to
// addresses that didn't cause them, signInLockedTries tries each, so the
// owner adding a laptop from their own network still gets in with the
// right password while the address that failed is paused. Guessing spread
// over many addresses meets signInEmailCeiling, which pauses the email
// for everyone.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (Actor, error) {
	k, err := parseSSHKey("ssh_key", in.Key)
	if err != nil {
		return Actor{}, err
	}
	now := s.now()
	email, addr := normalizeLoose(in.Email), clientKey(in.RemoteAddr)
	keys := signInKeys{key: "key:" + k.fingerprint, email: "email:" + email, pair: "pair:" + email + " " + addr, addr: "addr:" + addr}
	wait, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (time.Duration, error) {
		return s.signIns.admit(ctx, now, keys, addr)
	})
	if err != nil {
		return Actor{}, err
	}
	if wait > 0 {
		return Actor{}, &ThrottledError{RetryAfter: wait}
	}
	// An unknown email, or an account without a password, costs the same
	// argon2 run as a wrong password, so timing tells nothing.
	hash, user, oneTime, expires := dummyHash, store.User{}, false, time.Time{}
	var account store.User // the account the email names, if any
	if norm, err := normalizeEmail(in.Email); err == nil {
		u, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (store.User, error) {
			return s.st.UserByEmail(ctx, norm)
		})
		switch {
		case err == nil:
			account = u
			if h, ot, exp := splitStored(u.PasswordHash); h != "" {
				hash, user, oneTime, expires = h, u, ot, exp
			}
		case !errors.Is(err, store.ErrNotFound):
			return Actor{}, err
		}
	}
	fail := func() (Actor, error) {
		_, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, s.signIns.failures.add(ctx, now, keys.key, keys.email, keys.pair, keys.addr)
		})
		if err != nil {
			return Actor{}, err
		}
		reason := "wrong password"
		if hash == dummyHash {
			reason = "the account has no password"
		}
		s.auditSignInFailure(ctx, account, k.fingerprint, in.RemoteAddr, reason)
		return Actor{}, ErrBadCredentials
	}
	ok, err := s.verifyPassword(ctx, hash, in.Password)
	if err != nil {
		return Actor{}, err // busy: not a failure of the person
	}
	if !ok || hash == dummyHash {
		return fail()
	}
	_, err = bounded(ctx, s.lookupTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.signIns.failures.reset(ctx, keys.key, keys.email, keys.pair)
	})
	if err != nil {
		return Actor{}, err
	}
	if oneTime && !now.Before(expires) {
		s.auditSignInFailure(ctx, account, k.fingerprint, in.RemoteAddr, "one-time password expired")
		return Actor{}, ErrOneTimeExpired
	}
	return s.linkSignedInKey(ctx, user, k)
}

// linkSignedInKey links k to u after a good password, within the lookup
// bound: a database that doesn't answer ends the attempt with
// ErrUnavailable (the link may still land, and the next connection finds it).
func (s *Service) linkSignedInKey(ctx context.Context, u store.User, k parsedKey) (Actor, error) {
	return bounded(ctx, s.lookupTimeout, func(ctx context.Context) (Actor, error) {
		var actor Actor
		var keyID int64
		err := s.st.InTx(ctx, func(tx *store.Tx) error {
			org, err := tx.OrgByID(ctx, u.OrganizationID)
			if err != nil {
				return err
			}
			if !u.Enabled {
				return ErrDisabled
			}
			if org.Status != store.OrgActive {
				return ErrOrgSuspended
			}
			if mustChoosePassword(u.PasswordHash) {
				// The one sign-in a one-time password is good for: used up
				// here, in the same transaction, so two keys can't both
				// sign in with it.
				cur, err := tx.UserByID(ctx, u.ID)
				if err != nil {
					return storeErr(err, "user")
				}
				if cur.PasswordHash != u.PasswordHash {
					return ErrBadCredentials
				}
				cur.PasswordHash = usedOneTime
				if err := tx.UpdateUser(ctx, cur); err != nil {
					return err
				}
				u = cur
			}
			added, err := tx.AddSSHKey(ctx, store.SSHKey{OrganizationID: org.ID, UserID: u.ID,
				Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment})
			if err != nil {
				return storeErr(err, "ssh key "+k.fingerprint)
			}
			keyID = added.ID
			actor = actorFor(u, org, k.fingerprint)
			return s.audit(ctx, tx.Queries, actor, org.ID, "sshkey.link", u.Email, map[string]any{"fingerprint": k.fingerprint, "via": "sign-in"})
		})
		if err == nil {
			s.recordSignIn(ctx, keyID, u.ID)
		}
		return actor, err
	})
}

// auditSignInFailure records a failed sign-in on an account in its org's
// audit (user.signin_failed), so that its admins see attempts on their
// users: the key that tried, the address it came from, and why it failed.
// An email of no account is not audited — no org owns it, and a spray of
// made-up emails must not grow the audit — but logged. Only attempts that
// passed the throttles get here, which bounds the rows one attacker can
// write. A failure to write is logged: the person's answer stays the same.
func (s *Service) auditSignInFailure(ctx context.Context, u store.User, fingerprint, remote, reason string) {
	addr := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		addr = host
	}
	if u.ID == 0 {
		s.log.Info("sign-in failed for an email of no account", "ssh_key", fingerprint, "address", addr)
		return
	}
	_, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.audit(ctx, s.st.Queries, Actor{Role: RoleNone, Via: fingerprint}, u.OrganizationID,
			"user.signin_failed", u.Email, map[string]any{"reason": reason, "address": addr, "ssh_key": fingerprint})
	})
	if err != nil {
		s.log.Warn("audit a failed sign-in", "user", u.Email, "err", err)
	}
}
