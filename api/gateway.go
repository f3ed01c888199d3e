package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

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
	if !errors.As(err, &ge) {
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

// countingReader counts the bytes of a request body as they are read.
type countingReader struct {
	r io.ReadCloser
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

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

// chatCompletions is POST /v1/chat/completions (DESIGN §7).
func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request) {
	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var req service.ChatRequest
	body := &countingReader{r: r.Body}
	r.Body = body
	e := decodeJSON(w, r, maxCompletionBody, &req)
	req.BodySize = body.n
	if e != nil {
		h.svc.RecordRejected(c, e.status, e.code) // every request of an org leaves its usage row
		e.write(w)
		return
	}
	if req.Stream {
		h.stream(w, r, c, &req)
		return
	}
	resp, err := h.svc.Chat(r.Context(), c, &req)
	if err != nil {
		h.writeGatewayError(w, err)
		return
	}
	h.writeDeadline(w)
	w.Header().Set("X-Lamb-Model", resp.Model)
	writeJSON(w, http.StatusOK, resp)
}

// writeDeadline bounds the next write to the client. The server has no
// overall write timeout (it would cut long streams); instead each write
// must finish within Options.WriteTimeout, so a client that stops reading
// is dropped (and, streaming, its provider call cancelled) instead of
// being held open.
func (h *Handler) writeDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
}

// stream relays the provider's chunks as server-sent events, flushing each
// one as it arrives, and ends with [DONE]. An error after the first chunk
// is sent as an error event.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, c service.Caller, req *service.ChatRequest) {
	rc := http.NewResponseController(w)
	started := false
	var buf bytes.Buffer
	// write sends bytes to the client now, within the write deadline.
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	err := h.svc.ChatStream(r.Context(), c, req, func(model string) {
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("X-Accel-Buffering", "no") // tell proxies not to hold chunks back
		hd.Set("X-Lamb-Model", model)
		w.WriteHeader(http.StatusOK)
		_ = write(nil)
		started = true
	}, func(chunk *openai.ChatCompletionStreamResponse) error {
		buf.Reset()
		buf.WriteString("data: ")
		if err := json.NewEncoder(&buf).Encode(chunk); err != nil {
			return err
		}
		buf.WriteString("\n") // Encode ended the line; a blank line ends the event
		return write(buf.Bytes())
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
		if write([]byte("data: "+string(data)+"\n\n")) != nil {
			return
		}
	}
	_ = write([]byte("data: [DONE]\n\n"))
}
