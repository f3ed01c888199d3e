package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"lamb/service"
)

// bearer returns the API key of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// writeGatewayError writes a service error in the OpenAI shape.
func (h *Handler) writeGatewayError(w http.ResponseWriter, err error) {
	var ge *service.GatewayError
	if !errors.As(err, &ge) && errors.Is(err, service.ErrUnavailable) {
		h.unavailable(w, err)
		return
	}
	if ge == nil {
		h.log.Error("gateway", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal_error", "internal error; the request was not completed")
		return
	}
	if ge.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ge.RetryAfter+999_999_999)/1_000_000_000)))
	}
	if ge.Status == 499 { // nobody is listening any more
		return
	}
	writeError(w, ge.Status, ge.Type, ge.Code, ge.Message)
}

// authenticate resolves the caller of a gateway request, or writes the
// answer: a missing header says so, anything else is invalid_api_key.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (service.Caller, bool) {
	key := bearer(r)
	if key == "" {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"missing API key: send it as Authorization: Bearer lamb_… (create one in the lamb console)")
		return service.Caller{}, false
	}
	c, err := h.svc.Authenticate(r.Context(), key)
	if err != nil {
		h.writeGatewayError(w, err)
		return service.Caller{}, false
	}
	return c, true
}

// models is GET /v1/models: the assistants the key may call.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	ms, err := h.svc.Models(r.Context(), c)
	if err != nil {
		h.writeGatewayError(w, err)
		return
	}
	if ms == nil {
		ms = []service.Model{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": ms})
}

// chatCompletions is POST /v1/chat/completions (DESIGN §7). The body is
// relayed to the provider as sent, apart from what routing changes.
func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCompletionBody))
	var req *service.ChatRequest
	if err == nil {
		req, err = service.NewChatRequest(body)
	}
	if e := bodyErrorFor(err, maxCompletionBody); e != nil {
		h.svc.RecordRejected(c, e.status, e.code) // every request of an org is counted
		e.write(w)
		return
	}
	if req.Stream {
		h.stream(w, r, c, req)
		return
	}
	answer, err := h.svc.Chat(r.Context(), c, req)
	if err != nil {
		h.writeGatewayError(w, err)
		return
	}
	h.writeDeadline(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Lamb-Model", answer.Model)
	if answer.KB != "" {
		w.Header().Set("X-Lamb-KB", answer.KB)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(answer.Body)
}

// writeDeadline bounds the next write to the client. The server has no
// overall write timeout (it would cut long streams); instead each write
// must finish within Options.WriteTimeout, so a client that stops reading
// is dropped (and, streaming, its provider call cancelled) instead of
// being held open.
func (h *Handler) writeDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
}

// stream relays the provider's events as server-sent events, each one
// flushed as it arrives, and ends with [DONE]. An error after the first
// event is sent as an error event.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, c service.Caller, req *service.ChatRequest) {
	rc := http.NewResponseController(w)
	started := false
	// write sends bytes to the client now, within the write deadline.
	write := func(parts ...[]byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	err := h.svc.ChatStream(r.Context(), c, req, func(answer service.ChatAnswer) {
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("X-Accel-Buffering", "no") // tell proxies not to hold chunks back
		hd.Set("X-Lamb-Model", answer.Model)
		if answer.KB != "" {
			hd.Set("X-Lamb-KB", answer.KB)
		}
		w.WriteHeader(http.StatusOK)
		_ = write()
		started = true
	}, func(payload []byte) error {
		return write(dataPrefix, payload, eventEnd)
	})
	if err != nil && !started {
		h.writeGatewayError(w, err)
		return
	}
	if err != nil {
		var ge *service.GatewayError
		if errors.As(err, &ge) && ge.Status == 499 {
			return
		}
		var body errorBody
		body.Error.Message, body.Error.Type, body.Error.Code = err.Error(), "api_error", "provider_error"
		if errors.As(err, &ge) {
			body.Error.Type, body.Error.Code = ge.Type, ge.Code
		}
		data, _ := json.Marshal(body)
		if write(dataPrefix, data, eventEnd) != nil {
			return
		}
	}
	_ = write([]byte("data: [DONE]\n\n"))
}

var (
	dataPrefix = []byte("data: ")
	eventEnd   = []byte("\n\n")
)
