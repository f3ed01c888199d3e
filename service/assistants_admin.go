package service

import (
	"context"
	"strings"
	"time"

	"lamb/store"
)

// Assistant is an assistant as the transports see it.
type Assistant struct {
	ID             int64        `json:"id"`
	Model          string       `json:"model_id"` // lamb_assistant.<id>, what callers pass as model
	OrgSlug        string       `json:"organization"`
	Owner          string       `json:"owner"`
	Name           string       `json:"name"`
	Description    string       `json:"description"`
	SystemPrompt   string       `json:"system_prompt"`
	Provider       string       `json:"provider"`
	LLM            string       `json:"model"`
	Temperature    *float64     `json:"temperature,omitempty"`
	Setup          string       `json:"setup,omitempty"`
	KnowledgeBase  *AssistantKB `json:"knowledge_base,omitempty"`
	PromptTemplate string       `json:"prompt_template,omitempty"`
	Enabled        bool         `json:"enabled"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

// ModelPrefix is how callers name an assistant: lamb_assistant.<id>.
const ModelPrefix = "lamb_assistant."

func assistantView(a store.Assistant, orgSlug, owner string) Assistant {
	return Assistant{ID: a.ID, Model: ModelPrefix + itoa(a.ID), OrgSlug: orgSlug, Owner: owner, Name: a.Name,
		Description: a.Description, SystemPrompt: a.SystemPrompt, Provider: a.Provider, LLM: a.Model,
		Temperature: a.Temperature, Setup: a.Setup, KnowledgeBase: kbFromStore(a.KnowledgeBase), PromptTemplate: a.PromptTemplate, Enabled: a.Enabled, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// ListOrgAssistants lists every assistant of an org. System admins and the
// org's admins.
func (s *Service) ListOrgAssistants(ctx context.Context, a Actor, slug, query string, offset, limit int) (Page[Assistant], error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Page[Assistant]{}, err
	}
	rows, total, err := s.st.ListAssistants(ctx, store.AssistantFilter{OrganizationID: o.ID, Query: strings.TrimSpace(query), Offset: offset, Limit: limit})
	if err != nil {
		return Page[Assistant]{}, err
	}
	p := Page[Assistant]{Items: make([]Assistant, 0, len(rows)), Total: total}
	for _, r := range rows {
		p.Items = append(p.Items, assistantView(r.Assistant, o.Slug, r.OwnerEmail))
	}
	return p, nil
}

// SetAssistantEnabled enables or disables an assistant of the org. A
// disabled assistant answers callers like a missing one.
func (s *Service) SetAssistantEnabled(ctx context.Context, a Actor, id int64, enabled bool) error {
	// Like orgForAdmin: roles that administer no org are refused before the
	// lookup, the same answer whichever org the assistant is in.
	if a.Role == RoleMember || a.Role == RoleAPIKey || a.Role == RoleNone {
		return ErrForbidden
	}
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		as, err := tx.AssistantByID(ctx, id)
		if err != nil {
			return storeErr(err, "assistant "+itoa(id))
		}
		if err := requireOrgAdmin(a, as.OrganizationID); err != nil {
			if err == ErrNotFound {
				return notFound("assistant %d", id)
			}
			return err
		}
		if as.Enabled == enabled {
			return nil
		}
		if err := tx.SetAssistantEnabled(ctx, id, enabled); err != nil {
			return err
		}
		action := map[bool]string{true: "assistant.enable", false: "assistant.disable"}[enabled]
		return s.audit(ctx, tx.Queries, a, as.OrganizationID, action, as.Name, map[string]any{"id": id})
	})
}
