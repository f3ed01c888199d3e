package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The gateway relays chat completions as raw JSON, not through go-openai's
// structs: fields lamb doesn't know (tools, response_format, logprobs,
// reasoning fields, whatever comes next) pass through in both directions.

// maxErrorBody bounds how much of a provider's error answer is read.
const maxErrorBody = 64 << 10

// Chat posts body to t's chat-completions endpoint. It returns the
// response when the provider answered 200; any other answer, or none, is
// an *Error that says what to check. The caller closes the body.
func (c *Clients) Chat(ctx context.Context, t Target, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.APIBase()+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: ErrUpstream, Message: fmt.Sprintf("%s: base_url is not usable: %v", where(t), rootCause(err))}
	}
	req.Header.Set("Content-Type", "application/json")
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, Explain(t, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, statusError(where(t), resp.StatusCode, ErrorMessage(data))
}

// ErrorMessage is the message of an OpenAI-shaped error body
// ({"error": {"message": …}} or Ollama's {"error": "…"}). Anything else
// isn't repeated, so that a base URL pointed at some internal service
// can't be used to read its pages through lamb's error messages.
func ErrorMessage(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			return obj.Message
		case json.Unmarshal(e.Error, &s) == nil && s != "":
			return s
		}
	}
	return "not an OpenAI-compatible answer"
}

// StreamError is an error event sent by the provider in the middle of a
// stream.
func StreamError(t Target, payload []byte) error {
	return &Error{Kind: ErrUpstream, Message: fmt.Sprintf("%s failed mid-stream: %s", where(t), ErrorMessage(payload))}
}

func where(t Target) string {
	return fmt.Sprintf("%s at %s", t.Provider, redactURL(t.APIBase()))
}

// maxEvent bounds one server-sent event from a provider.
const maxEvent = 4 << 20

// Events reads the server-sent events of a streamed answer: each call to
// Next returns the payload of one data line, as received.
type Events struct {
	r *bufio.Reader
}

// NewEvents reads events from a provider's streamed answer.
func NewEvents(body io.Reader) *Events {
	return &Events{r: bufio.NewReaderSize(body, 64<<10)}
}

// ErrEventTooLarge is a provider event past maxEvent.
var ErrEventTooLarge = errors.New("a streamed event is larger than 4 MiB")

// Next returns the next data payload. io.EOF means the stream ended with
// [DONE]; io.ErrUnexpectedEOF that it ended without it. Comments (keep-
// alives) and other fields are skipped.
func (e *Events) Next() ([]byte, error) {
	for {
		line, err := e.line()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank line, comment, event:, id:, retry:
		}
		data = bytes.TrimPrefix(data, []byte(" "))
		if bytes.Equal(data, []byte("[DONE]")) {
			return nil, io.EOF
		}
		return data, nil
	}
}

// line reads one line without its end, however long, up to maxEvent.
func (e *Events) line() ([]byte, error) {
	line, err := e.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf) > maxEvent {
				return nil, ErrEventTooLarge
			}
			line, err = e.r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
