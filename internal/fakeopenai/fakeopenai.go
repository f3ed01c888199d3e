// Package fakeopenai is an OpenAI-compatible server for tests and
// benchmarks: /v1/models and /v1/chat/completions in the real wire format,
// JSON and SSE streaming with usage in the final chunk, and modes that
// misbehave the way real providers do (errors, slowness, dropped
// connections). It runs on loopback only.
package fakeopenai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the server answers completions.
type Mode int

// Modes.
const (
	OK           Mode = iota
	ServerError       // 500 with an OpenAI error body
	Unauthorized      // 401 invalid_api_key
	Hang              // never answers until the client gives up
	DropMidway        // streams two chunks, then drops the connection
	NoUsage           // answers without usage
)

// Server is the fake provider. Set its fields before serving; they are
// read on every request.
type Server struct {
	mu         sync.Mutex
	mode       Mode
	delay      time.Duration // before answering
	chunkDelay time.Duration // between streamed chunks
	chunks     []string      // the streamed answer, piece by piece
	apiKey     string        // required Bearer key ("" = any)
	models     []string
	usage      *[2]int       // reported prompt and completion tokens, when set
	hold       chan struct{} // while non-nil, answers wait until it is closed
	answer     []byte        // a raw JSON answer to send instead of the generated one
	events     []string      // raw event payloads to stream instead of the generated ones

	requests  atomic.Int64
	cancelled atomic.Int64
	last      atomic.Pointer[Request]
	lastBody  atomic.Pointer[[]byte]
}

// Request is what the fake received, for assertions.
type Request struct {
	Path        string
	Auth        string
	Model       string           `json:"model"`
	Messages    []map[string]any `json:"messages"`
	Temperature *float64         `json:"temperature"`
	MaxTokens   int              `json:"max_tokens"`
	N           int              `json:"n"`
	TopP        *float64         `json:"top_p"`
	Stop        []string         `json:"stop"`
	Stream      bool             `json:"stream"`
	StreamOpts  *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// New returns a fake that answers "Hello from the fake provider." in
// three chunks.
func New() *Server {
	return &Server{chunks: []string{"Hello", " from the fake", " provider."}, models: []string{"gpt-4o", "gpt-4o-mini"}}
}

// SetMode changes how completions are answered.
func (s *Server) SetMode(m Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetDelay sets the wait before answering and between chunks.
func (s *Server) SetDelay(first, chunk time.Duration) {
	s.mu.Lock()
	s.delay, s.chunkDelay = first, chunk
	s.mu.Unlock()
}

// SetChunks sets the streamed answer.
func (s *Server) SetChunks(chunks ...string) { s.mu.Lock(); s.chunks = chunks; s.mu.Unlock() }

// SetUsage makes the fake report these token counts, whatever it
// answered (a misbehaving or hostile provider may report anything).
func (s *Server) SetUsage(prompt, completion int) {
	s.mu.Lock()
	s.usage = &[2]int{prompt, completion}
	s.mu.Unlock()
}

// Hold makes every completion wait, after it was counted, until Release.
func (s *Server) Hold() { s.mu.Lock(); s.hold = make(chan struct{}); s.mu.Unlock() }

// Release lets held completions answer.
func (s *Server) Release() {
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
}

// SetAnswer makes the fake answer non-streaming requests with body as is,
// and streaming ones with each of events as a data payload, then [DONE].
func (s *Server) SetAnswer(body []byte, events ...string) {
	s.mu.Lock()
	s.answer, s.events = body, events
	s.mu.Unlock()
}

// LastBody returns the body of the last completion request, as received.
func (s *Server) LastBody() []byte {
	if b := s.lastBody.Load(); b != nil {
		return *b
	}
	return nil
}

// RequireKey makes the fake answer 401 to any other Bearer key.
func (s *Server) RequireKey(k string) { s.mu.Lock(); s.apiKey = k; s.mu.Unlock() }

// Requests counts completion requests received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Cancelled counts requests whose client went away before the answer ended.
func (s *Server) Cancelled() int64 { return s.cancelled.Load() }

// Last returns the last completion request.
func (s *Server) Last() *Request { return s.last.Load() }

func (s *Server) settings() (Mode, time.Duration, time.Duration, []string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode, s.delay, s.chunkDelay, append([]string(nil), s.chunks...), s.apiKey
}

// ServeHTTP answers /v1/models and /v1/chat/completions (also without /v1).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	mode, delay, chunkDelay, chunks, key := s.settings()
	if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		writeError(w, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
		return
	}
	switch {
	case path == "/models" && r.Method == http.MethodGet:
		data := make([]map[string]any, 0, len(s.models))
		for _, m := range s.models {
			data = append(data, map[string]any{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"})
		}
		writeJSON(w, 200, map[string]any{"object": "list", "data": data})
	case path == "/chat/completions" && r.Method == http.MethodPost:
		s.chat(w, r, mode, delay, chunkDelay, chunks)
	default:
		writeError(w, 404, "no such endpoint", "invalid_request_error", "not_found")
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, mode Mode, delay, chunkDelay time.Duration, chunks []string) {
	s.requests.Add(1)
	var req Request
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		writeError(w, 400, "bad JSON: "+err.Error(), "invalid_request_error", "invalid_json")
		return
	}
	s.lastBody.Store(&raw)
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			s.cancelled.Add(1)
			return
		}
	}
	req.Path, req.Auth = r.URL.Path, r.Header.Get("Authorization")
	s.last.Store(&req)
	ctx := r.Context()
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			s.cancelled.Add(1)
			return false
		}
	}
	switch mode {
	case ServerError:
		writeError(w, 500, "The server had an error while processing your request.", "server_error", "")
		return
	case Unauthorized:
		writeError(w, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
		return
	case Hang:
		<-ctx.Done()
		s.cancelled.Add(1)
		return
	}
	if !wait(delay) {
		return
	}
	s.mu.Lock()
	answer, events := s.answer, s.events
	s.mu.Unlock()
	if answer != nil && !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
		return
	}
	if answer != nil {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "data: %s\n\n", e)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	text := strings.Join(chunks, "")
	prompt := 0
	for _, m := range req.Messages {
		if c, ok := m["content"].(string); ok {
			prompt += len(strings.Fields(c)) + 1
		}
	}
	completion := len(chunks)
	s.mu.Lock()
	if s.usage != nil {
		prompt, completion = s.usage[0], s.usage[1]
	}
	s.mu.Unlock()
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	if !req.Stream {
		body := map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []map[string]any{{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "stop"}},
		}
		if mode != NoUsage {
			body["usage"] = usage
		}
		writeJSON(w, 200, body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	event := func(v any) {
		data, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", data)
		fl.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	event(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for i, c := range chunks {
		if i > 0 && !wait(chunkDelay) {
			return
		}
		if mode == DropMidway && i == 2 {
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
		event(chunk(map[string]any{"content": c}, nil))
	}
	event(chunk(map[string]any{}, "stop"))
	if mode != NoUsage && req.StreamOpts != nil && req.StreamOpts.IncludeUsage {
		event(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": time.Now().Unix(),
			"model": req.Model, "choices": []any{}, "usage": usage})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, typ, code string) {
	var c any = code
	if code == "" {
		c = nil
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": c, "param": nil}})
}
