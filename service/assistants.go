package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"lamb/config"
	"lamb/store"
)

// AssistantInput is what a user fills in for an assistant.
type AssistantInput struct {
	Owner        string // email; "" = the actor (admins may name a user of their org)
	Name         string
	Description  string
	SystemPrompt string
	Provider     string
	Model        string
	Temperature  *float64
	Setup        string // "" = the org's active setup
	// KnowledgeBase is nil, or has no collections, for an assistant that
	// answers without retrieval.
	KnowledgeBase *AssistantKB
	// PromptTemplate places retrieved context ({context}) and the
	// question ({user_input}); "" = DefaultPromptTemplate.
	PromptTemplate string
	Enabled        bool
}

// Limits on assistant text, generous for real prompts, bounded for memory.
const (
	maxDescription  = 2000
	maxSystemPrompt = 100_000
)

// checkAssistant validates in against the org's config: the provider must
// be enabled in the setup the assistant uses, and the model one it lists.
func checkAssistant(in *AssistantInput, cfg *config.Org) error {
	name, err := checkName("name", in.Name)
	if err != nil {
		return err
	}
	in.Name = name
	if utf8.RuneCountInString(in.Description) > maxDescription {
		return invalid("description", "must be at most %d characters", maxDescription)
	}
	if err := checkText("description", in.Description); err != nil {
		return err
	}
	if utf8.RuneCountInString(in.SystemPrompt) > maxSystemPrompt {
		return invalid("system_prompt", "must be at most %d characters", maxSystemPrompt)
	}
	if err := checkLines("system_prompt", in.SystemPrompt); err != nil {
		return err
	}
	// Checked before they are looked up, so that an import, which keeps a
	// model its provider no longer offers, can't keep one with escapes.
	if err := checkText("model", in.Model); err != nil {
		return err
	}
	if err := checkText("setup", in.Setup); err != nil {
		return err
	}
	// Written so that NaN, which compares false with everything, fails.
	if t := in.Temperature; t != nil && !(*t >= 0 && *t <= 2) {
		return invalid("temperature", "must be between 0 and 2")
	}
	in.Setup = strings.TrimSpace(in.Setup)
	setupName := in.Setup
	if setupName == "" {
		setupName = cfg.ActiveSetup
	}
	st, ok := cfg.Setups[setupName]
	if !ok {
		return invalid("setup", "setup %q does not exist (have: %s)", in.Setup, strings.Join(cfg.SetupNames(), ", "))
	}
	// Before the provider: an import keeps an assistant whose provider was
	// switched off, but never retrieval settings that weren't checked.
	if err := checkAssistantKB(in, setupName, st); err != nil {
		return err
	}
	in.Provider = strings.TrimSpace(in.Provider)
	if err := knownProvider(in.Provider); err != nil {
		return err
	}
	p := st.Providers[in.Provider]
	if p == nil || !p.Enabled {
		var enabled []string
		for _, n := range config.Providers {
			if q := st.Providers[n]; q != nil && q.Enabled {
				enabled = append(enabled, n)
			}
		}
		if len(enabled) == 0 {
			return invalid("provider", "no provider is enabled in setup %s; ask an admin of your organization to set one up", setupName)
		}
		return invalid("provider", "%s is not enabled in setup %s (enabled: %s)", in.Provider, setupName, strings.Join(enabled, ", "))
	}
	in.Model = strings.TrimSpace(in.Model)
	if in.Model == "" {
		in.Model = p.DefaultModel
	}
	if in.Model == "" {
		return invalid("model", "is required")
	}
	if len(p.Models) > 0 && !slices.Contains(p.Models, in.Model) {
		return invalid("model", "%s is not offered by %s in setup %s (offered: %s)", in.Model, in.Provider, setupName, strings.Join(p.Models, ", "))
	}
	return nil
}

// assistantOwner resolves who will own a new assistant.
func (s *Service) assistantOwner(ctx context.Context, q *store.Queries, a Actor, email string) (store.User, store.Org, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return store.User{}, store.Org{}, ErrForbidden
	}
	if a.ActingSystemAdmin && (email == "" || normalizeLoose(email) == a.Email) {
		// The system admin's own account lives in lamb, not in the org
		// they opened: an assistant made here must belong to its users.
		return store.User{}, store.Org{}, invalid("owner", "you are working in %s as a system admin; name the owner, a user of %s", a.OrgSlug, a.OrgSlug)
	}
	if email == "" || normalizeLoose(email) == a.Email {
		u, err := q.UserByID(ctx, a.UserID)
		if err != nil {
			return store.User{}, store.Org{}, storeErr(err, "user")
		}
		o, err := q.OrgByID(ctx, u.OrganizationID)
		return u, o, err
	}
	if a.Role == RoleMember {
		// A member may create assistants, only not for others: say that,
		// rather than that they can't create one at all.
		return store.User{}, store.Org{}, &ForbiddenError{Reason: "only an organization's admins may create an assistant for someone else; leave out the owner to create one of your own"}
	}
	return s.userForAdmin(ctx, q, a, email)
}

// CreateAssistant creates an assistant owned by the actor (or, for an org
// admin, by a user of their org). The org's max_assistants and
// max_assistants_per_user apply.
func (s *Service) CreateAssistant(ctx context.Context, a Actor, in AssistantInput) (Assistant, error) {
	var out Assistant
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		owner, o, err := s.assistantOwner(ctx, tx.Queries, a, in.Owner)
		if err != nil {
			return err
		}
		cfg, err := s.openConfig(o)
		if err != nil {
			return err
		}
		if err := checkAssistant(&in, cfg); err != nil {
			return err
		}
		orgCount, ownerCount, err := tx.CountAssistants(ctx, o.ID, owner.ID)
		if err != nil {
			return err
		}
		if l := cfg.EffectiveLimits().MaxAssistants; l != config.Unlimited && int64(orgCount) >= l {
			return &LimitError{Limit: "max_assistants", Message: fmt.Sprintf("the organization has reached its limit of %d assistants; an admin can raise limits.max_assistants", l)}
		}
		if l := cfg.EffectiveLimits().MaxAssistantsPerUser; l != config.Unlimited && int64(ownerCount) >= l {
			return &LimitError{Limit: "max_assistants_per_user", Message: fmt.Sprintf("%s already has %d assistants, the most one user may have; delete one or ask an admin to raise limits.max_assistants_per_user", owner.Email, l)}
		}
		as, err := tx.CreateAssistant(ctx, store.Assistant{OrganizationID: o.ID, OwnerUserID: owner.ID, Name: in.Name,
			Description: in.Description, SystemPrompt: in.SystemPrompt, Provider: in.Provider, Model: in.Model,
			Temperature: in.Temperature, Setup: in.Setup, KnowledgeBase: kbToStore(in.KnowledgeBase), PromptTemplate: in.PromptTemplate, Enabled: true})
		if errors.Is(err, store.ErrConflict) {
			return conflict("name: %s already has an assistant named %q", owner.Email, in.Name)
		} else if err != nil {
			return err
		}
		out = assistantView(as, o.Slug, owner.Email)
		return s.audit(ctx, tx.Queries, a, o.ID, "assistant.create", as.Name, map[string]any{"id": as.ID, "owner": owner.Email, "provider": as.Provider, "model": as.Model})
	})
	return out, err
}

// assistantFor loads an assistant the actor may change: its owner, an admin
// of its org, or a system admin. Anyone else gets the same not-found as for
// an assistant that doesn't exist.
func (s *Service) assistantFor(ctx context.Context, q *store.Queries, a Actor, id int64) (store.Assistant, store.User, store.Org, error) {
	nf := notFound("assistant %d", id)
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return store.Assistant{}, store.User{}, store.Org{}, ErrForbidden
	}
	as, err := q.AssistantByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Assistant{}, store.User{}, store.Org{}, nf
	} else if err != nil {
		return store.Assistant{}, store.User{}, store.Org{}, err
	}
	if as.OwnerUserID != a.UserID && requireOrgAdmin(a, as.OrganizationID) != nil {
		return store.Assistant{}, store.User{}, store.Org{}, nf
	}
	owner, err := q.UserByID(ctx, as.OwnerUserID)
	if err != nil {
		return store.Assistant{}, store.User{}, store.Org{}, err
	}
	o, err := q.OrgByID(ctx, as.OrganizationID)
	if err != nil {
		return store.Assistant{}, store.User{}, store.Org{}, err
	}
	return as, owner, o, nil
}

// GetAssistant returns one assistant the actor may see.
func (s *Service) GetAssistant(ctx context.Context, a Actor, id int64) (Assistant, error) {
	as, owner, o, err := s.assistantFor(ctx, s.st.Queries, a, id)
	if err != nil {
		return Assistant{}, err
	}
	return assistantView(as, o.Slug, owner.Email), nil
}

// UpdateAssistant replaces an assistant's settings (the owner can't change).
func (s *Service) UpdateAssistant(ctx context.Context, a Actor, id int64, in AssistantInput) (Assistant, error) {
	var out Assistant
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		as, owner, o, err := s.assistantFor(ctx, tx.Queries, a, id)
		if err != nil {
			return err
		}
		cfg, err := s.openConfig(o)
		if err != nil {
			return err
		}
		if err := checkAssistant(&in, cfg); err != nil {
			return err
		}
		as.Name, as.Description, as.SystemPrompt = in.Name, in.Description, in.SystemPrompt
		as.Provider, as.Model, as.Temperature, as.Setup, as.Enabled = in.Provider, in.Model, in.Temperature, in.Setup, in.Enabled
		as.KnowledgeBase, as.PromptTemplate = kbToStore(in.KnowledgeBase), in.PromptTemplate
		err = tx.UpdateAssistant(ctx, as)
		if errors.Is(err, store.ErrConflict) {
			return conflict("name: %s already has an assistant named %q", owner.Email, in.Name)
		} else if err != nil {
			return err
		}
		out = assistantView(as, o.Slug, owner.Email)
		return s.audit(ctx, tx.Queries, a, o.ID, "assistant.update", as.Name, map[string]any{"id": as.ID, "provider": as.Provider, "model": as.Model, "enabled": as.Enabled})
	})
	return out, err
}

// SetMyAssistantEnabled enables or disables an assistant the actor may change.
func (s *Service) SetMyAssistantEnabled(ctx context.Context, a Actor, id int64, enabled bool) error {
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		as, _, o, err := s.assistantFor(ctx, tx.Queries, a, id)
		if err != nil {
			return err
		}
		if as.Enabled == enabled {
			return nil
		}
		if err := tx.SetAssistantEnabled(ctx, id, enabled); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, map[bool]string{true: "assistant.enable", false: "assistant.disable"}[enabled], as.Name, map[string]any{"id": id})
	})
}

// DeleteAssistant deletes an assistant; its usage history stays.
func (s *Service) DeleteAssistant(ctx context.Context, a Actor, id int64) error {
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		as, _, o, err := s.assistantFor(ctx, tx.Queries, a, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteAssistant(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "assistant.delete", as.Name, map[string]any{"id": id})
	})
}

// ListMyAssistants lists the actor's own assistants.
func (s *Service) ListMyAssistants(ctx context.Context, a Actor, query string, offset, limit int) (Page[Assistant], error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return Page[Assistant]{}, ErrForbidden
	}
	u, err := s.st.UserByID(ctx, a.UserID)
	if err != nil {
		return Page[Assistant]{}, storeErr(err, "user")
	}
	o, err := s.st.OrgByID(ctx, u.OrganizationID)
	if err != nil {
		return Page[Assistant]{}, err
	}
	rows, total, err := s.st.ListAssistants(ctx, store.AssistantFilter{OrganizationID: o.ID, OwnerUserID: u.ID,
		Query: strings.TrimSpace(query), Offset: offset, Limit: limit})
	if err != nil {
		return Page[Assistant]{}, err
	}
	p := Page[Assistant]{Items: make([]Assistant, 0, len(rows)), Total: total}
	for _, r := range rows {
		p.Items = append(p.Items, assistantView(r.Assistant, o.Slug, r.OwnerEmail))
	}
	return p, nil
}

// ModelChoice is a provider and the models it offers, for assistant forms.
type ModelChoice struct {
	Setup        string   `json:"setup"`
	Active       bool     `json:"active"` // the org's active setup: unpinned assistants use it
	Provider     string   `json:"provider"`
	Models       []string `json:"models"`
	DefaultModel string   `json:"default_model"`
	// KnowledgeBase: the setup has a knowledge base, so its assistants
	// may retrieve from collections.
	KnowledgeBase bool `json:"knowledge_base"`
}

// ModelChoices lists what the actor's org enables in each setup, the active
// setup first.
func (s *Service) ModelChoices(ctx context.Context, a Actor) ([]ModelChoice, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return nil, ErrForbidden
	}
	o, err := s.st.OrgByID(ctx, a.OrgID)
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	cfg, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return nil, err
	}
	out := []ModelChoice{} // an empty list, not null, in JSON
	for _, name := range cfg.SetupNames() {
		st := cfg.Setups[name]
		for _, pn := range config.Providers {
			if p := st.Providers[pn]; p != nil && p.Enabled {
				out = append(out, ModelChoice{Setup: name, Active: name == cfg.ActiveSetup, Provider: pn, Models: p.Models,
					DefaultModel: p.DefaultModel, KnowledgeBase: st.KnowledgeBase != nil && st.KnowledgeBase.URL != ""})
			}
		}
	}
	return out, nil
}
