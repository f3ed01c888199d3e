package service

import (
	"context"
	"errors"
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

func newSignInLimits() signInLimits {
	return signInLimits{
		failures: newWindow(signInMaxFailures, signInWindow),
		addrs:    newWindow(signInPerMinute, time.Minute),
	}
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
	byKey, byEmail, byPair, byAddr := "key:"+k.fingerprint, "email:"+email, "pair:"+email+" "+addr, "addr:"+addr
	f := s.signIns.failures
	wait := max(f.wait(byKey, now), f.waitAt(byEmail, now, signInEmailCeiling), f.waitAt(byAddr, now, signInAddrFailures))
	if f.count(byEmail, now) >= signInMaxFailures {
		wait = max(wait, f.waitAt(byPair, now, signInLockedTries))
	}
	if wait > 0 {
		return Actor{}, &ThrottledError{RetryAfter: wait}
	}
	// Counted last, so that attempts refused above cost the address
	// nothing; counted before any hashing, so that parallel attempts
	// can't all pass the check.
	if wait := s.signIns.addrs.take(addr, now); wait > 0 {
		return Actor{}, &ThrottledError{RetryAfter: wait}
	}
	fail := func() (Actor, error) {
		f.add(byKey, now)
		f.add(byEmail, now)
		f.add(byPair, now)
		f.add(byAddr, now)
		return Actor{}, ErrBadCredentials
	}
	// An unknown email, or an account without a password, costs the same
	// argon2 run as a wrong password, so timing tells nothing.
	hash, user, oneTime, expires := dummyHash, store.User{}, false, time.Time{}
	if norm, err := normalizeEmail(in.Email); err == nil {
		u, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (store.User, error) {
			return s.st.UserByEmail(ctx, norm)
		})
		switch {
		case err == nil:
			if h, ot, exp := splitStored(u.PasswordHash); h != "" {
				hash, user, oneTime, expires = h, u, ot, exp
			}
		case !errors.Is(err, store.ErrNotFound):
			return Actor{}, err
		}
	}
	ok, err := s.verifyPassword(ctx, hash, in.Password)
	if err != nil {
		return Actor{}, err // busy: not a failure of the person
	}
	if !ok || hash == dummyHash {
		return fail()
	}
	f.reset(byKey)
	f.reset(byEmail)
	f.reset(byPair)
	if oneTime && !now.Before(expires) {
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
