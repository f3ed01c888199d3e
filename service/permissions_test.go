package service

import (
	"errors"
	"testing"
)

// The gates every operation builds on, for every role.
func TestPermissionGates(t *testing.T) {
	const orgA, orgB = 10, 20
	actors := map[string]Actor{
		"system":       SystemActor(),
		"system admin": {Role: RoleSystemAdmin, UserID: 1, OrgID: 1},
		"org admin A":  {Role: RoleOrgAdmin, UserID: 2, OrgID: orgA},
		"org admin B":  {Role: RoleOrgAdmin, UserID: 3, OrgID: orgB},
		"member A":     {Role: RoleMember, UserID: 4, OrgID: orgA},
		"api key A":    {Role: RoleAPIKey, KeyID: 5, OrgID: orgA},
		"personal key": {Role: RoleAPIKey, KeyID: 6, OrgID: orgA, UserID: 4, Personal: true},
		"unknown":      {},
	}
	type gate struct {
		name string
		fn   func(Actor) error
	}
	gates := []gate{
		{"process", requireProcess},
		{"system", requireSystem},
		{"system admin", requireSystemAdmin},
		{"org admin of A", func(a Actor) error { return requireOrgAdmin(a, orgA) }},
		{"member of A", func(a Actor) error { return requireOrgMember(a, orgA) }},
		{"self (user 4 of A) or admin", func(a Actor) error { return requireSelfOrOrgAdmin(a, orgA, 4) }},
	}
	// want[gate][actor] = nil (allowed), ErrForbidden or ErrNotFound.
	want := map[string]map[string]error{
		"process": {"system": nil, "system admin": ErrForbidden, "org admin A": ErrForbidden, "org admin B": ErrForbidden,
			"member A": ErrForbidden, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrForbidden},
		"system": {"system": nil, "system admin": nil, "org admin A": ErrForbidden, "org admin B": ErrForbidden,
			"member A": ErrForbidden, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrForbidden},
		"system admin": {"system": ErrForbidden, "system admin": nil, "org admin A": ErrForbidden, "org admin B": ErrForbidden,
			"member A": ErrForbidden, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrForbidden},
		"org admin of A": {"system": nil, "system admin": nil, "org admin A": nil, "org admin B": ErrNotFound,
			"member A": ErrForbidden, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrNotFound},
		"member of A": {"system": nil, "system admin": nil, "org admin A": nil, "org admin B": ErrNotFound,
			"member A": nil, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrNotFound},
		"self (user 4 of A) or admin": {"system": nil, "system admin": nil, "org admin A": nil, "org admin B": ErrNotFound,
			"member A": nil, "api key A": ErrForbidden, "personal key": ErrForbidden, "unknown": ErrNotFound},
	}
	for _, g := range gates {
		for name, a := range actors {
			got := g.fn(a)
			w := want[g.name][name]
			if (w == nil) != (got == nil) || (w != nil && !errors.Is(got, w)) {
				t.Errorf("gate %q, actor %q: got %v, want %v", g.name, name, got, w)
			}
		}
	}
}
