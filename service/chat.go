package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"lamb/provider"
	"lamb/store"
)

// usageCounts is what a provider reports of a completion's tokens.
type usageCounts struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// answerView is what lamb reads of a provider's JSON answer.
type answerView struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage *usageCounts `json:"usage"`
}

// chunkView is what lamb reads of one streamed chunk.
type chunkView struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *usageCounts    `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// maxAnswer bounds a provider's JSON answer.
const maxAnswer = 32 << 20

// ChatAnswer is a provider's answer, relayed as received (with the
// "lamb" object of an assistant with a knowledge base), the model lamb
// asked for, and KB: KBUnavailable when the knowledge base failed and the
// assistant answered without context.
type ChatAnswer struct {
	Model string
	KB    string
	Body  []byte
}

// header is the answer's metadata, known before its body.
func (cl *call) header() ChatAnswer {
	a := ChatAnswer{Model: cl.model}
	if cl.rag != nil && cl.rag.unavailable {
		a.KB = KBUnavailable
	}
	return a
}

// Chat runs a non-streaming completion (DESIGN §7) and returns the
// provider's answer unchanged.
func (s *Service) Chat(ctx context.Context, c Caller, req *ChatRequest) (ChatAnswer, error) {
	cl, err := s.route(ctx, c, req)
	if err != nil {
		s.refuse(c, cl, err)
		return ChatAnswer{}, asGatewayError(err)
	}
	body := cl.outgoing(req)
	pctx, cancel := context.WithTimeout(ctx, s.providerTimeout)
	defer cancel()
	fail := func(err error) (ChatAnswer, error) {
		if ctx.Err() != nil {
			err = context.Cause(ctx) // the client went away (or the server is stopping), not the provider
		} else {
			err = explain(cl.target, err)
		}
		ge := asGatewayError(err)
		s.providerFailed(cl, ge)
		s.finish(cl, ge.Code, ge.Status, nil, 0, req)
		return ChatAnswer{}, ge
	}
	resp, err := s.providers.Chat(pctx, cl.target, body)
	if err != nil {
		return fail(err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	resp.Body.Close()
	if err != nil {
		return fail(err)
	}
	var view answerView
	if len(data) > maxAnswer || json.Unmarshal(data, &view) != nil {
		ge := asGatewayError(&provider.Error{Kind: provider.ErrUpstream, Status: http.StatusOK,
			Message: cl.target.Provider + " answered with something that is not an OpenAI-compatible completion"})
		s.finish(cl, ge.Code, ge.Status, nil, 0, req)
		return ChatAnswer{}, ge
	}
	produced := 0
	if view.Usage == nil {
		for _, ch := range view.Choices {
			produced += len(ch.Message.Content)
		}
	}
	s.finish(cl, "ok", 200, view.Usage, produced, req)
	answer := cl.header()
	answer.Body = data
	if cl.rag != nil {
		answer.Body = withLamb(data, cl.rag.lambObject())
	}
	return answer, nil
}

// ChatStream runs a streaming completion: start is called with the
// answer's header (model, KB) once the provider accepted the request, then
// send with the payload of every event as it arrives, unchanged (valid
// until send returns), and for an assistant with a knowledge base a last
// event with the "lamb" object. An error before start is the request's
// answer; an error after it happened mid-stream.
func (s *Service) ChatStream(ctx context.Context, c Caller, req *ChatRequest, start func(ChatAnswer), send func(payload []byte) error) error {
	cl, err := s.route(ctx, c, req)
	if err != nil {
		s.refuse(c, cl, err)
		return asGatewayError(err)
	}
	body := cl.outgoing(req)
	// The deadline covers waiting for the provider to answer and each gap
	// between chunks, not the whole stream: a long answer that keeps
	// coming is never cut off.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(s.providerTimeout, cancel)
	defer idle.Stop()
	var usage *usageCounts
	produced := 0
	// fail tells who broke the stream: the client (gone), lamb's idle
	// deadline (a silent provider), or the provider.
	fail := func(err error) error {
		switch {
		case ctx.Err() != nil:
			err = context.Cause(ctx) // the client left, or the server is stopping
		case pctx.Err() != nil:
			err = provider.Explain(cl.target, context.DeadlineExceeded)
		default:
			err = explain(cl.target, err)
		}
		ge := asGatewayError(err)
		s.providerFailed(cl, ge)
		s.finish(cl, ge.Code, ge.Status, usage, produced, req)
		return ge
	}

	resp, err := s.providers.Chat(pctx, cl.target, body)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	cl.streaming = true
	start(cl.header())
	events := provider.NewEvents(resp.Body)
	for {
		idle.Reset(s.providerTimeout)
		payload, err := events.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		var chunk chunkView
		if json.Unmarshal(payload, &chunk) != nil {
			return fail(&provider.Error{Kind: provider.ErrUpstream, Message: cl.target.Provider + " streamed something that is not an OpenAI-compatible chunk"})
		}
		if len(chunk.Error) > 0 && string(chunk.Error) != "null" {
			return fail(provider.StreamError(cl.target, payload))
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			produced += len(ch.Delta.Content)
		}
		if err := send(payload); err != nil {
			ge := asGatewayError(context.Canceled) // the client can't be written to
			s.finish(cl, ge.Code, ge.Status, usage, produced, req)
			return ge
		}
	}
	if cl.rag != nil {
		if err := send(lambChunk(cl.rag.lambObject())); err != nil {
			ge := asGatewayError(context.Canceled)
			s.finish(cl, ge.Code, ge.Status, usage, produced, req)
			return ge
		}
	}
	s.finish(cl, "ok", 200, usage, produced, req)
	return nil
}

// finish settles the reservation, queues the usage event and logs the
// request's one line. Without usage from the provider (it gave none, the
// stream broke, the client left), the tokens are estimated from the prompt
// and the characters produced, and the event says so: a request that
// reached the provider is never free.
func (s *Service) finish(cl *call, status string, httpStatus int, usage *usageCounts, produced int, req *ChatRequest) {
	latency := s.now().Sub(cl.started)
	var prompt, completion int64
	estimated := false
	charged := status == "ok" || status == "client_closed" || status == "server_shutting_down" || cl.streaming
	switch {
	case usage != nil && (usage.PromptTokens > 0 || usage.CompletionTokens > 0):
		// A provider is a network peer: negative counts would refund budget.
		prompt, completion = max(usage.PromptTokens, 0), max(usage.CompletionTokens, 0)
	case charged: // the provider had the request and worked on it
		estimated = true
		prompt = promptEstimate(req, cl.added())
		completion = estimateTokens(produced)
	}
	s.settle(cl.res, prompt+completion)
	s.stats.add(status, prompt, completion, latency, true)
	ev := store.UsageEvent{OrganizationID: cl.caller.OrgID, AssistantID: cl.assistant.ID, UserID: cl.assistant.OwnerUserID,
		APIKeyID: cl.caller.KeyID, Provider: cl.target.Provider, Model: cl.model, PromptTokens: prompt, CompletionTokens: completion,
		Status: status, HTTPStatus: httpStatus, LatencyMS: latency.Milliseconds(), Stream: cl.stream, Estimated: estimated,
		CreatedAt: cl.started}
	cl.rag.stamp(&ev)
	s.usage.record(ev)
	attrs := []any{"org", cl.orgSlug, "setup", cl.setup, "provider", cl.target.Provider, "model", cl.model,
		"assistant", cl.assistant.ID, "status", httpStatus, "latency_ms", latency.Milliseconds(), "stream", cl.stream,
		"prompt_tokens", prompt, "completion_tokens", completion, "estimated", estimated}
	if cl.rag != nil {
		attrs = append(attrs, "kb_ms", cl.rag.took.Milliseconds(), "kb_chunks", len(cl.rag.sources), "kb_unavailable", cl.rag.unavailable)
	}
	s.log.Info("completion", attrs...)
}

// refuse records a request refused before reaching a provider.
func (s *Service) refuse(c Caller, cl *call, err error) {
	ge := asGatewayError(err)
	e := store.UsageEvent{OrganizationID: c.OrgID, APIKeyID: c.KeyID, Status: ge.Code, HTTPStatus: ge.Status, CreatedAt: s.now()}
	if ge.usage != "" {
		e.Status = ge.usage
	}
	if cl != nil {
		s.settle(cl.res, 0) // admitted, then refused before the call
		e.AssistantID, e.UserID, e.Provider, e.Model = cl.assistant.ID, cl.assistant.OwnerUserID, cl.target.Provider, cl.model
		e.LatencyMS = s.now().Sub(cl.started).Milliseconds()
		cl.rag.stamp(&e)
	}
	s.recordRefusal(e)
	if ge.Status == 500 { // lamb's own failure: the operator needs the cause
		s.log.Error("completion failed", "org", c.OrgSlug, "assistant", e.AssistantID, "err", err)
		return
	}
	if ge.cause != nil { // the org's own service failed: its admins need the details
		s.log.Warn("completion failed", "org", c.OrgSlug, "assistant", e.AssistantID, "status", ge.Status, "code", ge.Code, "err", ge.cause)
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

// providerFailed logs what the caller isn't told: where the org's
// provider is and what to check there.
func (s *Service) providerFailed(cl *call, ge *GatewayError) {
	if ge.cause != nil {
		s.log.Warn("provider failed", "org", cl.orgSlug, "setup", cl.setup, "assistant", cl.assistant.ID, "err", ge.cause)
	}
}

// explain says what a failed provider call means, once.
func explain(t provider.Target, err error) error {
	if errors.As(err, new(*provider.Error)) {
		return err
	}
	return provider.Explain(t, err)
}

// asGatewayError maps any error of the gateway path to its HTTP answer.
func asGatewayError(err error) *GatewayError {
	var ge *GatewayError
	if errors.As(err, &ge) {
		return ge
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		// Callers get what they can act on; where the org's provider lives
		// (an internal address) and what to fix there is for its admins:
		// the log line of the request, and "test connection".
		switch {
		case errors.Is(pe, provider.ErrTimeout):
			return &GatewayError{Status: 504, Type: "api_error", Code: "provider_timeout",
				Message: "the assistant's AI provider did not answer in time; try again later", cause: pe}
		case pe.Status == http.StatusBadRequest || pe.Status == http.StatusUnprocessableEntity:
			return &GatewayError{Status: 400, Type: "invalid_request_error", Code: "provider_rejected_request",
				Message: "the assistant's AI provider refused the request: " + pe.Said, cause: pe}
		case pe.Status == http.StatusTooManyRequests:
			return &GatewayError{Status: 429, Type: "rate_limit_error", Code: "provider_rate_limited",
				Message: "the assistant's AI provider is limiting this organization's requests; retry later", RetryAfter: 10 * time.Second, cause: pe}
		case errors.Is(pe, provider.ErrRejectedKey):
			return &GatewayError{Status: 502, Type: "api_error", Code: "provider_error",
				Message: "the assistant's AI provider refused the organization's credentials; an admin of the organization must check its provider settings", cause: pe}
		}
		return &GatewayError{Status: 502, Type: "api_error", Code: "provider_error",
			Message: "the assistant's AI provider failed; try again later, or tell an admin of the organization if it persists", cause: pe}
	}
	if errors.Is(err, ErrUnavailable) {
		return unavailable(err)
	}
	if errors.Is(err, ErrShuttingDown) {
		return &GatewayError{Status: 503, Type: "api_error", Code: "server_shutting_down", Message: err.Error(), RetryAfter: 5 * time.Second}
	}
	if errors.Is(err, context.Canceled) {
		return &GatewayError{Status: 499, Type: "api_error", Code: "client_closed", Message: "the client closed the request"}
	}
	return &GatewayError{Status: 500, Type: "server_error", Code: "internal_error", Message: "internal error; the request was not completed"}
}
