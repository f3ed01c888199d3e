package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"lamb/config"
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

// ExportAssistant is an assistant and its owner's email.
type ExportAssistant struct {
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
			ex.Assistants = append(ex.Assistants, ExportAssistant{Owner: x.OwnerEmail, Name: x.Name, Description: x.Description,
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
	SecretsCleared []string `json:"secrets_cleared,omitempty"` // masked in the export: set them again
	DryRun         bool     `json:"dry_run"`
}

// ImportOrg creates an organization from an Export, in one transaction:
// the org, its config, signup, users (without passwords: they sign in with
// their SSH keys, or an admin resets their password) and assistants. The
// slug must be free. Masked secrets can't be restored: they are cleared and
// listed. With dryRun everything is checked and nothing kept. System admins
// only.
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
		if strings.HasPrefix(v, "http") { // a URL keeps its address, without its credentials
			return config.StripURLCredentials(v), nil
		}
		return "", nil
	})
	for _, cr := range cfg.Credentials() {
		if !cr.HasSecret() {
			*cr.Source = "" // the platform's credential was masked away
		}
	}
	if err := cfg.Validate(); err != nil {
		return ImportResult{}, prefixField("config.", fromConfig(err))
	}
	errDry := errors.New("dry run")
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		// Counted afresh: a transaction that lost a conflict runs again.
		res.Users, res.SSHKeys, res.Assistants = 0, 0, 0
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
		owners := map[string]store.User{}
		for i, eu := range ex.Users {
			field := fmt.Sprintf("users[%d].", i)
			email, err := normalizeEmail(eu.Email)
			if err != nil {
				return prefixField(field, err)
			}
			uname, err := checkName(field+"name", eu.Name)
			if err != nil {
				return err
			}
			role := eu.Role
			if role != store.RoleAdmin && role != store.RoleMember {
				return invalid(field+"role", "must be admin or member, got %q", eu.Role)
			}
			u, err := tx.CreateUser(ctx, store.User{OrganizationID: o.ID, Email: email, Name: uname, Role: role, Enabled: eu.Enabled})
			if errors.Is(err, store.ErrConflict) {
				return conflict("%semail: %s already has an account on this server", field, email)
			} else if err != nil {
				return err
			}
			owners[email] = u
			res.Users++
			for j, line := range eu.SSHKeys {
				k, err := parseSSHKey(fmt.Sprintf("%sssh_keys[%d]", field, j), line)
				if err != nil {
					return err
				}
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
			if _, err := tx.CreateAssistant(ctx, store.Assistant{OrganizationID: o.ID, OwnerUserID: owner.ID, Name: in.Name,
				Description: in.Description, SystemPrompt: in.SystemPrompt, Provider: in.Provider, Model: in.Model,
				Temperature: in.Temperature, Setup: in.Setup, KnowledgeBase: kbToStore(in.KnowledgeBase), PromptTemplate: in.PromptTemplate,
				Enabled: ea.Enabled}); err != nil {
				return storeErr(err, field+"name "+in.Name)
			}
			res.Assistants++
		}
		if dryRun {
			return errDry // roll everything back
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "org.import", slug, map[string]any{
			"users": res.Users, "assistants": res.Assistants, "cleared_fields": res.SecretsCleared})
	})
	if err != nil && !errors.Is(err, errDry) {
		return ImportResult{}, err
	}
	return res, nil
}
