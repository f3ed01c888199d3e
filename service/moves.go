package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/store"
)

// People move between organizations: one user (MoveUser), or every user of
// an org that is merged into another (MergeOrgs). System admins only: the
// admins of either org see only their side.

// MoveUserInput says who moves where.
type MoveUserInput struct {
	Email string
	To    string // the slug of the org they join
	Role  string // their role there: member (default) or admin
	// WithAssistants: their assistants move along. Otherwise an admin of
	// the org they leave gets them, so that callers of those assistants
	// keep working there.
	WithAssistants bool
}

// MovedAssistant is an assistant that moved with its owner, or went to an
// admin of the org its owner left.
type MovedAssistant struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Was is the name it had when a name of its new owner made it take a
	// number.
	Was string `json:"renamed_from,omitempty"`
}

// RevokedKey is an API key revoked by a move or a merge.
type RevokedKey struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Owner  string `json:"owner,omitempty"` // "" for an org key
}

// MoveUserResult says what a move did.
type MoveUserResult struct {
	User                 User             `json:"user"`
	From                 string           `json:"from"`
	To                   string           `json:"to"`
	AssistantsMoved      []MovedAssistant `json:"assistants_moved"`
	AssistantsReassigned []MovedAssistant `json:"assistants_reassigned"`
	KeysRevoked          []RevokedKey     `json:"api_keys_revoked"`
	// Warnings name what an admin of the new org should look at: moved
	// assistants whose setup, provider or collections it may not have.
	Warnings []string `json:"warnings,omitempty"`
}

// MoveUser moves a user to another organization in one transaction: their
// SSH keys come along; their assistants move along (WithAssistants) or go
// to an enabled admin of the org they leave; their personal API keys are
// revoked (a key of one org must not call another's assistants) and
// listed; their usage history stays with the org it happened in. Audited
// in both orgs. A system admin stays in lamb; the last enabled admin of an
// org stays until another is made. The new org's max_users (and, with
// WithAssistants, its assistant limits) hold. System admins only.
func (s *Service) MoveUser(ctx context.Context, a Actor, in MoveUserInput) (MoveUserResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return MoveUserResult{}, err
	}
	role := strings.TrimSpace(in.Role)
	if role == "" {
		role = store.RoleMember
	}
	if role != store.RoleMember && role != store.RoleAdmin {
		return MoveUserResult{}, invalid("role", "must be admin or member, got %q", in.Role)
	}
	var res MoveUserResult
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		res = MoveUserResult{AssistantsMoved: []MovedAssistant{}, AssistantsReassigned: []MovedAssistant{}, KeysRevoked: []RevokedKey{}}
		u, err := tx.UserByEmail(ctx, normalizeLoose(in.Email))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("user %q", in.Email)
		} else if err != nil {
			return err
		}
		from, err := tx.OrgByID(ctx, u.OrganizationID)
		if err != nil {
			return err
		}
		to, err := tx.OrgBySlug(ctx, strings.TrimSpace(in.To))
		if errors.Is(err, store.ErrNotFound) {
			return notFound("organization %q", in.To)
		} else if err != nil {
			return err
		}
		res.From, res.To = from.Slug, to.Slug
		switch {
		case to.ID == from.ID:
			return invalid("to", "%s already belongs to %s", u.Email, to.Slug)
		case u.SystemAdmin:
			return invalid("email", "%s is a system admin, who belongs to %s; remove their system admin rights first (user set-system-admin %s off)", u.Email, SystemSlug, u.Email)
		case u.ID == a.UserID:
			return invalid("email", "you can't move your own account; ask another system admin")
		}
		if u.Enabled && u.Role == store.RoleAdmin {
			n, err := tx.CountEnabledAdmins(ctx, from.ID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return invalid("email", "%s is the last enabled admin of %s; make another user admin there first", u.Email, from.Slug)
			}
		}
		if err := s.checkMaxUsersFor(ctx, tx.Queries, to, 1); err != nil {
			return err
		}
		owned, err := tx.AssistantsOwnedBy(ctx, u.ID)
		if err != nil {
			return err
		}
		if in.WithAssistants {
			err = s.moveAssistantsAlong(ctx, tx, u, to, owned, &res)
		} else {
			err = s.reassignAssistants(ctx, tx, u, from, owned, &res)
		}
		if err != nil {
			return err
		}
		keys, err := tx.ActivePersonalKeys(ctx, u.ID)
		if err != nil {
			return err
		}
		revoked := make([]int64, 0, len(keys))
		for _, k := range keys {
			if err := tx.RevokeAPIKey(ctx, k.ID); err != nil {
				return err
			}
			res.KeysRevoked = append(res.KeysRevoked, RevokedKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Owner: u.Email})
			revoked = append(revoked, k.ID)
		}
		if err := tx.MoveUserOnly(ctx, u.ID, to.ID, role); err != nil {
			return err
		}
		u.OrganizationID, u.Role = to.ID, role
		res.User = userView(u, to.Slug)
		details := map[string]any{"from": from.Slug, "to": to.Slug, "role": role,
			"assistants_moved": len(res.AssistantsMoved), "assistants_reassigned": len(res.AssistantsReassigned), "api_keys_revoked": revoked}
		if len(res.AssistantsReassigned) > 0 {
			details["assistants_reassigned_to"] = res.AssistantsReassigned[0].Owner
		}
		if err := s.audit(ctx, tx.Queries, a, from.ID, "user.move", u.Email, details); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, to.ID, "user.move", u.Email, details)
	})
	if err != nil {
		return MoveUserResult{}, err
	}
	return res, nil
}

// moveAssistantsAlong moves a user's assistants into org to, within its
// assistant limits, and warns of what to may lack for them.
func (s *Service) moveAssistantsAlong(ctx context.Context, tx *store.Tx, u store.User, to store.Org, owned []store.Assistant, res *MoveUserResult) error {
	if len(owned) == 0 {
		return nil
	}
	cfg, err := s.openConfig(to)
	if err != nil {
		return err
	}
	l := cfg.EffectiveLimits()
	orgCount, _, err := tx.CountAssistants(ctx, to.ID, u.ID)
	if err != nil {
		return err
	}
	if l.MaxAssistants != config.Unlimited && int64(orgCount+len(owned)) > l.MaxAssistants {
		return &LimitError{Limit: "max_assistants", Message: fmt.Sprintf("%s has %s of its limit of %d and %s owns %d: move them without --with-assistants (an admin of the old org gets them), or raise limits.max_assistants of %s",
			to.Slug, plural.N(orgCount, "assistant", "assistants"), l.MaxAssistants, u.Email, len(owned), to.Slug)}
	}
	if l.MaxAssistantsPerUser != config.Unlimited && int64(len(owned)) > l.MaxAssistantsPerUser {
		return &LimitError{Limit: "max_assistants_per_user", Message: fmt.Sprintf("%s owns %d assistants and %s allows %d per user: move them without --with-assistants, or raise limits.max_assistants_per_user of %s",
			u.Email, len(owned), to.Slug, l.MaxAssistantsPerUser, to.Slug)}
	}
	for _, as := range owned {
		if err := tx.MoveAssistant(ctx, as.ID, to.ID, u.ID, as.Name); err != nil {
			return err
		}
		res.AssistantsMoved = append(res.AssistantsMoved, MovedAssistant{ID: as.ID, Name: as.Name, Owner: u.Email})
		res.Warnings = append(res.Warnings, assistantWarnings(as, to.Slug, cfg)...)
	}
	return nil
}

// assistantWarnings says what org slug (config cfg) lacks for an assistant
// that moved in: it answers once an admin there provides it.
func assistantWarnings(as store.Assistant, slug string, cfg *config.Org) []string {
	setup := as.Setup
	if setup == "" {
		setup = cfg.ActiveSetup
	}
	st, ok := cfg.Setups[setup]
	if !ok {
		return []string{fmt.Sprintf("assistant %d (%s) is pinned to setup %q, which %s lacks: add it, or edit the assistant", as.ID, as.Name, setup, slug)}
	}
	var out []string
	if p := st.Providers[as.Provider]; p == nil || !p.Enabled {
		out = append(out, fmt.Sprintf("assistant %d (%s) uses %s, which setup %s of %s doesn't enable: it answers once an admin there does", as.ID, as.Name, as.Provider, setup, slug))
	}
	if as.KnowledgeBase != nil && len(as.KnowledgeBase.Collections) > 0 {
		out = append(out, fmt.Sprintf("assistant %d (%s) draws on knowledge-base collections, now looked up on %s's knowledge base: check they exist there", as.ID, as.Name, slug))
	}
	return out
}

// reassignAssistants gives a leaving user's assistants to an enabled admin
// of the org they leave, numbering names that admin already holds.
func (s *Service) reassignAssistants(ctx context.Context, tx *store.Tx, u store.User, from store.Org, owned []store.Assistant, res *MoveUserResult) error {
	if len(owned) == 0 {
		return nil
	}
	admins, _, err := tx.ListUsers(ctx, store.UserFilter{OrganizationID: from.ID, Role: store.RoleAdmin, Limit: 500})
	if err != nil {
		return err
	}
	var heir *store.User
	for _, ad := range admins {
		if ad.Enabled && ad.ID != u.ID {
			heir = &ad.User
			break
		}
	}
	if heir == nil {
		return invalid("with_assistants", "%s owns %s and %s has no other enabled admin to take them: move them along (--with-assistants), or make someone admin of %s first",
			u.Email, plural.N(len(owned), "assistant", "assistants"), from.Slug, from.Slug)
	}
	held, err := tx.AssistantsOwnedBy(ctx, heir.ID)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, as := range held {
		names[as.Name] = true
	}
	for _, as := range owned {
		name := freeName(as.Name, names)
		names[name] = true
		if err := tx.MoveAssistant(ctx, as.ID, from.ID, heir.ID, name); err != nil {
			return err
		}
		m := MovedAssistant{ID: as.ID, Name: name, Owner: heir.Email}
		if name != as.Name {
			m.Was = as.Name
		}
		res.AssistantsReassigned = append(res.AssistantsReassigned, m)
	}
	return nil
}

// MergeResult says what a merge did (or, dry, would do).
type MergeResult struct {
	From       string `json:"from"`
	Into       string `json:"into"`
	Users      int    `json:"users"`
	Assistants int    `json:"assistants"`
	// FormerAdmins were admins of From; they are members of Into now.
	FormerAdmins []string     `json:"former_admins"`
	KeysRevoked  []RevokedKey `json:"api_keys_revoked"`
	DryRun       bool         `json:"dry_run"`
}

// MergeOrgs moves every user of org src into dst, as members, with their
// SSH keys and assistants, revokes src's API keys (an org key of src must
// not call dst's assistants), moves src's usage history and audit trail
// into dst so that nothing is lost, then deletes src — all in one
// transaction. dst's max_users and max_assistants count the newcomers.
// With dryRun it says what would happen and changes nothing. System admins
// only; the system org can't be merged away.
func (s *Service) MergeOrgs(ctx context.Context, a Actor, src, dst string, dryRun bool) (MergeResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return MergeResult{}, err
	}
	var (
		res            MergeResult
		srcID, dstID   int64
		srcMonthTokens int64
	)
	errDry := errors.New("dry run")
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		res = MergeResult{DryRun: dryRun, FormerAdmins: []string{}, KeysRevoked: []RevokedKey{}}
		from, err := s.orgForAdmin(ctx, tx.Queries, a, src)
		if err != nil {
			return err
		}
		into, err := s.orgForAdmin(ctx, tx.Queries, a, dst)
		if err != nil {
			return err
		}
		res.From, res.Into, srcID, dstID = from.Slug, into.Slug, from.ID, into.ID
		switch {
		case from.ID == into.ID:
			return invalid("into", "an organization can't be merged into itself")
		case from.IsSystem:
			return invalid("from", "the system organization %s can't be merged away", SystemSlug)
		}
		c, err := tx.CountOrg(ctx, from.ID)
		if err != nil {
			return err
		}
		res.Users, res.Assistants = c.Users, c.Assistants
		if err := s.checkMaxUsersFor(ctx, tx.Queries, into, c.Users); err != nil {
			return err
		}
		cfg, err := s.openConfig(into)
		if err != nil {
			return err
		}
		if l := cfg.EffectiveLimits().MaxAssistants; l != config.Unlimited {
			n, _, err := tx.CountAssistants(ctx, into.ID, 0)
			if err != nil {
				return err
			}
			if int64(n+c.Assistants) > l {
				return &LimitError{Limit: "max_assistants", Message: fmt.Sprintf("%s has %d assistants and %s %d: together they pass its limits.max_assistants of %d; raise it first",
					into.Slug, n, from.Slug, c.Assistants, l)}
			}
		}
		admins, _, err := tx.ListUsers(ctx, store.UserFilter{OrganizationID: from.ID, Role: store.RoleAdmin, Limit: 500})
		if err != nil {
			return err
		}
		for _, ad := range admins {
			res.FormerAdmins = append(res.FormerAdmins, ad.Email)
		}
		keys, err := tx.ActiveOrgKeys(ctx, from.ID)
		if err != nil {
			return err
		}
		owners := map[int64]string{}
		for _, k := range keys {
			rk := RevokedKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix}
			if k.UserID != 0 {
				if owners[k.UserID] == "" {
					if o, err := tx.UserByID(ctx, k.UserID); err == nil {
						owners[k.UserID] = o.Email
					}
				}
				rk.Owner = owners[k.UserID]
			}
			res.KeysRevoked = append(res.KeysRevoked, rk)
		}
		now := s.now()
		month, err := tx.SumUsage(ctx, store.UsageFilter{OrganizationID: from.ID, From: store.Day(monthStart(now)), To: store.Day(now)})
		if err != nil {
			return err
		}
		srcMonthTokens = month.Tokens()
		if err := tx.MergeOrgRows(ctx, from.ID, into.ID); err != nil {
			return err
		}
		if err := tx.DeleteSettingsWithPrefix(ctx, fmt.Sprintf("%s%d:", checkSettingPrefix, from.ID)); err != nil {
			return err
		}
		if err := tx.DeleteOrg(ctx, from.ID); err != nil {
			return err
		}
		if dryRun {
			return errDry
		}
		revoked := make([]int64, len(res.KeysRevoked))
		for i, k := range res.KeysRevoked {
			revoked[i] = k.ID
		}
		return s.audit(ctx, tx.Queries, a, into.ID, "org.merge", from.Slug, map[string]any{"from": from.Slug, "into": into.Slug,
			"users": res.Users, "assistants": res.Assistants, "former_admins": res.FormerAdmins, "api_keys_revoked": revoked})
	})
	if errors.Is(err, errDry) {
		return res, nil
	}
	if err != nil {
		return MergeResult{}, err
	}
	if m, ok := s.limits.(*memoryLimits); ok {
		m.absorb(srcID, dstID, monthKey(s.now()), srcMonthTokens)
	}
	return res, nil
}

// absorb carries the month budgets of org src, merged into dst, over to
// dst: what src spent this month counts toward dst's budget, as it does
// once dst's ledger is next read from the rollups that now hold src's
// usage. (Shared limits keep their ledgers in the database, which the
// merge updated in its transaction.)
func (lm *memoryLimits) absorb(src, dst int64, month int, srcTokens int64) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if led := lm.months[ledgerKey{src, 0, month}]; led != nil {
		srcTokens = led.used // it counts usage still waiting for the writer
	}
	for k, led := range lm.months {
		if k.org != src {
			continue
		}
		delete(lm.months, k)
		if k.user != 0 {
			if d := lm.months[ledgerKey{dst, k.user, k.month}]; d != nil {
				d.used += led.used
			}
		}
	}
	if d := lm.months[ledgerKey{dst, 0, month}]; d != nil {
		d.used += srcTokens
	}
	delete(lm.minute, src)
}
