package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"lamb/config"
	"lamb/store"
)

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$`)

func checkSlug(slug string) (string, error) {
	s := strings.TrimSpace(slug)
	if len(s) < 2 || len(s) > 40 || !slugRE.MatchString(s) {
		return "", invalid("slug", "must be 2-40 characters of a-z, 0-9 and -, not starting or ending with -")
	}
	return s, nil
}

func (s *Service) orgView(o store.Org, users, assistants int) Org {
	v := Org{ID: o.ID, Slug: o.Slug, Name: o.Name, IsSystem: o.IsSystem, Status: o.Status,
		Users: users, Assistants: assistants, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
	if c, err := config.ParseOrg([]byte(o.Config)); err == nil {
		v.SignupEnabled = c.Features.SignupEnabled
	}
	return v
}

// orgForAdmin loads an org by slug for an actor who must administer it. An
// org admin naming another org gets the same ErrNotFound as for no org.
func (s *Service) orgForAdmin(ctx context.Context, q *store.Queries, a Actor, slug string) (store.Org, error) {
	o, err := q.OrgBySlug(ctx, strings.TrimSpace(slug))
	if errors.Is(err, store.ErrNotFound) || (err == nil && requireOrgAdmin(a, o.ID) == ErrNotFound) {
		if a.Role == RoleMember || a.Role == RoleAPIKey || a.Role == RoleNone {
			return store.Org{}, ErrForbidden
		}
		return store.Org{}, notFound("organization %q", slug)
	}
	if err != nil {
		return store.Org{}, err
	}
	if err := requireOrgAdmin(a, o.ID); err != nil {
		return store.Org{}, err
	}
	return o, nil
}

// ListOrgs lists organizations with their counts. System admins only.
func (s *Service) ListOrgs(ctx context.Context, a Actor, query string, offset, limit int) (Page[Org], error) {
	if err := requireSystemAdmin(a); err != nil {
		return Page[Org]{}, err
	}
	rows, total, err := s.st.ListOrgs(ctx, store.OrgFilter{Query: strings.TrimSpace(query), Offset: offset, Limit: limit})
	if err != nil {
		return Page[Org]{}, err
	}
	p := Page[Org]{Items: make([]Org, 0, len(rows)), Total: total}
	for _, r := range rows {
		p.Items = append(p.Items, s.orgView(r.Org, r.Users, r.Assistants))
	}
	return p, nil
}

// OrgDetail is an org with its admins and what deleting it would remove.
type OrgDetail struct {
	Org
	Admins  []User            `json:"admins"`
	Counts  store.OrgCounts   `json:"-"`
	Limits  config.Limits     `json:"limits"`
	Ceiling config.Limits     `json:"ceiling"` // set by system admins; limits stay within it
	Setup   string            `json:"active_setup"`
	Managed map[string]string `json:"managed_by_env,omitempty"`
}

// GetOrg returns an org's detail. System admins, and admins of that org.
func (s *Service) GetOrg(ctx context.Context, a Actor, slug string) (OrgDetail, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return OrgDetail{}, err
	}
	c, err := s.st.CountOrg(ctx, o.ID)
	if err != nil {
		return OrgDetail{}, err
	}
	admins, _, err := s.st.ListUsers(ctx, store.UserFilter{OrganizationID: o.ID, Role: store.RoleAdmin, Limit: 500})
	if err != nil {
		return OrgDetail{}, err
	}
	cfg, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return OrgDetail{}, err
	}
	d := OrgDetail{Org: s.orgView(o, c.Users, c.Assistants), Counts: c, Limits: cfg.Limits, Ceiling: cfg.CeilingLimits(), Setup: cfg.ActiveSetup}
	for _, u := range admins {
		d.Admins = append(d.Admins, userView(u.User, o.Slug))
	}
	if o.IsSystem {
		d.Managed = s.ManagedFields()
	}
	return d, nil
}

// NewAdmin is the admin of a new org: an existing user of the system org
// (moved into the new org), or a new user.
type NewAdmin struct {
	Email    string
	Name     string // for a new user
	SSHKey   string // optional, for a new user
	Password string // optional, for a new user; with neither, a one-time password is generated
}

// CreateOrgInput is what a system admin fills in to create an org.
type CreateOrgInput struct {
	Slug                string
	Name                string
	Admin               *NewAdmin // nil: no admin yet
	SignupKey           string    // optional
	CopySystemProviders bool
	// A template to start from (see templates.go): an export document
	// (From), or an existing org (FromOrg), whose config the new org takes
	// and, unless ConfigOnly, whose assistants its admin gets. WithSecrets
	// copies FromOrg's provider secrets too (audited in both orgs);
	// without it they are left out and listed.
	From        *Export
	FromOrg     string
	ConfigOnly  bool
	WithSecrets bool
}

// CreateOrgResult is the new org, and the admin's one-time password when
// one was generated (shown once).
type CreateOrgResult struct {
	Org           Org             `json:"organization"`
	Admin         *User           `json:"admin,omitempty"`
	AdminPassword string          `json:"admin_one_time_password,omitempty"`
	Template      *TemplateResult `json:"template,omitempty"`
}

// CreateOrg creates an organization and its admin in one transaction.
// System admins only.
func (s *Service) CreateOrg(ctx context.Context, a Actor, in CreateOrgInput) (CreateOrgResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return CreateOrgResult{}, err
	}
	slug, err := checkSlug(in.Slug)
	if err != nil {
		return CreateOrgResult{}, err
	}
	if slug == SystemSlug {
		return CreateOrgResult{}, invalid("slug", "%q is the system organization's slug", SystemSlug)
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return CreateOrgResult{}, err
	}
	var admin *adminInput
	if in.Admin != nil {
		if admin, err = s.checkNewAdmin(ctx, *in.Admin); err != nil {
			return CreateOrgResult{}, err
		}
	}
	if in.SignupKey != "" {
		if err := requireStrongSignupKey("signup_key", in.SignupKey); err != nil {
			return CreateOrgResult{}, err
		}
	}
	if err := checkTemplateInput(in); err != nil {
		return CreateOrgResult{}, err
	}
	var fileTemplate *orgTemplate
	if in.From != nil {
		if fileTemplate, err = templateFromExport(*in.From, in.ConfigOnly); err != nil {
			return CreateOrgResult{}, err
		}
	}

	var res CreateOrgResult
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		res = CreateOrgResult{}
		cfg := config.NewOrg()
		tmpl := fileTemplate
		if in.FromOrg != "" {
			var err error
			if tmpl, err = s.templateFromOrg(ctx, tx.Queries, a, in.FromOrg, in.ConfigOnly, in.WithSecrets); err != nil {
				return err
			}
		}
		if tmpl != nil {
			cfg = tmpl.cfg.Clone()
			res.Template = &TemplateResult{From: tmpl.from, ConfigOnly: in.ConfigOnly, SecretsCopied: tmpl.copied, SecretsCleared: tmpl.cleared}
			if cfg.Features.SignupEnabled && in.SignupKey == "" {
				// Signup keys are unique: the template's stays with it.
				cfg.Features.SignupEnabled = false
				res.Template.SignupDisabled = true
			}
			if err := cfg.Validate(); err != nil {
				return prefixField("from.config.", fromConfig(err))
			}
		}
		if in.CopySystemProviders {
			sys, err := tx.SystemOrg(ctx)
			if err != nil {
				return err
			}
			sysCfg, err := s.openConfig(sys)
			if err != nil {
				return err
			}
			cfg.Setups = sysCfg.Setups
			cfg.ActiveSetup = sysCfg.ActiveSetup
			markPlatformCredentials(cfg)
		}
		sealed, err := s.sealConfig(cfg)
		if err != nil {
			return err
		}
		o, err := tx.CreateOrg(ctx, store.Org{Slug: slug, Name: name, Config: sealed})
		if errors.Is(err, store.ErrConflict) {
			return conflict("slug: an organization %q already exists", slug)
		} else if err != nil {
			return err
		}
		if in.SignupKey != "" {
			if err := s.setSignupKey(ctx, tx.Queries, o.ID, in.SignupKey); err != nil {
				return err
			}
		}
		details := map[string]any{"name": name, "copy_system_providers": in.CopySystemProviders, "signup_key_set": in.SignupKey != ""}
		var adminUser *store.User
		if admin != nil {
			u, pw, err := s.assignAdmin(ctx, tx, a, o, *admin)
			if err != nil {
				return err
			}
			v := userView(u, o.Slug)
			res.Admin, res.AdminPassword, adminUser = &v, pw, &u
			details["admin"] = u.Email
		}
		res.Org = s.orgView(o, 0, 0)
		if res.Admin != nil {
			res.Org.Users = 1
		}
		if tmpl != nil {
			if err := s.applyTemplate(ctx, tx, o, cfg, tmpl, adminUser, res.Template); err != nil {
				return err
			}
			res.Org.Assistants = len(res.Template.Assistants)
			details["from"] = tmpl.from
			details["config_only"] = in.ConfigOnly
			details["assistants"] = len(res.Template.Assistants)
			details["secrets_copied"] = tmpl.copied
			if tmpl.copied {
				// The source org's admins see where their secrets went.
				if err := s.audit(ctx, tx.Queries, a, tmpl.sourceID, "config.copy", slug, map[string]any{"to": slug, "secrets_copied": true}); err != nil {
					return err
				}
			}
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "org.create", slug, details)
	})
	if err != nil {
		return CreateOrgResult{}, err
	}
	return res, nil
}

type adminInput struct {
	email, name string
	key         *parsedKey
	// For a new user: the password's hash, and the one-time password when
	// none was given (and no key either). Hashed before the transaction,
	// so the single write connection isn't held for argon2.
	hash, generated string
}

func (s *Service) checkNewAdmin(ctx context.Context, in NewAdmin) (*adminInput, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return nil, prefixField("admin.", err)
	}
	ai := &adminInput{email: email}
	if strings.TrimSpace(in.Name) != "" {
		if ai.name, err = checkName("admin.name", in.Name); err != nil {
			return nil, err
		}
	}
	if in.SSHKey != "" {
		k, err := parseSSHKey("admin.ssh_key", in.SSHKey)
		if err != nil {
			return nil, err
		}
		ai.key = &k
	}
	switch {
	case in.Password != "":
		if err := checkPassword("admin.password", in.Password); err != nil {
			return nil, err
		}
		if ai.hash, err = s.hashPassword(ctx, in.Password); err != nil {
			return nil, err
		}
	case ai.key == nil:
		if ai.generated, ai.hash, err = s.newOneTimePassword(ctx); err != nil {
			return nil, err
		}
	}
	return ai, nil
}

// assignAdmin makes the admin of a new org: an existing user of the system
// org is moved in with what they own; otherwise a new user is created. It
// returns the one-time password it generated, if any.
func (s *Service) assignAdmin(ctx context.Context, tx *store.Tx, a Actor, o store.Org, in adminInput) (store.User, string, error) {
	u, err := tx.UserByEmail(ctx, in.email)
	switch {
	case err == nil:
		sys, err := tx.SystemOrg(ctx)
		if err != nil {
			return store.User{}, "", err
		}
		if u.OrganizationID != sys.ID {
			return store.User{}, "", conflict("admin.email: %s already belongs to another organization", in.email)
		}
		if u.SystemAdmin {
			return store.User{}, "", invalid("admin.email", "%s is a system admin and must stay in %s; pick another user", in.email, SystemSlug)
		}
		if err := tx.MoveUser(ctx, u.ID, o.ID); err != nil {
			return store.User{}, "", err
		}
		u.OrganizationID, u.Role, u.Enabled = o.ID, store.RoleAdmin, true
		if err := tx.UpdateUser(ctx, u); err != nil {
			return store.User{}, "", err
		}
		if in.key != nil {
			if err := s.addKey(ctx, tx.Queries, a, u, *in.key); err != nil {
				return store.User{}, "", err
			}
		}
		return u, "", s.audit(ctx, tx.Queries, a, o.ID, "user.move", u.Email, map[string]any{"from": SystemSlug, "role": store.RoleAdmin})
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, "", err
	}
	if in.name == "" {
		return store.User{}, "", invalid("admin.name", "is required for a new user (1-100 characters)")
	}
	u, err = tx.CreateUser(ctx, store.User{OrganizationID: o.ID, Email: in.email, Name: in.name,
		PasswordHash: in.hash, Role: store.RoleAdmin, Enabled: true})
	if err != nil {
		return store.User{}, "", storeErr(err, "user "+in.email)
	}
	if err := s.audit(ctx, tx.Queries, a, o.ID, "user.create", u.Email, map[string]any{"role": store.RoleAdmin}); err != nil {
		return store.User{}, "", err
	}
	if in.key != nil {
		if err := s.addKey(ctx, tx.Queries, a, u, *in.key); err != nil {
			return store.User{}, "", err
		}
	}
	return u, in.generated, nil
}

func prefixField(prefix string, err error) error {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return &InvalidError{Field: prefix + ie.Field, Message: ie.Message}
	}
	return err
}

// UserFate is what happens to the users of a deleted org.
type UserFate int

const (
	// DeleteUsers deletes them with the org.
	DeleteUsers UserFate = iota + 1
	// MoveUsersToSystem moves them to the system org, disabled.
	MoveUsersToSystem
)

// DeleteOrgResult says what a deletion removed.
type DeleteOrgResult struct {
	Slug         string `json:"slug"`
	UsersDeleted int    `json:"users_deleted"`
	UsersMoved   int    `json:"users_moved"`
	Assistants   int    `json:"assistants_deleted"`
	APIKeys      int    `json:"api_keys_deleted"`
}

// DeleteOrg deletes an organization (never the system one) with its
// assistants, keys, usage and audit; its users are deleted or moved to the
// system org disabled, in the same transaction. System admins only.
func (s *Service) DeleteOrg(ctx context.Context, a Actor, slug string, fate UserFate) (DeleteOrgResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return DeleteOrgResult{}, err
	}
	if fate != DeleteUsers && fate != MoveUsersToSystem {
		return DeleteOrgResult{}, invalid("users", "say what happens to the organization's users: delete them, or move them to %s disabled", SystemSlug)
	}
	var res DeleteOrgResult
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		if o.IsSystem {
			return invalid("slug", "the system organization %s can't be deleted", SystemSlug)
		}
		c, err := tx.CountOrg(ctx, o.ID)
		if err != nil {
			return err
		}
		res = DeleteOrgResult{Slug: o.Slug, Assistants: c.Assistants, APIKeys: c.APIKeys}
		sys, err := tx.SystemOrg(ctx)
		if err != nil {
			return err
		}
		if fate == MoveUsersToSystem {
			res.UsersMoved, err = tx.MoveOrgUsersDisabled(ctx, o.ID, sys.ID)
		} else {
			res.UsersDeleted, err = tx.DeleteOrgUsers(ctx, o.ID)
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteSettingsWithPrefix(ctx, fmt.Sprintf("%s%d:", checkSettingPrefix, o.ID)); err != nil {
			return err
		}
		if err := tx.DeleteOrg(ctx, o.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, sys.ID, "org.delete", o.Slug, map[string]any{
			"users_deleted": res.UsersDeleted, "users_moved": res.UsersMoved,
			"assistants": res.Assistants, "keys_revoked": res.APIKeys})
	})
	return res, err
}

// SetOrgSuspended suspends or resumes an org (never the system one). A
// suspended org's users can't sign in and its keys stop working. System
// admins only.
func (s *Service) SetOrgSuspended(ctx context.Context, a Actor, slug string, suspended bool) (Org, error) {
	if err := requireSystemAdmin(a); err != nil {
		return Org{}, err
	}
	var out Org
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		if o.IsSystem {
			return invalid("slug", "the system organization %s can't be suspended", SystemSlug)
		}
		status, action := store.OrgActive, "org.resume"
		if suspended {
			status, action = store.OrgSuspended, "org.suspend"
		}
		if o.Status == status {
			out = s.orgView(o, 0, 0)
			return nil
		}
		if err := tx.SetOrgStatus(ctx, o.ID, status); err != nil {
			return err
		}
		o.Status = status
		out = s.orgView(o, 0, 0)
		return s.audit(ctx, tx.Queries, a, o.ID, action, o.Slug, nil)
	})
	return out, err
}

// RenameOrg changes an org's display name. System admins, and its admins.
func (s *Service) RenameOrg(ctx context.Context, a Actor, slug, name string) error {
	name, err := checkName("name", name)
	if err != nil {
		return err
	}
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		if o.Name == name {
			return nil
		}
		if err := tx.UpdateOrgName(ctx, o.ID, name); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "org.rename", o.Slug, map[string]any{"old": o.Name, "new": name})
	})
}

// OrgConfig returns an org's config, secrets masked unless withSecrets
// (audited; the platform's credentials stay masked for org admins). System
// admins, and its admins.
func (s *Service) OrgConfig(ctx context.Context, a Actor, slug string, withSecrets bool) (*config.Org, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return nil, err
	}
	c, err := s.openConfig(o)
	if err != nil {
		return nil, err
	}
	if !withSecrets {
		return c.Masked(), nil
	}
	if err := s.audit(ctx, s.st.Queries, a, o.ID, "config.reveal", o.Slug, nil); err != nil {
		return nil, err
	}
	hidePlatformCredentials(a, c)
	return c, nil
}

// SetOrgConfig validates and stores an org's whole config. A secret left as
// its masked form ("sk-…a1b2") keeps the stored value, so a config read
// without secrets can be edited and written back. For the system org,
// fields managed by the environment can't be changed here. With dryRun
// nothing is written. System admins, and its admins.
func (s *Service) SetOrgConfig(ctx context.Context, a Actor, slug string, next *config.Org, dryRun bool) ([]string, error) {
	if next == nil {
		return nil, invalid("config", "is required")
	}
	var changed []string
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		cur, err := s.openConfig(o)
		if err != nil {
			return err
		}
		next = next.Clone()
		if err := checkConfigChange(a, cur, next); err != nil {
			return err
		}
		if err := s.checkWebhook(cur, next); err != nil {
			return err
		}
		changed = diffPaths(cur, next)
		if o.IsSystem {
			managed := s.ManagedFields()
			for _, p := range changed {
				if v, ok := managed[p]; ok {
					return invalid(p, "is managed by .env (%s); change it there and sync", v)
				}
			}
		}
		if dryRun || len(changed) == 0 {
			return nil
		}
		sealed, err := s.sealConfig(next)
		if err != nil {
			return err
		}
		if err := tx.UpdateOrgConfig(ctx, o.ID, sealed); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "config.update", o.Slug, map[string]any{"changed": changed})
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// keepMaskedSecrets puts back stored secrets that next carries masked. A
// masked value with no stored secret of that mask at its path (a config
// read from another org, a renamed setup) is refused: stored as is, it
// would replace the secret with its mask.
func keepMaskedSecrets(cur, next *config.Org) error {
	stored := map[string]string{}
	_ = cur.MapSecrets(func(path, v string) (string, error) { stored[path] = v; return v, nil })
	return next.MapSecrets(func(path, v string) (string, error) {
		if old, ok := stored[path]; ok && v == config.MaskSecret(path, old) {
			return old, nil
		}
		if strings.Contains(v, "…") {
			return "", invalid(path, "is a masked secret that matches no stored one here; enter the whole secret")
		}
		return v, nil
	})
}

// diffPaths lists the leaf paths whose values differ between a and b.
// Secrets are compared but named only by path.
func diffPaths(a, b *config.Org) []string {
	fa, fb := config.Flatten(a), config.Flatten(b)
	var out []string
	for k, v := range fb {
		if fa[k] != v {
			out = append(out, k)
		}
	}
	for k := range fa {
		if _, ok := fb[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// OpenAsOrgAdmin lets a system admin work in an org with its admin screens.
// The returned actor is an org admin of that org only; its audit events
// name the system admin. Audited.
func (s *Service) OpenAsOrgAdmin(ctx context.Context, a Actor, slug string) (Actor, error) {
	if err := requireSystemAdmin(a); err != nil {
		return Actor{}, err
	}
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Actor{}, err
	}
	if err := s.audit(ctx, s.st.Queries, a, o.ID, "org.open_as_admin", o.Slug, nil); err != nil {
		return Actor{}, err
	}
	return Actor{Role: RoleOrgAdmin, UserID: a.UserID, Email: a.Email, OrgID: o.ID, OrgSlug: o.Slug,
		Via: a.Via, ActingSystemAdmin: true}, nil
}
