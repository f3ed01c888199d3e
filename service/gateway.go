package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"lamb/config"
	"lamb/provider"
	"lamb/store"
)

// GatewayError is an OpenAI-shaped error of the completion gateway.
type GatewayError struct {
	Status     int
	Type       string
	Code       string
	Message    string
	RetryAfter time.Duration
	cause      error  // what the org's admins need to know (logged), when the caller is told less
	usage      string // the usage event's status, when not Code
}

func (e *GatewayError) Error() string { return e.Message }

var (
	errInvalidKey = &GatewayError{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "invalid API key: it is unknown, revoked or expired, or its organization is suspended"}
)

var errUsageBacklog = &GatewayError{Status: 503, Type: "api_error", Code: "usage_unavailable", RetryAfter: 30 * time.Second,
	Message: "lamb can't record usage right now, so it isn't taking completion requests; retry later (operators: see /healthz and the server log)"}

// unavailable answers a gateway request that needed the database while
// it can't be reached. Requests that find what they need in the caches
// are still served.
func unavailable(cause error) *GatewayError {
	return &GatewayError{Status: 503, Type: "api_error", Code: "service_unavailable", Message: ErrUnavailable.Error(),
		RetryAfter: 5 * time.Second, cause: cause}
}

func modelNotFound(model string) *GatewayError {
	return &GatewayError{Status: 404, Type: "invalid_request_error", Code: "model_not_found",
		Message: fmt.Sprintf("the model %q does not exist or this key can't call it; GET /v1/models lists the assistants it can", model)}
}

// Caller is who calls the gateway: an API key of an org, personal or not.
type Caller struct {
	KeyID    int64
	OrgID    int64
	OrgSlug  string
	UserID   int64 // a personal key's user
	Personal bool
}

// Authenticate resolves a bearer API key. Results are cached until the
// key, its user or its org changes (see cache), so a request costs no
// database round trip while revocations and suspensions take effect at
// once (within a second for another lamb process's changes).
func (s *Service) Authenticate(ctx context.Context, key string) (Caller, error) {
	if !looksLikeAPIKey(key) {
		return Caller{}, errInvalidKey
	}
	now := s.now()
	hash := HashAPIKey(key)
	k, err := s.keys.get(hash, func() (store.APIKeyWithOwner, error) {
		ctx, cancel := loadContext(ctx)
		defer cancel()
		k, err := s.st.APIKeyByHash(ctx, hash)
		if err == nil && k.UserID != 0 {
			u, uerr := s.st.UserByID(ctx, k.UserID)
			switch {
			case errors.Is(uerr, store.ErrNotFound):
				return k, errInvalidKey
			case uerr != nil:
				return k, uerr // a database failure, not an answer: not cached
			case !u.Enabled:
				return k, errInvalidKey
			}
		}
		return k, err
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, errInvalidKey):
		return Caller{}, errInvalidKey
	case errors.Is(err, ErrUnavailable):
		return Caller{}, unavailable(err)
	case err != nil:
		return Caller{}, err
	case !k.RevokedAt.IsZero(), !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt), k.OrgStatus != store.OrgActive:
		return Caller{}, errInvalidKey
	}
	s.touchKey(k.ID, now)
	return Caller{KeyID: k.ID, OrgID: k.OrganizationID, OrgSlug: k.OrgSlug, UserID: k.UserID, Personal: k.UserID != 0}, nil
}

// loadContext is the context of a cache load: it doesn't end when the one
// caller that triggered the load goes away, because other callers will be
// served what it loads.
func loadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

// touchKey records last use, at most once a minute per key.
func (s *Service) touchKey(id int64, now time.Time) {
	s.mu.Lock()
	last := s.keyTouched[id]
	if now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	s.keyTouched[id] = now
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.st.TouchAPIKey(ctx, id, now); err != nil {
			s.log.Warn("record api key use", "err", err)
		}
	}()
}

// routedAssistant is an assistant with what calling it needs.
type routedAssistant struct {
	a         store.Assistant
	ownerOK   bool // the owner is enabled
	orgCfg    *config.Org
	orgSlug   string
	orgActive bool
}

func (s *Service) routeAssistant(ctx context.Context, id int64) (routedAssistant, error) {
	return s.assistants.get(id, func() (routedAssistant, error) {
		ctx, cancel := loadContext(ctx)
		defer cancel()
		a, err := s.st.AssistantByID(ctx, id)
		if err != nil {
			return routedAssistant{}, err
		}
		u, err := s.st.UserByID(ctx, a.OwnerUserID)
		if err != nil {
			return routedAssistant{}, err
		}
		cfg, slug, active, err := s.orgConfig(ctx, a.OrganizationID)
		if err != nil {
			return routedAssistant{}, err
		}
		return routedAssistant{a: a, ownerOK: u.Enabled, orgCfg: cfg, orgSlug: slug, orgActive: active}, nil
	})
}

// orgConfigEntry is an org's decrypted config and state, cached.
type orgConfigEntry struct {
	cfg    *config.Org
	slug   string
	active bool
}

// orgConfig returns an org's config, decrypted once and cached like keys.
func (s *Service) orgConfig(ctx context.Context, orgID int64) (*config.Org, string, bool, error) {
	e, err := s.orgConfigs.get(orgID, func() (orgConfigEntry, error) {
		ctx, cancel := loadContext(ctx)
		defer cancel()
		o, err := s.st.OrgByID(ctx, orgID)
		if err != nil {
			return orgConfigEntry{}, err
		}
		cfg, err := s.openConfig(o)
		return orgConfigEntry{cfg, o.Slug, o.Status == store.OrgActive}, err
	})
	return e.cfg, e.slug, e.active, err
}

// parseModel accepts "lamb_assistant.<id>" or the bare id.
func parseModel(model string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimPrefix(model, ModelPrefix), 10, 64)
	return id, err == nil && id > 0
}

// Model is an assistant as /v1/models lists it.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	Name    string `json:"name"`
}

// Models lists the assistants a caller may call.
func (s *Service) Models(ctx context.Context, c Caller) ([]Model, error) {
	f := store.AssistantFilter{OrganizationID: c.OrgID, Limit: 500}
	if c.Personal {
		f.OwnerUserID = c.UserID
	}
	var out []Model
	for {
		rows, total, err := s.st.ListAssistants(ctx, f)
		if errors.Is(err, ErrUnavailable) {
			return nil, unavailable(err)
		} else if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if r.Enabled && r.OwnerEnabled { // what a call would answer 404 to isn't listed
				out = append(out, Model{ID: ModelPrefix + itoa(r.ID), Object: "model", Created: r.CreatedAt.Unix(), OwnedBy: c.OrgSlug, Name: r.Name})
			}
		}
		f.Offset += len(rows)
		if len(rows) == 0 || f.Offset >= total {
			return out, nil
		}
	}
}

// call is one routed request on its way to a provider.
type call struct {
	caller    Caller
	assistant store.Assistant
	orgSlug   string
	setup     string
	target    provider.Target
	model     string
	res       reservation
	started   time.Time
	stream    bool
	streaming bool       // the provider accepted the stream and started answering
	rag       *retrieval // the knowledge-base step, for an assistant with collections
}

// added is what lamb adds to the caller's prompt, in characters: the
// system prompt and its framing, and retrieved context.
func (cl *call) added() int {
	n := 0
	if sp := cl.assistant.SystemPrompt; sp != "" {
		n += len(sp) + 16
	}
	if cl.rag != nil {
		n += max(cl.rag.added, 0)
	}
	return n
}

// route applies DESIGN §7 rules 2-6: the assistant must be the caller's to
// call, the setup is its pin or the org's active one, the provider must be
// enabled there, the model falls back to the provider's default; limits
// are admitted last.
func (s *Service) route(ctx context.Context, c Caller, req *ChatRequest) (*call, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	id, ok := parseModel(req.Model)
	if !ok {
		return nil, modelNotFound(req.Model)
	}
	ra, err := s.routeAssistant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, modelNotFound(req.Model)
	} else if err != nil {
		return nil, err
	}
	a := ra.a
	// Another org's assistant answers exactly like a missing one.
	if a.OrganizationID != c.OrgID || (c.Personal && a.OwnerUserID != c.UserID) || !a.Enabled || !ra.ownerOK || !ra.orgActive {
		return nil, modelNotFound(req.Model)
	}
	cfg := ra.orgCfg
	setupName := a.Setup
	if _, ok := cfg.Setups[setupName]; !ok || setupName == "" {
		setupName = cfg.ActiveSetup // a pin to a deleted setup falls back
	}
	setup := cfg.Setups[setupName]
	p := setup.Providers[a.Provider]
	if p == nil || !p.Enabled {
		return nil, &GatewayError{Status: 400, Type: "invalid_request_error", Code: "provider_not_enabled",
			Message: fmt.Sprintf("provider %s is not enabled in setup %s of organization %s; an admin can enable it in the Providers screen", a.Provider, setupName, ra.orgSlug)}
	}
	model := a.Model
	if len(p.Models) > 0 && !slices.Contains(p.Models, model) {
		model = p.DefaultModel
		if model == "" {
			model = p.Models[0]
		}
	}
	cl := &call{caller: c, assistant: a, orgSlug: ra.orgSlug, setup: setupName, model: model, started: s.now(),
		target: provider.Target{Provider: a.Provider, BaseURL: p.BaseURL, APIKey: p.APIKey}, stream: req.Stream}
	if !s.usage.accepting() {
		// Usage can't be stored as fast as it comes (a full or failing
		// disk): answering would spend budget nobody can account for.
		return cl, errUsageBacklog
	}
	limits := cfg.EffectiveLimits()
	n := needOf(req, cl.added())
	cl.res, err = s.admit(ctx, a.OrganizationID, a.OwnerUserID, limits, n)
	if err != nil {
		return cl, err
	}
	// Retrieval comes after admission, so that a caller past its limits
	// can't make lamb query the org's knowledge base for nothing; the
	// context found is then added to the reservation.
	if a.KnowledgeBase != nil && len(a.KnowledgeBase.Collections) > 0 {
		if err := s.retrieve(ctx, cl, setup.KnowledgeBase, req); err != nil {
			return cl, err
		}
		if err := s.extend(ctx, &cl.res, limits, n, estimateTokens(cl.rag.added)); err != nil {
			return cl, err
		}
	}
	return cl, nil
}
