package service

import "fmt"

// Role is what an actor may do.
type Role int

// The roles, from the most to the least powerful.
const (
	RoleNone        Role = iota // nobody: unauthenticated
	RoleSystem                  // lamb itself: startup sync and bootstrap
	RoleSystemAdmin             // a system admin of the platform
	RoleOrgAdmin                // an admin of one organization
	RoleMember                  // a member of one organization
	RoleAPIKey                  // an API key calling assistants
)

func (r Role) String() string {
	switch r {
	case RoleSystem:
		return "system"
	case RoleSystemAdmin:
		return "system admin"
	case RoleOrgAdmin:
		return "org admin"
	case RoleMember:
		return "member"
	case RoleAPIKey:
		return "api key"
	}
	return "none"
}

// Actor is who performs an operation. Every service method takes one and
// checks it; the transports only build it.
type Actor struct {
	Role     Role
	UserID   int64  // the signed-in user, or a personal key's user
	Email    string // the signed-in user's email
	OrgID    int64  // the organization the actor belongs to
	OrgSlug  string
	KeyID    int64  // the API key, for RoleAPIKey
	Personal bool   // a personal API key (limited to its user's assistants)
	Via      string // how the actor authenticated: an SSH key fingerprint, an API key prefix
	// ActingSystemAdmin marks a system admin working in an org as its admin
	// ("open as org admin").
	ActingSystemAdmin bool
	// MustChoosePassword: the account signed in with a one-time password
	// and hasn't chosen its own yet; its session does that first.
	MustChoosePassword bool
}

// SystemActor is lamb acting on its own (startup sync, bootstrap).
func SystemActor() Actor { return Actor{Role: RoleSystem} }

// Display names the actor in audit events and logs.
func (a Actor) Display() string {
	switch {
	case a.Role == RoleSystem:
		return "system"
	case a.Email != "" && a.ActingSystemAdmin:
		return a.Email + " (system admin)"
	case a.Email != "":
		return a.Email
	case a.Via != "":
		return a.Via
	}
	return a.Role.String()
}

func (a Actor) String() string {
	return fmt.Sprintf("%s (%s of %s)", a.Display(), a.Role, a.OrgSlug)
}
