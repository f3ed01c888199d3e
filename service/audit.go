package service

import (
	"context"
	"encoding/json"
	"strings"

	"lamb/store"
)

// redacted replaces secret values in audit details.
const redacted = "[redacted]"

// secretWords mark detail keys whose values are never written.
var secretWords = []string{"api_key", "api_token", "password", "secret", "signup_key", "token"}

// audit writes one audit event through q (a transaction when the change is
// one). Details are redacted of secrets before they are stored.
func (s *Service) audit(ctx context.Context, q *store.Queries, a Actor, orgID int64, action, target string, details map[string]any) error {
	ev, err := auditEvent(a, orgID, action, target, details)
	if err != nil {
		return err
	}
	return q.InsertAudit(ctx, ev)
}

// auditEvent builds the audit row of an action (details redacted), for
// audit and for writing many at once.
func auditEvent(a Actor, orgID int64, action, target string, details map[string]any) (store.AuditEvent, error) {
	data := []byte("{}")
	if len(details) > 0 {
		var err error
		if data, err = json.Marshal(redact(details)); err != nil {
			return store.AuditEvent{}, err
		}
	}
	actorID := a.UserID
	if a.Role == RoleAPIKey || a.Role == RoleSystem {
		actorID = 0
	}
	return store.AuditEvent{OrganizationID: orgID, ActorUserID: actorID, Actor: a.Display(), Action: action, Target: target, Details: string(data)}, nil
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// redact returns a copy of v with the values under secret-looking keys
// replaced. "Changed" flags (bool) are kept: they say that, not what.
func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if _, isBool := val.(bool); isSecretKey(k) && !isBool {
				out[k] = redacted
				continue
			}
			out[k] = redact(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redact(val)
		}
		return out
	}
	return v
}
