package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ChatRequest is a caller's chat-completions request: the body's fields
// as sent, and the few of them lamb reads. Everything else in the body —
// tools, response_format, logprobs, seed, reasoning fields, content
// parts, fields that don't exist yet — reaches the provider unchanged.
type ChatRequest struct {
	Model    string
	Messages []chatMessage
	Stream   bool
	// Pointers tell an explicit value from "not given", and hold values an
	// int couldn't, so that they are seen, not wrapped.
	MaxTokens           *int64
	MaxCompletionTokens *int64
	N                   *int64

	fields map[string]json.RawMessage // the body's fields, each as sent
	size   int                        // the body's length
}

// chatMessage is what lamb reads of a message: its content, to count
// images (content parts) for the reservation.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// NewChatRequest reads a request body, once: its fields are kept as sent
// and only those lamb reads are decoded. Errors are encoding/json's,
// naming the field of a wrong type; the rules of a request's shape are
// checked when it is routed.
func NewChatRequest(body []byte) (*ChatRequest, error) {
	r := &ChatRequest{size: len(body)}
	if err := json.Unmarshal(body, &r.fields); err != nil {
		return nil, err
	}
	if r.fields == nil { // the body was null
		return nil, &json.UnmarshalTypeError{Value: "null", Type: reflect.TypeFor[map[string]any]()}
	}
	for name, dst := range map[string]any{"model": &r.Model, "messages": &r.Messages, "stream": &r.Stream,
		"max_tokens": &r.MaxTokens, "max_completion_tokens": &r.MaxCompletionTokens, "n": &r.N} {
		raw, ok := r.fields[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				te.Field = strings.TrimSuffix(name+"."+te.Field, ".")
			}
			return nil, err
		}
	}
	return r, nil
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

// imageTokens is what an image content part reserves: about a
// high-detail image's cost. Its bytes (often a data: URL) are not counted
// as text.
const imageTokens = 1000

// promptEstimate is about how many tokens a request's prompt holds: four
// characters a token over the whole body the caller sent (tools, schemas,
// content parts and fields lamb doesn't know all reach the provider, and
// the JSON framing stands in for each message's), plus the characters
// lamb adds (the system prompt, retrieved context), with images at a
// fixed cost.
func promptEstimate(req *ChatRequest, added int) int64 {
	chars := req.size + added
	var images int64
	for _, m := range req.Messages {
		if len(m.Content) == 0 || m.Content[0] != '[' {
			continue // text content, counted with the body
		}
		var parts []struct {
			ImageURL *struct {
				URL string `json:"url"`
			} `json:"image_url"`
		}
		if json.Unmarshal(m.Content, &parts) != nil {
			continue
		}
		for _, p := range parts {
			if p.ImageURL != nil {
				images++
				chars -= len(p.ImageURL.URL)
			}
		}
	}
	return int64(max(chars, 0)+3)/4 + images*imageTokens
}

// need is what a request may spend: its prompt, and for each of its
// choices up to output tokens. A request that set no max_tokens is
// flexible: when less than defaultReservation is left in the budget, it
// is admitted with what is left rather than refused (the provider may
// then spend past the budget by that one request's output).
type need struct {
	prompt, output, choices int64
	flexible                bool
}

func (n need) total() int64 { return n.prompt + n.choices*n.output }

// least is the smallest reservation a flexible request may be admitted
// with: its prompt and one token of each choice.
func (n need) least() int64 { return n.prompt + n.choices }

// needOf is what a request reserves before the call: its prompt plus what
// it may generate — every choice's max_tokens, or defaultReservation.
// check has bounded the factors.
func needOf(req *ChatRequest, added int) need {
	n := need{prompt: promptEstimate(req, added), output: defaultReservation, choices: 1, flexible: true}
	if req.MaxTokens != nil || req.MaxCompletionTokens != nil {
		n.output, n.flexible = max(deref(req.MaxTokens), deref(req.MaxCompletionTokens)), false
	}
	if req.N != nil {
		n.choices = *req.N
	}
	return n
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

// estimateTokens counts tokens of n characters the way promptEstimate
// does, for providers that report no usage.
func estimateTokens(n int) int64 { return int64((n + 3) / 4) }

// outgoing is the body sent to the provider: the caller's, with only what
// routing requires changed — the assistant's model, its system prompt
// first, retrieved context placed by its template in the last user
// message, its temperature when the caller gave none, and
// stream_options.include_usage when streaming, so usage is exact. The
// caller's other fields are copied as they came (already checked as JSON
// when the request was read).
func (cl *call) outgoing(req *ChatRequest) []byte {
	model := mustJSON(cl.model)
	var messages json.RawMessage
	msgs := bytes.TrimSpace(req.fields["messages"]) // a non-empty list: check saw to it
	if cl.rag != nil && cl.rag.content != nil {
		msgs = replaceContent(msgs, cl.rag.index, cl.rag.content)
		messages = msgs
	}
	if sp := cl.assistant.SystemPrompt; sp != "" {
		system := mustJSON(map[string]string{"role": "system", "content": sp})
		messages = make([]byte, 0, len(system)+len(msgs)+2)
		messages = append(append(append(messages, '['), system...), ',')
		messages = append(messages, msgs[1:]...)
	}
	var temperature json.RawMessage
	if _, given := req.fields["temperature"]; !given && cl.assistant.Temperature != nil {
		temperature = mustJSON(*cl.assistant.Temperature)
	}
	var streamOptions json.RawMessage
	if req.Stream {
		opts := map[string]json.RawMessage{}
		if raw, ok := req.fields["stream_options"]; ok {
			_ = json.Unmarshal(raw, &opts) // not an object: replaced
		}
		opts["include_usage"] = json.RawMessage("true")
		streamOptions = mustJSON(opts)
	}

	out := make([]byte, 0, req.size+len(messages)+64)
	field := func(name string, v json.RawMessage) {
		if len(out) > 0 {
			out = append(out, ',')
		} else {
			out = append(out, '{')
		}
		out = append(append(appendJSONString(out, name), ':'), v...)
	}
	field("model", model)
	for name, v := range req.fields {
		switch {
		case name == "model":
		case name == "messages" && messages != nil:
			field(name, messages)
		case name == "stream_options" && streamOptions != nil:
		default:
			field(name, v)
		}
	}
	if temperature != nil {
		field("temperature", temperature)
	}
	if streamOptions != nil {
		field("stream_options", streamOptions)
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string: plain ASCII as is, anything
// else through encoding/json's escaping.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return append(out, mustJSON(s)...)
		}
	}
	return append(append(append(out, '"'), s...), '"')
}

// mustJSON encodes values that always encode (strings, numbers, maps of
// them).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
