package service

// The permission gates. Every service operation calls one of them before it
// reads or writes anything; transports may hide what a role can't do, but
// these are what enforce it.

// requireProcess allows lamb itself only: start-up work driven by the
// environment, which no person may trigger with other inputs.
func requireProcess(a Actor) error {
	if a.Role == RoleSystem {
		return nil
	}
	return ErrForbidden
}

// requireSystem allows lamb itself and system admins: platform-wide operations.
func requireSystem(a Actor) error {
	if a.Role == RoleSystem || a.Role == RoleSystemAdmin {
		return nil
	}
	return ErrForbidden
}

// requireSystemAdmin allows system admins only (a person is accountable).
func requireSystemAdmin(a Actor) error {
	if a.Role == RoleSystemAdmin {
		return nil
	}
	return ErrForbidden
}

// requireOrgAdmin allows system admins and the admins of org orgID. For an
// org admin of another org the answer is ErrNotFound, the same as for an
// org that doesn't exist, so that org ids and slugs can't be probed.
func requireOrgAdmin(a Actor, orgID int64) error {
	switch {
	case a.Role == RoleSystem || a.Role == RoleSystemAdmin:
		return nil
	case a.OrgID != orgID:
		return ErrNotFound
	case a.Role == RoleOrgAdmin:
		return nil
	}
	return ErrForbidden
}

// requireOrgMember allows anyone signed in to org orgID (and system admins).
func requireOrgMember(a Actor, orgID int64) error {
	switch {
	case a.Role == RoleSystem || a.Role == RoleSystemAdmin:
		return nil
	case a.OrgID != orgID:
		return ErrNotFound
	case a.Role == RoleOrgAdmin || a.Role == RoleMember:
		return nil
	}
	return ErrForbidden
}

// requireSelfOrOrgAdmin allows the user themselves, their org's admins and
// system admins.
func requireSelfOrOrgAdmin(a Actor, orgID, userID int64) error {
	if a.UserID != 0 && a.UserID == userID && a.Role != RoleAPIKey {
		return nil
	}
	return requireOrgAdmin(a, orgID)
}
