package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/store"
)

// ExportVersion is the format of an org export.
const ExportVersion = 1

// Export is an organization as a portable document: its config, signup
// state, users with their SSH keys, and assistants. Passwords, API keys and
// usage are not part of it; secrets (provider keys, tokens, the signup key)
// only with withSecrets.
type Export struct {
	Version      int               `json:"version"`
	Organization ExportOrg         `json:"organization"`
	Config       json.RawMessage   `json:"config"`
	Signup       ExportSignup      `json:"signup"`
	Users        []ExportUser      `json:"users"`
	Assistants   []ExportAssistant `json:"assistants"`
}

// ExportOrg names the organization.
type ExportOrg struct {
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// ExportSignup is the signup switch and, with secrets, the key.
type ExportSignup struct {
	Enabled bool   `json:"enabled"`
	Key     string `json:"key,omitempty"`
}

// ExportUser is a user and their SSH keys.
type ExportUser struct {
	Email   string   `json:"email"`
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Enabled bool     `json:"enabled"`
	SSHKeys []string `json:"ssh_keys,omitempty"`
}

// ExportAssistant is an assistant and its owner's email. ID is the id it
// had where it was exported; an import gives it a new one and says which.
type ExportAssistant struct {
	ID             int64        `json:"id,omitempty"`
	Owner          string       `json:"owner"`
	Name           string       `json:"name"`
	Description    string       `json:"description,omitempty"`
	SystemPrompt   string       `json:"system_prompt,omitempty"`
	Provider       string       `json:"provider"`
	Model          string       `json:"model"`
	Temperature    *float64     `json:"temperature,omitempty"`
	Setup          string       `json:"setup,omitempty"`
	KnowledgeBase  *AssistantKB `json:"knowledge_base,omitempty"`
	PromptTemplate string       `json:"prompt_template,omitempty"`
	Enabled        bool         `json:"enabled"`
}

// ExportOrg writes an organization as an Export. System admins only; with
// secrets it is audited.
func (s *Service) ExportOrg(ctx context.Context, a Actor, slug string, withSecrets bool) (Export, error) {
	if err := requireSystemAdmin(a); err != nil {
		return Export{}, err
	}
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Export{}, err
	}
	cfg, err := s.openConfig(o)
	if err != nil {
		return Export{}, err
	}
	if !withSecrets {
		cfg = cfg.Masked()
	}
	ex := Export{Version: ExportVersion, Organization: ExportOrg{o.Slug, o.Name, o.Status}, Config: cfg.JSON(),
		Signup: ExportSignup{Enabled: cfg.Features.SignupEnabled}, Users: []ExportUser{}, Assistants: []ExportAssistant{}}
	if withSecrets {
		if ex.Signup.Key, err = s.openSignupKey(o); err != nil {
			return Export{}, err
		}
	}
	for off := 0; ; {
		users, total, err := s.st.ListUsers(ctx, store.UserFilter{OrganizationID: o.ID, Offset: off, Limit: 500})
		if err != nil {
			return Export{}, err
		}
		for _, u := range users {
			keys, err := s.st.SSHKeysByUser(ctx, u.ID)
			if err != nil {
				return Export{}, err
			}
			eu := ExportUser{Email: u.Email, Name: u.Name, Role: u.Role, Enabled: u.Enabled}
			for _, k := range keys {
				eu.SSHKeys = append(eu.SSHKeys, k.PublicKey)
			}
			ex.Users = append(ex.Users, eu)
		}
		off += len(users)
		if len(users) == 0 || off >= total {
			break
		}
	}
	if ex.Assistants, err = exportAssistants(ctx, s.st.Queries, o.ID); err != nil {
		return Export{}, err
	}
	if withSecrets {
		if err := s.audit(ctx, s.st.Queries, a, o.ID, "org.export", o.Slug, map[string]any{"with_secrets": true}); err != nil {
			return Export{}, err
		}
	}
	return ex, nil
}

// What happens to a user of an import whose email or SSH key already has an
// account on this server (or comes twice in the file): emails and SSH keys
// are unique across the platform.
const (
	OnConflictFail   = "fail"   // nothing is imported; every conflict is named at once
	OnConflictSkip   = "skip"   // the user, and the assistants they own, stay out
	OnConflictRename = "rename" // the user comes in under a derived address, without the keys in use
)

// ImportOptions shape an org import.
type ImportOptions struct {
	// Slug and Name of the new org; "" = the export's. A copy of an org
	// that exists takes another slug (org import --as).
	Slug, Name string
	// OnConflict is OnConflictFail ("" too), OnConflictSkip or OnConflictRename.
	OnConflict string
	// ConfigOnly imports the config and signup state: no users, no assistants.
	ConfigOnly bool
	// DryRun checks everything, reports the plan and keeps nothing.
	DryRun bool
}

// exportAssistants reads every assistant of an org as an export holds it.
func exportAssistants(ctx context.Context, q *store.Queries, orgID int64) ([]ExportAssistant, error) {
	out := []ExportAssistant{}
	for off := 0; ; {
		as, total, err := q.ListAssistants(ctx, store.AssistantFilter{OrganizationID: orgID, Offset: off, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, x := range as {
			out = append(out, ExportAssistant{ID: x.ID, Owner: x.OwnerEmail, Name: x.Name, Description: x.Description,
				SystemPrompt: x.SystemPrompt, Provider: x.Provider, Model: x.Model, Temperature: x.Temperature, Setup: x.Setup,
				KnowledgeBase: kbFromStore(x.KnowledgeBase), PromptTemplate: x.PromptTemplate, Enabled: x.Enabled})
		}
		off += len(as)
		if len(as) == 0 || off >= total {
			return out, nil
		}
	}
}

// ConfigOnly is the export as a template: its config and signup state,
// without users and assistants (org export --config-only).
func (ex Export) ConfigOnly() Export {
	ex.Users, ex.Assistants = []ExportUser{}, []ExportAssistant{}
	return ex
}

// ImportResult says what an import created (or, dry, would create).
type ImportResult struct {
	Slug           string   `json:"slug"`
	Users          int      `json:"users"`
	SSHKeys        int      `json:"ssh_keys"`
	Assistants     int      `json:"assistants"`
	SecretsCleared []string `json:"secrets_cleared,omitempty"` // masked or left out of the export: set them again
	// SignupDisabled says signup was on in the export but its key was not
	// exported: the org comes in with signup off (and signup.key among the
	// cleared secrets) rather than on without a key anyone knows.
	SignupDisabled bool `json:"signup_disabled,omitempty"`
	// SignupKeyInUse says the export's signup key belongs to another org
	// (the original of a copy): the org comes in with signup off.
	SignupKeyInUse bool `json:"signup_key_in_use,omitempty"`
	// AssistantIDs maps each assistant's id in the export to its new one:
	// callers name assistants by id (lamb_assistant.ID) and must be updated.
	AssistantIDs []AssistantIDChange `json:"assistant_ids"`
	// Conflicts are the users of the file whose email or SSH keys were
	// taken, and what the import did with each (skip or rename).
	Conflicts []ImportConflict `json:"conflicts,omitempty"`
	// AssistantsSkipped are the assistants of skipped users.
	AssistantsSkipped []AssistantIDChange `json:"assistants_skipped,omitempty"`
	// ConfigOnly: the users and assistants of the file were left out.
	ConfigOnly bool `json:"config_only,omitempty"`
	LeftOut    struct {
		Users      int `json:"users"`
		Assistants int `json:"assistants"`
	} `json:"left_out,omitzero"`
	DryRun bool `json:"dry_run"`
}

// ImportConflict is a user of the file whose email or SSH keys already
// belong to an account (or came earlier in the file), and what was done.
type ImportConflict struct {
	User     string   `json:"user"` // users[i]: the place in the file
	Email    string   `json:"email"`
	Reasons  []string `json:"reasons"`
	Action   string   `json:"action"`              // "skipped" or "renamed" or "keys left out"
	NewEmail string   `json:"new_email,omitempty"` // renamed: the address of the copy
}

// AssistantIDChange is one imported assistant's old and new id. OldID is 0
// for an export that carried no ids; NewID is 0 in a dry run (nothing is
// stored, so no id is given).
type AssistantIDChange struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	OldID int64  `json:"old_id,omitempty"`
	NewID int64  `json:"new_id,omitempty"`
}

// checkExport checks an export's version and config, and clears the
// secrets it carries masked (they can't be restored), listing them.
func checkExport(ex Export) (*config.Org, []string, error) {
	if ex.Version != ExportVersion {
		return nil, nil, invalid("version", "must be %d, got %d", ExportVersion, ex.Version)
	}
	cfg, err := config.ParseOrg(ex.Config)
	if err != nil {
		return nil, nil, prefixField("config.", fromConfig(err))
	}
	return cfg, clearMaskedSecrets(cfg), nil
}

// clearMaskedSecrets clears the secrets of cfg that are masked (a URL keeps
// its address without its credentials) and returns their paths. A
// platform credential masked away stops being marked as the platform's.
func clearMaskedSecrets(cfg *config.Org) []string {
	var cleared []string
	_ = cfg.MapSecrets(func(path, v string) (string, error) {
		if !strings.Contains(v, "…") {
			return v, nil
		}
		cleared = append(cleared, path)
		// A URL keeps its address, without its credentials; a webhook's
		// whole URL is its credential.
		if strings.HasPrefix(v, "http") && path != config.WebhookURLPath {
			return config.StripURLCredentials(v), nil
		}
		return "", nil
	})
	for _, cr := range cfg.Credentials() {
		if !cr.HasSecret() {
			*cr.Source = "" // the platform's credential was masked away
		}
	}
	return cleared
}

// ImportOrg creates an organization from an Export, in one transaction:
// the org, its config, signup, users (without passwords: they sign in with
// their SSH keys, or an admin resets their password) and assistants, which
// get new ids (the result maps old to new). The slug must be free (opts
// may give another). Emails and SSH keys that already have accounts are
// named all at once, or skipped or renamed as opts say. Masked secrets
// can't be restored: they are cleared and listed, and signup without its
// key comes in off. With opts.DryRun everything is checked and nothing
// kept. System admins only.
func (s *Service) ImportOrg(ctx context.Context, a Actor, ex Export, opts ImportOptions) (ImportResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return ImportResult{}, err
	}
	policy := cmp.Or(opts.OnConflict, OnConflictFail)
	if policy != OnConflictFail && policy != OnConflictSkip && policy != OnConflictRename {
		return ImportResult{}, invalid("on_conflict", "must be fail, skip or rename, got %q", opts.OnConflict)
	}
	slugField, slug := "organization.slug", ex.Organization.Slug
	if opts.Slug != "" {
		slugField, slug = "as", opts.Slug
	}
	slug, err := checkSlug(slug)
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ImportResult{}, invalid(slugField, "%s", ie.Message)
	} else if err != nil {
		return ImportResult{}, err
	}
	if slug == SystemSlug {
		return ImportResult{}, invalid(slugField, "the system organization can't be imported; it is synced from the environment")
	}
	nameField, name := "organization.name", ex.Organization.Name
	if opts.Name != "" {
		nameField, name = "name", opts.Name
	}
	if name, err = checkName(nameField, name); err != nil {
		return ImportResult{}, err
	}
	cfg, cleared, err := checkExport(ex)
	if err != nil {
		return ImportResult{}, err
	}
	if ex.Signup.Key != "" {
		// A chosen key, like set-key's: an exported weak key is refused
		// rather than carried to a new home (remove it from the file and
		// run signup rotate after the import).
		if err := requireStrongSignupKey("signup.key", ex.Signup.Key); err != nil {
			return ImportResult{}, err
		}
	}
	res := ImportResult{Slug: slug, DryRun: opts.DryRun, SecretsCleared: cleared, ConfigOnly: opts.ConfigOnly}
	if ex.Signup.Key == "" && (cfg.Features.SignupEnabled || ex.Signup.Enabled) {
		// The key stayed behind (exported without secrets): signup on with
		// a key nobody knows would look working and answer nobody.
		cfg.Features.SignupEnabled = false
		res.SignupDisabled = true
		res.SecretsCleared = append(res.SecretsCleared, "signup.key")
	}
	if err := cfg.Validate(); err != nil {
		return ImportResult{}, prefixField("config.", fromConfig(err))
	}
	if err := s.checkWebhook(nil, cfg); err != nil {
		return ImportResult{}, prefixField("config.", err)
	}
	users, assistants := ex.Users, ex.Assistants
	if opts.ConfigOnly {
		res.LeftOut.Users, res.LeftOut.Assistants = len(users), len(assistants)
		users, assistants = nil, nil
	}
	checked, err := checkImportUsers(users)
	if err != nil {
		return ImportResult{}, err
	}
	errDry := errors.New("dry run")
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		// Counted afresh: a transaction that lost a conflict runs again.
		res.Users, res.SSHKeys, res.Assistants, res.AssistantIDs = 0, 0, 0, []AssistantIDChange{}
		res.Conflicts, res.AssistantsSkipped, res.SignupKeyInUse = nil, nil, false
		sealed, err := s.sealConfig(cfg)
		if err != nil {
			return err
		}
		status := store.OrgActive
		if ex.Organization.Status == store.OrgSuspended {
			status = store.OrgSuspended
		}
		o, err := tx.CreateOrg(ctx, store.Org{Slug: slug, Name: name, Status: status, Config: sealed})
		if errors.Is(err, store.ErrConflict) {
			return conflict("%s: an organization %q already exists; delete it first, or import a copy under another slug (--as NEW-SLUG)", slugField, slug)
		} else if err != nil {
			return err
		}
		if ex.Signup.Key != "" {
			// A copy beside the original can't have its key: signup keys
			// are unique. It comes in with signup off, to get a key of its own.
			if _, err := tx.OrgBySignupKeyHash(ctx, s.box.Hash(ex.Signup.Key)); err == nil {
				cfg.Features.SignupEnabled = false
				res.SignupKeyInUse = true
				if sealed, err = s.sealConfig(cfg); err != nil {
					return err
				}
				if err := tx.UpdateOrgConfig(ctx, o.ID, sealed); err != nil {
					return err
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			} else if err := s.setSignupKey(ctx, tx.Queries, o.ID, ex.Signup.Key); err != nil {
				return prefixField("signup.", err)
			}
		}
		plan, err := planImportUsers(ctx, tx.Queries, checked, policy, slug)
		if err != nil {
			return err
		}
		res.Conflicts = plan.conflicts
		owners, err := createImportUsers(ctx, tx, o.ID, plan.users)
		if err != nil {
			return err
		}
		for _, iu := range plan.users {
			res.Users++
			res.SSHKeys += len(iu.keys)
		}
		for i, ea := range assistants {
			field := fmt.Sprintf("assistants[%d].", i)
			email := normalizeLoose(ea.Owner)
			owner, ok := owners[email]
			if !ok && plan.skipped[email] {
				res.AssistantsSkipped = append(res.AssistantsSkipped, AssistantIDChange{Name: ea.Name, Owner: email, OldID: max(ea.ID, 0)})
				continue
			}
			if !ok {
				return invalid(field+"owner", "%q is not one of the exported users", ea.Owner)
			}
			as, err := s.createImportedAssistant(ctx, tx, o.ID, cfg, owner, ea, ea.Name, field)
			if err != nil {
				return err
			}
			change := AssistantIDChange{Name: as.Name, Owner: owner.Email, OldID: max(ea.ID, 0), NewID: as.ID}
			if opts.DryRun {
				change.NewID = 0 // rolled back: the real import may get other ids
			}
			res.AssistantIDs = append(res.AssistantIDs, change)
			res.Assistants++
		}
		if opts.DryRun {
			return errDry // roll everything back
		}
		ids := map[string]int64{}
		for _, c := range res.AssistantIDs {
			if c.OldID > 0 {
				ids[fmt.Sprint(c.OldID)] = c.NewID
			}
		}
		details := map[string]any{"users": res.Users, "assistants": res.Assistants, "cleared_fields": res.SecretsCleared, "assistant_ids": ids}
		if slug != ex.Organization.Slug {
			details["copy_of"] = ex.Organization.Slug
		}
		if len(res.Conflicts) > 0 {
			details["on_conflict"] = policy
			details["conflicts"] = len(res.Conflicts)
		}
		if opts.ConfigOnly {
			details["config_only"] = true
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "org.import", slug, details)
	})
	if err != nil && !errors.Is(err, errDry) {
		return ImportResult{}, err
	}
	return res, nil
}

// createImportedAssistant creates an assistant of an export for owner in
// org orgID under name. An assistant whose provider or model was switched
// off after it was made comes in as it was, like it exists.
func (s *Service) createImportedAssistant(ctx context.Context, tx *store.Tx, orgID int64, cfg *config.Org, owner store.User, ea ExportAssistant, name, field string) (store.Assistant, error) {
	in := AssistantInput{Name: name, Description: ea.Description, SystemPrompt: ea.SystemPrompt,
		Provider: ea.Provider, Model: ea.Model, Temperature: ea.Temperature, Setup: ea.Setup,
		KnowledgeBase: ea.KnowledgeBase, PromptTemplate: ea.PromptTemplate}
	if err := checkAssistant(&in, cfg); err != nil {
		var ie *InvalidError
		if !errors.As(err, &ie) || (ie.Field != "provider" && ie.Field != "model") || knownProvider(ea.Provider) != nil {
			return store.Assistant{}, prefixField(field, err)
		}
		if err := checkText(field+"model", ea.Model); err != nil {
			return store.Assistant{}, err
		}
		in.Provider, in.Model = ea.Provider, ea.Model
	}
	as, err := tx.CreateAssistant(ctx, store.Assistant{OrganizationID: orgID, OwnerUserID: owner.ID, Name: in.Name,
		Description: in.Description, SystemPrompt: in.SystemPrompt, Provider: in.Provider, Model: in.Model,
		Temperature: in.Temperature, Setup: in.Setup, KnowledgeBase: kbToStore(in.KnowledgeBase), PromptTemplate: in.PromptTemplate,
		Enabled: ea.Enabled})
	if err != nil {
		return store.Assistant{}, storeErr(err, field+"name "+in.Name)
	}
	return as, nil
}

// createImportUsers creates the users of an import and their SSH keys with
// batched statements, and returns them by the email of the file (before
// any rename).
func createImportUsers(ctx context.Context, tx *store.Tx, orgID int64, users []importUser) (map[string]store.User, error) {
	rows := make([]store.User, len(users))
	for i, iu := range users {
		rows[i] = store.User{OrganizationID: orgID, Email: iu.email, Name: iu.name, Role: iu.role, Enabled: iu.enabled, PasswordHash: iu.hash}
	}
	created, err := tx.CreateUsers(ctx, rows)
	if errors.Is(err, store.ErrConflict) { // taken since the check: a concurrent writer
		return nil, conflict("users: an email of the file got an account meanwhile; run the import again to see which")
	} else if err != nil {
		return nil, err
	}
	owners := make(map[string]store.User, len(users))
	var keys []store.SSHKey
	for i, u := range created {
		if _, ok := owners[users[i].fileEmail]; !ok { // the first of a file's duplicates owns
			owners[users[i].fileEmail] = u
		}
		for _, k := range users[i].keys {
			keys = append(keys, store.SSHKey{OrganizationID: orgID, UserID: u.ID, Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment})
		}
	}
	if err := tx.AddSSHKeys(ctx, keys); errors.Is(err, store.ErrConflict) {
		return nil, conflict("users: an SSH key of the file got an account meanwhile; run the import again to see which")
	} else if err != nil {
		return nil, err
	}
	return owners, nil
}

// importUser is a user of an export, checked: what CreateUser and
// AddSSHKey will be given.
type importUser struct {
	field             string // users[i]
	fileEmail         string // as in the file, normalized; email may be renamed
	email, name, role string
	enabled           bool
	hash              string
	keys              []parsedKey
}

// checkImportUsers checks every user of an export and their keys; the first
// invalid field is the answer, named by its place in the file.
func checkImportUsers(in []ExportUser) ([]importUser, error) {
	out := make([]importUser, 0, len(in))
	for i, eu := range in {
		field := fmt.Sprintf("users[%d].", i)
		email, err := normalizeEmail(eu.Email)
		if err != nil {
			return nil, prefixField(field, err)
		}
		name, err := checkName(field+"name", eu.Name)
		if err != nil {
			return nil, err
		}
		if eu.Role != store.RoleAdmin && eu.Role != store.RoleMember {
			return nil, invalid(field+"role", "must be admin or member, got %q", eu.Role)
		}
		iu := importUser{field: strings.TrimSuffix(field, "."), fileEmail: email, email: email, name: name, role: eu.Role, enabled: eu.Enabled}
		for j, line := range eu.SSHKeys {
			k, err := parseSSHKey(fmt.Sprintf("%sssh_keys[%d]", field, j), line)
			if err != nil {
				return nil, err
			}
			iu.keys = append(iu.keys, k)
		}
		out = append(out, iu)
	}
	return out, nil
}

// importPlan is what an import does with the users of its file.
type importPlan struct {
	users     []importUser    // to create (renamed ones under their new address)
	skipped   map[string]bool // emails of the file left out
	conflicts []ImportConflict
}

// planImportUsers finds, all at once, the emails and SSH keys of an import
// that already belong to accounts on this server (or come twice in the
// file), and applies policy: fail names them all (fixing them one import
// at a time would take as many tries as there are); skip leaves those users
// and their assistants out; rename gives a copy of the user a derived
// address (local+SLUG@domain) and leaves out the keys in use.
func planImportUsers(ctx context.Context, q *store.Queries, users []importUser, policy, slug string) (importPlan, error) {
	plan := importPlan{skipped: map[string]bool{}}
	if len(users) == 0 {
		return plan, nil
	}
	emails, fps := make([]string, 0, len(users)), []string{}
	for _, u := range users {
		emails = append(emails, u.email)
		for _, k := range u.keys {
			fps = append(fps, k.fingerprint)
		}
	}
	takenEmail, err := q.UsersByEmails(ctx, emails)
	if err != nil {
		return plan, err
	}
	takenKey, err := q.SSHKeysByFingerprints(ctx, fps)
	if err != nil {
		return plan, err
	}
	var failEmails, failKeys []string
	seenEmail, seenKey := map[string]bool{}, map[string]bool{}
	for i, u := range users {
		_, emailTaken := takenEmail[u.email]
		emailTaken = emailTaken || seenEmail[u.email]
		var reasons []string
		if emailTaken {
			reasons = append(reasons, "email "+u.email+" already has an account")
			failEmails = append(failEmails, fmt.Sprintf("%s (users[%d])", u.email, i))
		}
		var free []parsedKey
		for j, k := range u.keys {
			if _, ok := takenKey[k.fingerprint]; ok || seenKey[k.fingerprint] {
				reasons = append(reasons, "SSH key "+k.fingerprint+" already belongs to an account")
				failKeys = append(failKeys, fmt.Sprintf("%s (users[%d].ssh_keys[%d])", k.fingerprint, i, j))
				continue
			}
			free = append(free, k)
		}
		if len(reasons) == 0 {
			seenEmail[u.email] = true
			for _, k := range u.keys {
				seenKey[k.fingerprint] = true
			}
			plan.users = append(plan.users, u)
			continue
		}
		c := ImportConflict{User: u.field, Email: u.email, Reasons: reasons}
		switch policy {
		case OnConflictSkip:
			c.Action = "skipped"
			plan.skipped[u.fileEmail] = true
		case OnConflictRename:
			c.Action = "keys left out"
			if emailTaken {
				next, err := derivedEmail(ctx, q, u.email, slug, seenEmail)
				if err != nil {
					return plan, prefixField(u.field+".", err)
				}
				c.Action, c.NewEmail, u.email = "renamed", next, next
			}
			u.keys = free
			seenEmail[u.email] = true
			for _, k := range u.keys {
				seenKey[k.fingerprint] = true
			}
			plan.users = append(plan.users, u)
		}
		plan.conflicts = append(plan.conflicts, c)
	}
	if policy != OnConflictFail || len(plan.conflicts) == 0 {
		return plan, nil
	}
	var parts []string
	if len(failEmails) > 0 {
		parts = append(parts, fmt.Sprintf("%s already %s an account on this server: %s",
			plural.Word(len(failEmails), "this email", "these emails"), plural.Word(len(failEmails), "has", "have"), strings.Join(failEmails, ", ")))
	}
	if len(failKeys) > 0 {
		parts = append(parts, fmt.Sprintf("%s already %s to an account: %s",
			plural.Word(len(failKeys), "this SSH key", "these SSH keys"), plural.Word(len(failKeys), "belongs", "belong"), strings.Join(failKeys, ", ")))
	}
	return plan, conflict("users: %s; delete those accounts (or keys) first, or take them out of the file with their assistants, "+
		"then import again; or say what happens to them: --on-conflict skip (leave them and their assistants out) "+
		"or rename (import them under a derived address such as name+%s@domain, without the keys in use)",
		strings.Join(parts, "; "), slug)
}

// derivedEmail is the address a renamed copy of a user gets: the local
// part tagged with the new org's slug (ana+acme-copy@uni.example), then
// numbered while that is taken.
func derivedEmail(ctx context.Context, q *store.Queries, email, slug string, taken map[string]bool) (string, error) {
	local, domain, _ := strings.Cut(email, "@")
	for n := 1; n <= 20; n++ {
		tag := slug
		if n > 1 {
			tag = fmt.Sprintf("%s-%d", slug, n)
		}
		candidate, err := normalizeEmail(local + "+" + tag + "@" + domain)
		if err != nil {
			return "", invalid("email", "%s can't take a derived address (%v); take the user out of the file, or import with --on-conflict skip", email, err)
		}
		if taken[candidate] {
			continue
		}
		if _, err := q.UserByEmail(ctx, candidate); errors.Is(err, store.ErrNotFound) {
			return candidate, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", conflict("%s: the derived addresses %s+%s…@%s are all taken; take the user out of the file", email, local, slug, domain)
}
