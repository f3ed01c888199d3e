package service

import (
	"strconv"
	"strings"
	"time"

	"lamb/store"
)

// Org is an organization as the transports see it.
type Org struct {
	ID            int64     `json:"id"`
	Slug          string    `json:"slug"`
	Name          string    `json:"name"`
	IsSystem      bool      `json:"is_system"`
	Status        string    `json:"status"`
	SignupEnabled bool      `json:"signup_enabled"`
	Users         int       `json:"users"`
	Assistants    int       `json:"assistants"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// User is a user as the transports see it (never the password hash).
type User struct {
	ID          int64     `json:"id"`
	OrgSlug     string    `json:"organization"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	SystemAdmin bool      `json:"system_admin"`
	Enabled     bool      `json:"enabled"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	LastSeenAt  time.Time `json:"last_seen_at,omitzero"` // the last sign-in, SSH command or console
	// FailedSignIns counts failed sign-ins on the account in the last
	// FailedSignInDays days (user show, GetUser only).
	FailedSignIns      int       `json:"failed_sign_ins,omitempty"`
	LastFailedSignInAt time.Time `json:"last_failed_sign_in_at,omitzero"`
}

// FailedSignInDays is how far back GetUser counts failed sign-ins.
const FailedSignInDays = 30

// SSHKey is a user's SSH public key.
type SSHKey struct {
	Fingerprint string    `json:"fingerprint"`
	Type        string    `json:"type"` // ed25519, rsa, ecdsa…
	PublicKey   string    `json:"public_key"`
	Comment     string    `json:"comment"`
	UserEmail   string    `json:"user"`
	CreatedAt   time.Time `json:"created_at"`
	LastUsedAt  time.Time `json:"last_used_at,omitzero"`
}

// Page is one page of a list and the total that match.
type Page[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func userView(u store.User, orgSlug string) User {
	return User{ID: u.ID, OrgSlug: orgSlug, Email: u.Email, Name: u.Name, Role: u.Role,
		SystemAdmin: u.SystemAdmin, Enabled: u.Enabled, HasPassword: u.PasswordHash != "" && u.PasswordHash != usedOneTime,
		CreatedAt: u.CreatedAt, LastSeenAt: u.LastSeenAt}
}

func sshKeyView(k store.SSHKey, email string) SSHKey {
	return SSHKey{Fingerprint: k.Fingerprint, Type: keyType(k.PublicKey), PublicKey: k.PublicKey, Comment: k.Comment,
		UserEmail: email, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}

// keyType names an authorized-key line's algorithm as people know it:
// "ssh-ed25519 AAAA…" is ed25519, "ecdsa-sha2-nistp256 …" ecdsa.
func keyType(line string) string {
	alg, _, _ := strings.Cut(line, " ")
	alg, _, _ = strings.Cut(alg, "@")
	alg, security := strings.CutPrefix(alg, "sk-")
	alg = strings.TrimPrefix(alg, "ssh-")
	if strings.HasPrefix(alg, "ecdsa-") {
		alg = "ecdsa"
	}
	if security {
		alg += " (security key)"
	}
	return alg
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
