package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Assistant is a row of assistants.
type Assistant struct {
	ID             int64
	OrganizationID int64
	OwnerUserID    int64
	Name           string
	Description    string
	SystemPrompt   string
	Provider       string
	Model          string
	Temperature    *float64
	Setup          string
	// KnowledgeBase is nil for an assistant that answers without retrieval.
	KnowledgeBase  *AssistantKB
	PromptTemplate string
	Enabled        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// AssistantKB is how an assistant retrieves context from its org's
// knowledge base.
type AssistantKB struct {
	Collections []string `json:"collections"`
	TopK        int      `json:"top_k"`
	Threshold   float64  `json:"threshold"`
	OnError     string   `json:"on_error"`
}

func kbColumn(kb *AssistantKB) (string, error) {
	if kb == nil {
		return "", nil
	}
	b, err := json.Marshal(kb)
	return string(b), err
}

// AssistantWithOwner adds the owner's email, for lists.
type AssistantWithOwner struct {
	Assistant
	OwnerEmail   string
	OwnerEnabled bool
}

const assistantColumns = `a.id, a.organization_id, a.owner_user_id, a.name, a.description, a.system_prompt,
	a.provider, a.model, a.temperature, a.setup, a.knowledge_base, a.prompt_template, a.enabled, a.created_at, a.updated_at`

func scanAssistant(row interface{ Scan(...any) error }, extra ...any) (Assistant, error) {
	var a Assistant
	var temp sql.NullFloat64
	var created, updated int64
	var kb string
	dest := append([]any{&a.ID, &a.OrganizationID, &a.OwnerUserID, &a.Name, &a.Description, &a.SystemPrompt,
		&a.Provider, &a.Model, &temp, &a.Setup, &kb, &a.PromptTemplate, &a.Enabled, &created, &updated}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Assistant{}, mapErr(err)
	}
	if kb != "" {
		a.KnowledgeBase = &AssistantKB{}
		if err := json.Unmarshal([]byte(kb), a.KnowledgeBase); err != nil {
			return Assistant{}, fmt.Errorf("assistant %d: knowledge_base: %w", a.ID, err)
		}
	}
	if temp.Valid {
		t := temp.Float64
		a.Temperature = &t
	}
	a.CreatedAt, a.UpdatedAt = unix(created), unix(updated)
	return a, nil
}

// AssistantFilter selects assistants of an org (and owner, when set).
type AssistantFilter struct {
	OrganizationID int64
	OwnerUserID    int64
	Query          string
	Offset         int
	Limit          int
}

// ListAssistants returns assistants ordered by name, and the total.
func (q *Queries) ListAssistants(ctx context.Context, f AssistantFilter) ([]AssistantWithOwner, int, error) {
	where, args := ` WHERE a.organization_id = ?`, []any{f.OrganizationID}
	if f.OwnerUserID != 0 {
		where += ` AND a.owner_user_id = ?`
		args = append(args, f.OwnerUserID)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		where += ` AND (LOWER(a.name) LIKE LOWER(?) ESCAPE '\' OR LOWER(u.email) LIKE LOWER(?) ESCAPE '\')`
		args = append(args, like, like)
	}
	from := ` FROM assistants a JOIN users u ON u.id = a.owner_user_id`
	var total int
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*)`+from+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count assistants: %w", mapErr(err))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+assistantColumns+`, u.email, u.enabled`+from+where+
		` ORDER BY a.name, a.id LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list assistants: %w", mapErr(err))
	}
	defer rows.Close()
	var out []AssistantWithOwner
	for rows.Next() {
		var email string
		var enabled bool
		a, err := scanAssistant(rows, &email, &enabled)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, AssistantWithOwner{a, email, enabled})
	}
	return out, total, mapErr(rows.Err())
}

// AssistantByID returns one assistant.
func (q *Queries) AssistantByID(ctx context.Context, id int64) (Assistant, error) {
	return scanAssistant(q.r.QueryRowContext(ctx, `SELECT `+assistantColumns+` FROM assistants a WHERE a.id = ?`, id))
}

// SetAssistantEnabled enables or disables an assistant.
func (q *Queries) SetAssistantEnabled(ctx context.Context, id int64, enabled bool) error {
	res, err := q.w.ExecContext(ctx, `UPDATE assistants SET enabled = ?, updated_at = ? WHERE id = ?`, enabled, q.stamp(), id)
	if err != nil {
		return fmt.Errorf("update assistant: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateAssistant inserts a; a name its owner already uses is ErrConflict.
func (q *Queries) CreateAssistant(ctx context.Context, a Assistant) (Assistant, error) {
	kb, err := kbColumn(a.KnowledgeBase)
	if err != nil {
		return Assistant{}, err
	}
	now := q.stamp()
	id, err := q.nextID(ctx, "assistants")
	if err != nil {
		return Assistant{}, err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO assistants
		(id, organization_id, owner_user_id, name, description, system_prompt, provider, model, temperature, setup,
		 knowledge_base, prompt_template, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, a.OrganizationID, a.OwnerUserID, a.Name, a.Description, a.SystemPrompt, a.Provider, a.Model,
		nullFloat(a.Temperature), a.Setup, kb, a.PromptTemplate, a.Enabled, now, now)
	if err != nil {
		return Assistant{}, fmt.Errorf("create assistant %s: %w", a.Name, mapErr(err))
	}
	a.ID = id
	a.CreatedAt, a.UpdatedAt = unix(now), unix(now)
	return a, nil
}

// UpdateAssistant writes the editable fields of a.
func (q *Queries) UpdateAssistant(ctx context.Context, a Assistant) error {
	kb, err := kbColumn(a.KnowledgeBase)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE assistants SET name = ?, description = ?, system_prompt = ?, provider = ?,
		model = ?, temperature = ?, setup = ?, knowledge_base = ?, prompt_template = ?, enabled = ?, updated_at = ? WHERE id = ?`,
		a.Name, a.Description, a.SystemPrompt, a.Provider, a.Model, nullFloat(a.Temperature), a.Setup, kb, a.PromptTemplate,
		a.Enabled, q.stamp(), a.ID)
	if err != nil {
		return fmt.Errorf("update assistant %s: %w", a.Name, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAssistant deletes an assistant; its usage history stays.
func (q *Queries) DeleteAssistant(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM assistants WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete assistant: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CountAssistants counts an org's assistants, and one owner's when ownerID
// is not 0.
func (q *Queries) CountAssistants(ctx context.Context, orgID, ownerID int64) (org, owner int, err error) {
	err = q.r.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN owner_user_id = ? THEN 1 ELSE 0 END), 0) FROM assistants WHERE organization_id = ?`,
		ownerID, orgID).Scan(&org, &owner)
	return org, owner, mapErr(err)
}

func nullFloat(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
