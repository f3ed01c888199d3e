package service

import (
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
	for off := 0; ; {
		as, total, err := s.st.ListAssistants(ctx, store.AssistantFilter{OrganizationID: o.ID, Offset: off, Limit: 500})
		if err != nil {
			return Export{}, err
		}
		for _, x := range as {
			ex.Assistants = append(ex.Assistants, ExportAssistant{ID: x.ID, Owner: x.OwnerEmail, Name: x.Name, Description: x.Description,
				SystemPrompt: x.SystemPrompt, Provider: x.Provider, Model: x.Model, Temperature: x.Temperature, Setup: x.Setup,
				KnowledgeBase: kbFromStore(x.KnowledgeBase), PromptTemplate: x.PromptTemplate, Enabled: x.Enabled})
		}
		off += len(as)
		if len(as) == 0 || off >= total {
			break
		}
	}
	if withSecrets {
		if err := s.audit(ctx, s.st.Queries, a, o.ID, "org.export", o.Slug, map[string]any{"with_secrets": true}); err != nil {
			return Export{}, err
		}
	}
	return ex, nil
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
	// AssistantIDs maps each assistant's id in the export to its new one:
	// callers name assistants by id (lamb_assistant.ID) and must be updated.
	AssistantIDs []AssistantIDChange `json:"assistant_ids"`
	DryRun       bool                `json:"dry_run"`
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

// ImportOrg creates an organization from an Export, in one transaction:
// the org, its config, signup, users (without passwords: they sign in with
// their SSH keys, or an admin resets their password) and assistants, which
// get new ids (the result maps old to new). The slug must be free; emails
// and SSH keys that already have accounts are named all at once. Masked
// secrets can't be restored: they are cleared and listed, and signup
// without its key comes in off. With dryRun everything is checked and
// nothing kept. System admins only.
func (s *Service) ImportOrg(ctx context.Context, a Actor, ex Export, dryRun bool) (ImportResult, error) {
	if err := requireSystemAdmin(a); err != nil {
		return ImportResult{}, err
	}
	if ex.Version != ExportVersion {
		return ImportResult{}, invalid("version", "must be %d, got %d", ExportVersion, ex.Version)
	}
	slug, err := checkSlug(ex.Organization.Slug)
	if err != nil {
		return ImportResult{}, prefixField("organization.", err)
	}
	if slug == SystemSlug {
		return ImportResult{}, invalid("organization.slug", "the system organization can't be imported; it is synced from the environment")
	}
	name, err := checkName("organization.name", ex.Organization.Name)
	if err != nil {
		return ImportResult{}, err
	}
	cfg, err := config.ParseOrg(ex.Config)
	if err != nil {
		return ImportResult{}, prefixField("config.", fromConfig(err))
	}
	if ex.Signup.Key != "" {
		// A chosen key, like set-key's: an exported weak key is refused
		// rather than carried to a new home (remove it from the file and
		// run signup rotate after the import).
		if err := requireStrongSignupKey("signup.key", ex.Signup.Key); err != nil {
			return ImportResult{}, err
		}
	}
	res := ImportResult{Slug: slug, DryRun: dryRun}
	_ = cfg.MapSecrets(func(path, v string) (string, error) {
		if !strings.Contains(v, "…") {
			return v, nil
		}
		res.SecretsCleared = append(res.SecretsCleared, path)
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
	users, err := checkImportUsers(ex.Users)
	if err != nil {
		return ImportResult{}, err
	}
	errDry := errors.New("dry run")
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		// Counted afresh: a transaction that lost a conflict runs again.
		res.Users, res.SSHKeys, res.Assistants, res.AssistantIDs = 0, 0, 0, []AssistantIDChange{}
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
			return conflict("organization.slug: an organization %q already exists; delete it first or change the slug in the file", slug)
		} else if err != nil {
			return err
		}
		if ex.Signup.Key != "" {
			if err := s.setSignupKey(ctx, tx.Queries, o.ID, ex.Signup.Key); err != nil {
				return prefixField("signup.", err)
			}
		}
		if err := importConflicts(ctx, tx.Queries, users); err != nil {
			return err
		}
		owners := map[string]store.User{}
		for i, iu := range users {
			field := fmt.Sprintf("users[%d].", i)
			u, err := tx.CreateUser(ctx, store.User{OrganizationID: o.ID, Email: iu.email, Name: iu.name, Role: iu.role, Enabled: iu.enabled})
			if errors.Is(err, store.ErrConflict) { // taken since the check: a concurrent writer
				return conflict("%semail: %s already has an account on this server", field, iu.email)
			} else if err != nil {
				return err
			}
			owners[iu.email] = u
			res.Users++
			for j, k := range iu.keys {
				if _, err := tx.AddSSHKey(ctx, store.SSHKey{OrganizationID: o.ID, UserID: u.ID, Fingerprint: k.fingerprint,
					PublicKey: k.line, Comment: k.comment}); err != nil {
					return storeErr(err, fmt.Sprintf("%sssh_keys[%d] (%s)", field, j, k.fingerprint))
				}
				res.SSHKeys++
			}
		}
		for i, ea := range ex.Assistants {
			field := fmt.Sprintf("assistants[%d].", i)
			owner, ok := owners[normalizeLoose(ea.Owner)]
			if !ok {
				return invalid(field+"owner", "%q is not one of the exported users", ea.Owner)
			}
			in := AssistantInput{Name: ea.Name, Description: ea.Description, SystemPrompt: ea.SystemPrompt,
				Provider: ea.Provider, Model: ea.Model, Temperature: ea.Temperature, Setup: ea.Setup,
				KnowledgeBase: ea.KnowledgeBase, PromptTemplate: ea.PromptTemplate}
			if err := checkAssistant(&in, cfg); err != nil {
				// An assistant whose provider or model was switched off
				// after it was made is imported as it was, like it exists.
				var ie *InvalidError
				if !errors.As(err, &ie) || (ie.Field != "provider" && ie.Field != "model") || knownProvider(ea.Provider) != nil {
					return prefixField(field, err)
				}
				if err := checkText(field+"model", ea.Model); err != nil {
					return err
				}
				in.Provider, in.Model = ea.Provider, ea.Model
			}
			as, err := tx.CreateAssistant(ctx, store.Assistant{OrganizationID: o.ID, OwnerUserID: owner.ID, Name: in.Name,
				Description: in.Description, SystemPrompt: in.SystemPrompt, Provider: in.Provider, Model: in.Model,
				Temperature: in.Temperature, Setup: in.Setup, KnowledgeBase: kbToStore(in.KnowledgeBase), PromptTemplate: in.PromptTemplate,
				Enabled: ea.Enabled})
			if err != nil {
				return storeErr(err, field+"name "+in.Name)
			}
			change := AssistantIDChange{Name: as.Name, Owner: owner.Email, OldID: max(ea.ID, 0), NewID: as.ID}
			if dryRun {
				change.NewID = 0 // rolled back: the real import may get other ids
			}
			res.AssistantIDs = append(res.AssistantIDs, change)
			res.Assistants++
		}
		if dryRun {
			return errDry // roll everything back
		}
		ids := map[string]int64{}
		for _, c := range res.AssistantIDs {
			if c.OldID > 0 {
				ids[fmt.Sprint(c.OldID)] = c.NewID
			}
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "org.import", slug, map[string]any{
			"users": res.Users, "assistants": res.Assistants, "cleared_fields": res.SecretsCleared, "assistant_ids": ids})
	})
	if err != nil && !errors.Is(err, errDry) {
		return ImportResult{}, err
	}
	return res, nil
}

// importUser is a user of an export, checked: what CreateUser and
// AddSSHKey will be given.
type importUser struct {
	email, name, role string
	enabled           bool
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
		iu := importUser{email: email, name: name, role: eu.Role, enabled: eu.Enabled}
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

// importConflicts names, all at once, the emails and SSH keys of an export
// that already belong to accounts on this server (or twice to the file):
// fixing them one import at a time would take as many tries as there are.
func importConflicts(ctx context.Context, q *store.Queries, users []importUser) error {
	var emails, keys []string
	seenEmail, seenKey := map[string]bool{}, map[string]bool{}
	for i, u := range users {
		if _, err := q.UserByEmail(ctx, u.email); err == nil || seenEmail[u.email] {
			emails = append(emails, fmt.Sprintf("%s (users[%d])", u.email, i))
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		seenEmail[u.email] = true
		for j, k := range u.keys {
			if _, err := q.SSHKeyByFingerprint(ctx, k.fingerprint); err == nil || seenKey[k.fingerprint] {
				keys = append(keys, fmt.Sprintf("%s (users[%d].ssh_keys[%d])", k.fingerprint, i, j))
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			seenKey[k.fingerprint] = true
		}
	}
	var parts []string
	if len(emails) > 0 {
		parts = append(parts, fmt.Sprintf("%s already %s an account on this server: %s",
			plural.Word(len(emails), "this email", "these emails"), plural.Word(len(emails), "has", "have"), strings.Join(emails, ", ")))
	}
	if len(keys) > 0 {
		parts = append(parts, fmt.Sprintf("%s already %s to an account: %s",
			plural.Word(len(keys), "this SSH key", "these SSH keys"), plural.Word(len(keys), "belongs", "belong"), strings.Join(keys, ", ")))
	}
	if len(parts) == 0 {
		return nil
	}
	return conflict("users: %s; delete those accounts (or keys) first, or take them out of the file with their assistants, then import again",
		strings.Join(parts, "; "))
}
