package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"lamb/secret"
	"lamb/store"
)

// APIKey is an API key as listed (never the key itself).
type APIKey struct {
	ID         int64     `json:"id"`
	OrgSlug    string    `json:"organization"`
	Owner      string    `json:"owner,omitempty"` // "" for an org key
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// NewAPIKey is a created key: Key is shown once and never stored.
type NewAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// apiKeyPrefix starts every key, so that leaked keys are easy to spot.
const apiKeyPrefix = "lamb_"

// HashAPIKey is the stored form of a key: SHA-256 of the whole key, hex.
// Keys are 32 random bytes, so a fast hash is enough.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func apiKeyView(k store.APIKey, orgSlug, owner string) APIKey {
	return APIKey{ID: k.ID, OrgSlug: orgSlug, Owner: owner, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}

// CreateAPIKey creates a key. personal: a key of the actor that calls only
// their own assistants (any signed-in user). Otherwise an org key that calls
// every assistant of the org (its admins and system admins; orgSlug ""
// means the actor's org). expiresAt zero: no expiry.
func (s *Service) CreateAPIKey(ctx context.Context, a Actor, orgSlug, name string, personal bool, expiresAt time.Time) (NewAPIKey, error) {
	keys, err := s.createAPIKeys(ctx, a, NewAPIKeysInput{OrgSlug: orgSlug, Name: name, Count: 1, Personal: personal, ExpiresAt: expiresAt})
	if err != nil {
		return NewAPIKey{}, err
	}
	return keys[0], nil
}

// MaxAPIKeysAtOnce bounds CreateAPIKeys.
const MaxAPIKeysAtOnce = 1000

// NewAPIKeysInput asks for Count keys at once (one per course of an LMS,
// say). With a Count above 1 they are named Name-1 … Name-Count.
type NewAPIKeysInput struct {
	OrgSlug   string
	Name      string
	Count     int
	Personal  bool
	ExpiresAt time.Time
}

// CreateAPIKeys creates in.Count keys in one transaction, by the rules of
// CreateAPIKey; each is shown once.
func (s *Service) CreateAPIKeys(ctx context.Context, a Actor, in NewAPIKeysInput) ([]NewAPIKey, error) {
	if in.Count < 1 || in.Count > MaxAPIKeysAtOnce {
		return nil, invalid("count", "must be 1-%d, got %d", MaxAPIKeysAtOnce, in.Count)
	}
	return s.createAPIKeys(ctx, a, in)
}

func (s *Service) createAPIKeys(ctx context.Context, a Actor, in NewAPIKeysInput) ([]NewAPIKey, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return nil, ErrForbidden
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return nil, err
	}
	names := []string{name}
	if in.Count > 1 {
		names = make([]string, in.Count)
		for i := range names {
			if names[i], err = checkName("name", fmt.Sprintf("%s-%d", name, i+1)); err != nil {
				return nil, invalid("name", "with the number added (%s-%d) it is longer than 100 characters; choose a shorter name", name, in.Count)
			}
		}
	}
	if !in.ExpiresAt.IsZero() && !in.ExpiresAt.After(s.now()) {
		return nil, invalid("expires", "must be in the future")
	}
	keys := make([]string, len(names))
	for i := range keys {
		random, err := secret.Token(43, secret.Base62) // 43 base62 characters ≈ 256 bits
		if err != nil {
			return nil, err
		}
		keys[i] = apiKeyPrefix + random
	}
	var out []NewAPIKey
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		out = make([]NewAPIKey, 0, len(keys))
		var o store.Org
		var userID int64
		owner, orgSlug := "", in.OrgSlug
		if in.Personal {
			if a.ActingSystemAdmin {
				return invalid("personal", "you are working in %s as a system admin; create an org key here, or a personal key from your own console", a.OrgSlug)
			}
			if orgSlug != "" && orgSlug != a.OrgSlug {
				return invalid("org", "personal keys belong to your own organization")
			}
			u, err := tx.UserByID(ctx, a.UserID)
			if err != nil {
				return storeErr(err, "user")
			}
			if o, err = tx.OrgByID(ctx, u.OrganizationID); err != nil {
				return err
			}
			userID, owner = u.ID, u.Email
		} else {
			if orgSlug == "" {
				orgSlug = a.OrgSlug
			}
			var err error
			if o, err = s.orgForAdmin(ctx, tx.Queries, a, orgSlug); err != nil {
				return err
			}
		}
		for i, key := range keys {
			k, err := tx.CreateAPIKey(ctx, store.APIKey{OrganizationID: o.ID, UserID: userID, Name: names[i],
				Prefix: key[:8], Hash: HashAPIKey(key), ExpiresAt: in.ExpiresAt})
			if err != nil {
				return err
			}
			out = append(out, NewAPIKey{APIKey: apiKeyView(k, o.Slug, owner), Key: key})
			if err := s.audit(ctx, tx.Queries, a, o.ID, "apikey.create", k.Name, map[string]any{"id": k.ID, "personal": in.Personal, "prefix": k.Prefix}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListAPIKeys lists keys: with personal, the actor's own; otherwise every
// key of the org (admins).
func (s *Service) ListAPIKeys(ctx context.Context, a Actor, orgSlug string, personal bool, offset, limit int) (Page[APIKey], error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return Page[APIKey]{}, ErrForbidden
	}
	f := store.APIKeyFilter{Offset: offset, Limit: limit}
	if personal {
		f.OrganizationID, f.UserID = a.OrgID, a.UserID
	} else {
		if orgSlug == "" {
			orgSlug = a.OrgSlug
		}
		o, err := s.orgForAdmin(ctx, s.st.Queries, a, orgSlug)
		if err != nil {
			return Page[APIKey]{}, err
		}
		f.OrganizationID = o.ID
	}
	rows, total, err := s.st.ListAPIKeys(ctx, f)
	if err != nil {
		return Page[APIKey]{}, err
	}
	p := Page[APIKey]{Items: make([]APIKey, 0, len(rows)), Total: total}
	for _, r := range rows {
		p.Items = append(p.Items, apiKeyView(r.APIKey, r.OrgSlug, r.OwnerEmail))
	}
	return p, nil
}

// RevokeAPIKey revokes a key: the actor's own personal key, or any key of an
// org the actor administers. Others get not found.
func (s *Service) RevokeAPIKey(ctx context.Context, a Actor, id int64) error {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return ErrForbidden
	}
	nf := notFound("api key %d", id)
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		k, err := tx.APIKeyByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nf
		} else if err != nil {
			return err
		}
		if k.UserID != a.UserID && requireOrgAdmin(a, k.OrganizationID) != nil {
			return nf
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		if err := tx.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, k.OrganizationID, "apikey.revoke", k.Name, map[string]any{"id": id, "prefix": k.Prefix})
	})
}

// looksLikeAPIKey is a cheap check before a database lookup.
func looksLikeAPIKey(k string) bool {
	return strings.HasPrefix(k, apiKeyPrefix) && len(k) > len(apiKeyPrefix)+20 && len(k) < 200
}
