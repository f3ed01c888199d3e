package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

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
}

func (e *GatewayError) Error() string { return e.Message }

var (
	errInvalidKey = &GatewayError{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "invalid API key: it is unknown, revoked or expired, or its organization is suspended"}
)

var errUsageBacklog = &GatewayError{Status: 503, Type: "api_error", Code: "usage_unavailable", RetryAfter: 30 * time.Second,
	Message: "lamb can't record usage right now, so it isn't taking completion requests; retry later (operators: see /healthz and the server log)"}

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

// Authenticate resolves a bearer API key. Results are cached for a second,
// so revocations and suspensions take effect within a second while a
// request costs no database round trip.
func (s *Service) Authenticate(ctx context.Context, key string) (Caller, error) {
	if !looksLikeAPIKey(key) {
		return Caller{}, errInvalidKey
	}
	now := s.now()
	hash := HashAPIKey(key)
	k, err := s.keys.get(hash, now, func() (store.APIKeyWithOwner, error) {
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
	now := s.now()
	return s.assistants.get(id, now, func() (routedAssistant, error) {
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

// orgConfig returns an org's decrypted config, cached like keys.
func (s *Service) orgConfig(ctx context.Context, orgID int64) (*config.Org, string, bool, error) {
	e, err := s.orgConfigs.get(orgID, s.now(), func() (orgConfigEntry, error) {
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
		if err != nil {
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

// ChatRequest is an OpenAI chat completion request. Temperature, the
// token caps and n are pointers so that an explicit value (0 included) is
// told apart from "not given", and so that values go-openai's int fields
// can't hold are seen rather than wrapped.
type ChatRequest struct {
	openai.ChatCompletionRequest
	Temperature         *float32 `json:"temperature,omitempty"`
	MaxTokens           *int64   `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64   `json:"max_completion_tokens,omitempty"`
	N                   *int64   `json:"n,omitempty"`
	// BodySize is the length of the JSON body the caller sent; the
	// reservation counts every byte of it (tools, content parts, fields
	// lamb doesn't know), not only the messages' text. 0: not known, and
	// the request is measured by encoding it again.
	BodySize int `json:"-"`
}

// Bounds of a request's shape. A cap on max_tokens and n keeps the
// reservation (n × max_tokens) far from overflowing.
const (
	maxOutputTokens = 1_000_000
	maxChoices      = 128
)

// check refuses a request whose shape lamb can't admit honestly: a token
// cap or a choice count that is negative, zero or absurd would make the
// reservation meaningless (a budget bypass).
func (r *ChatRequest) check() error {
	bad := func(format string, args ...any) error {
		return &GatewayError{Status: 400, Type: "invalid_request_error", Code: "invalid_request_error", Message: fmt.Sprintf(format, args...)}
	}
	if len(r.Messages) == 0 {
		return bad("messages: at least one message is required")
	}
	for _, f := range []struct {
		name string
		v    *int64
		max  int64
	}{{"max_tokens", r.MaxTokens, maxOutputTokens}, {"max_completion_tokens", r.MaxCompletionTokens, maxOutputTokens}, {"n", r.N, maxChoices}} {
		if f.v != nil && (*f.v < 1 || *f.v > f.max) {
			return bad("%s: must be between 1 and %d", f.name, f.max)
		}
	}
	return nil
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
	estimate  int64
	started   time.Time
	stream    bool
	streaming bool // the provider accepted the stream and started answering
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
	cl.estimate = reservationFor(req, a.SystemPrompt)
	cl.res, err = s.admit(ctx, a.OrganizationID, a.OwnerUserID, cfg.Limits, cl.estimate)
	if err != nil {
		return cl, err
	}
	return cl, nil
}

// prepare turns the caller's request into the provider's: the assistant's
// model, its system prompt first, its temperature unless the caller set one.
func (cl *call) prepare(req *ChatRequest) openai.ChatCompletionRequest {
	out := req.ChatCompletionRequest
	out.Model = cl.model
	out.MaxTokens, out.MaxCompletionTokens, out.N = int(deref(req.MaxTokens)), int(deref(req.MaxCompletionTokens)), int(deref(req.N))
	if sp := cl.assistant.SystemPrompt; sp != "" {
		msgs := make([]openai.ChatCompletionMessage, 0, len(out.Messages)+1)
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: sp})
		out.Messages = append(msgs, out.Messages...)
	}
	t := req.Temperature
	if t == nil && cl.assistant.Temperature != nil {
		v := float32(*cl.assistant.Temperature)
		t = &v
	}
	if t != nil {
		out.Temperature = *t
		if *t == 0 {
			// go-openai omits a zero temperature; the smallest positive
			// float is the documented way to send "0".
			out.Temperature = math.SmallestNonzeroFloat32
		}
	}
	if cl.stream {
		out.Stream = true
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	return out
}

// imageTokens is what an image content part reserves: about a
// high-detail image's cost. Its bytes (often a data: URL) are not counted
// as text.
const imageTokens = 1000

// promptEstimate is about how many tokens a request's prompt holds: four
// characters a token over the whole body the caller sent (tools, schemas,
// content parts and fields lamb doesn't know all reach the provider, and
// the JSON framing stands in for each message's), plus the assistant's
// system prompt, with images at a fixed cost.
func promptEstimate(req *ChatRequest, systemPrompt string) int64 {
	chars := req.BodySize
	if chars == 0 {
		b, _ := json.Marshal(req.ChatCompletionRequest)
		chars = len(b)
	}
	if systemPrompt != "" {
		chars += len(systemPrompt) + 16
	}
	var images int64
	for _, m := range req.Messages {
		for _, p := range m.MultiContent {
			if p.ImageURL != nil {
				images++
				chars -= len(p.ImageURL.URL)
			}
		}
	}
	return int64(max(chars, 0)+3)/4 + images*imageTokens
}

// reservationFor is what a request reserves before the call: its prompt
// plus what it may generate — every choice's max_tokens (or
// defaultReservation). check has bounded the factors.
func reservationFor(req *ChatRequest, systemPrompt string) int64 {
	out := int64(defaultReservation)
	if req.MaxTokens != nil || req.MaxCompletionTokens != nil {
		out = max(deref(req.MaxTokens), deref(req.MaxCompletionTokens))
	}
	n := int64(1)
	if req.N != nil {
		n = *req.N
	}
	return promptEstimate(req, systemPrompt) + n*out
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// defaultReservation is what a request without max_tokens reserves for its
// answer until the real usage is known.
const defaultReservation = 1024

// estimateTokens counts the tokens of text the way promptEstimate does,
// for providers that report no usage.
func estimateTokens(s string) int64 { return int64((len(s) + 3) / 4) }

// finish settles the reservation, queues the usage event and logs the
// request's one line. Without usage from the provider (it gave none, the
// stream broke, the client left), the tokens are estimated from the prompt
// and the text that was produced, and the event says so: a request that
// reached the provider is never free.
func (s *Service) finish(cl *call, status string, httpStatus int, usage *openai.Usage, produced string, req *ChatRequest) {
	latency := s.now().Sub(cl.started)
	var prompt, completion int64
	estimated := false
	charged := status == "ok" || status == "client_closed" || status == "server_shutting_down" || cl.streaming
	switch {
	case usage != nil && (usage.PromptTokens > 0 || usage.CompletionTokens > 0):
		// A provider is a network peer: negative counts would refund budget.
		prompt, completion = max(int64(usage.PromptTokens), 0), max(int64(usage.CompletionTokens), 0)
	case charged: // the provider had the request and worked on it
		estimated = true
		prompt = promptEstimate(req, cl.assistant.SystemPrompt)
		completion = estimateTokens(produced)
	}
	s.settle(cl.res, prompt+completion)
	s.stats.add(status, prompt, completion, latency, true)
	s.usage.record(store.UsageEvent{OrganizationID: cl.caller.OrgID, AssistantID: cl.assistant.ID, UserID: cl.assistant.OwnerUserID,
		APIKeyID: cl.caller.KeyID, Provider: cl.target.Provider, Model: cl.model, PromptTokens: prompt, CompletionTokens: completion,
		Status: status, HTTPStatus: httpStatus, LatencyMS: latency.Milliseconds(), Stream: cl.stream, Estimated: estimated,
		CreatedAt: cl.started})
	s.log.Info("completion", "org", cl.orgSlug, "setup", cl.setup, "provider", cl.target.Provider, "model", cl.model,
		"assistant", cl.assistant.ID, "status", httpStatus, "latency_ms", latency.Milliseconds(), "stream", cl.stream,
		"prompt_tokens", prompt, "completion_tokens", completion, "estimated", estimated)
}

// refuse records a request refused before reaching a provider.
func (s *Service) refuse(c Caller, cl *call, err error) {
	ge := asGatewayError(err)
	e := store.UsageEvent{OrganizationID: c.OrgID, APIKeyID: c.KeyID, Status: ge.Code, HTTPStatus: ge.Status, CreatedAt: s.now()}
	if cl != nil {
		e.AssistantID, e.UserID, e.Provider, e.Model = cl.assistant.ID, cl.assistant.OwnerUserID, cl.target.Provider, cl.model
		e.LatencyMS = s.now().Sub(cl.started).Milliseconds()
	}
	s.recordRefusal(e)
	if ge.Status == 500 { // lamb's own failure: the operator needs the cause
		s.log.Error("completion failed", "org", c.OrgSlug, "assistant", e.AssistantID, "err", err)
		return
	}
	s.log.Info("completion refused", "org", c.OrgSlug, "assistant", e.AssistantID, "status", ge.Status, "code", ge.Code)
}

// RecordRejected records a request of an authenticated caller that the
// transport refused before routing (a malformed body, say): counted like
// every other refusal.
func (s *Service) RecordRejected(c Caller, httpStatus int, code string) {
	s.recordRefusal(store.UsageEvent{OrganizationID: c.OrgID, APIKeyID: c.KeyID, Status: code, HTTPStatus: httpStatus, CreatedAt: s.now()})
}

// asGatewayError maps any error of the gateway path to its HTTP answer.
func asGatewayError(err error) *GatewayError {
	var ge *GatewayError
	if errors.As(err, &ge) {
		return ge
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe, provider.ErrTimeout):
			return &GatewayError{Status: 504, Type: "api_error", Code: "provider_timeout", Message: pe.Message}
		case pe.Status == http.StatusBadRequest || pe.Status == http.StatusUnprocessableEntity:
			return &GatewayError{Status: 400, Type: "invalid_request_error", Code: "provider_rejected_request", Message: pe.Message}
		case pe.Status == http.StatusTooManyRequests:
			return &GatewayError{Status: 429, Type: "rate_limit_error", Code: "provider_rate_limited", Message: pe.Message, RetryAfter: 10 * time.Second}
		}
		return &GatewayError{Status: 502, Type: "api_error", Code: "provider_error", Message: pe.Message}
	}
	if errors.Is(err, ErrShuttingDown) {
		return &GatewayError{Status: 503, Type: "api_error", Code: "server_shutting_down", Message: err.Error(), RetryAfter: 5 * time.Second}
	}
	if errors.Is(err, context.Canceled) {
		return &GatewayError{Status: 499, Type: "api_error", Code: "client_closed", Message: "the client closed the request"}
	}
	return &GatewayError{Status: 500, Type: "server_error", Code: "internal_error", Message: "internal error; the request was not completed"}
}

// Chat runs a non-streaming completion (DESIGN §7). It returns the
// provider's response with the model used.
func (s *Service) Chat(ctx context.Context, c Caller, req *ChatRequest) (openai.ChatCompletionResponse, error) {
	cl, err := s.route(ctx, c, req)
	if err != nil {
		s.refuse(c, cl, err)
		return openai.ChatCompletionResponse{}, asGatewayError(err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.providerTimeout)
	defer cancel()
	resp, err := s.providers.Client(cl.target).CreateChatCompletion(pctx, cl.prepare(req))
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx) // the client went away (or the server is stopping), not the provider
		} else {
			err = provider.Explain(cl.target, err)
		}
		ge := asGatewayError(err)
		s.finish(cl, ge.Code, ge.Status, nil, "", req)
		return openai.ChatCompletionResponse{}, ge
	}
	text := ""
	if resp.Usage.TotalTokens == 0 && len(resp.Choices) > 0 {
		text = resp.Choices[0].Message.Content
	}
	s.finish(cl, "ok", 200, &resp.Usage, text, req)
	resp.Model = cl.model
	return resp, nil
}

// ChatStream runs a streaming completion: start is called with the model
// once the provider accepted the request, then send for every chunk as it
// arrives. An error before start is the request's answer; an error after
// it happened mid-stream.
func (s *Service) ChatStream(ctx context.Context, c Caller, req *ChatRequest, start func(model string), send func(*openai.ChatCompletionStreamResponse) error) error {
	cl, err := s.route(ctx, c, req)
	if err != nil {
		s.refuse(c, cl, err)
		return asGatewayError(err)
	}
	// The deadline covers waiting for the provider to answer and each gap
	// between chunks, not the whole stream: a long answer that keeps
	// coming is never cut off.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(s.providerTimeout, cancel)
	defer idle.Stop()
	// fail tells who broke the stream: the client (gone), lamb's idle
	// deadline (a silent provider), or the provider.
	fail := func(err error, usage *openai.Usage, text string) error {
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx) // the client left, or the server is stopping
		case pctx.Err() != nil:
			err = provider.Explain(cl.target, context.DeadlineExceeded)
		default:
			err = provider.Explain(cl.target, err)
		}
		ge := asGatewayError(err)
		s.finish(cl, ge.Code, ge.Status, usage, text, req)
		return ge
	}

	stream, err := s.providers.Client(cl.target).CreateChatCompletionStream(pctx, cl.prepare(req))
	if err != nil {
		return fail(err, nil, "")
	}
	defer stream.Close()
	cl.streaming = true
	start(cl.model)
	var usage *openai.Usage
	var text strings.Builder
	for {
		idle.Reset(s.providerTimeout)
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err, usage, text.String())
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		if usage == nil && len(chunk.Choices) > 0 {
			text.WriteString(chunk.Choices[0].Delta.Content)
		}
		chunk.Model = cl.model
		if err := send(&chunk); err != nil {
			ge := asGatewayError(context.Canceled) // the client can't be written to
			s.finish(cl, ge.Code, ge.Status, usage, text.String(), req)
			return ge
		}
	}
	s.finish(cl, "ok", 200, usage, text.String(), req)
	return nil
}
