// Package provider talks to AI providers through their OpenAI-compatible
// APIs (OpenAI itself, Ollama's /v1) with go-openai. Clients are reused per
// base URL and key so connections are pooled across requests.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// Target is where and how to call one provider of one setup.
type Target struct {
	Provider string // openai or ollama
	BaseURL  string
	APIKey   string
}

// APIBase returns the OpenAI-compatible base URL: Ollama serves it under
// /v1 of its own address.
func (t Target) APIBase() string {
	base := strings.TrimRight(t.BaseURL, "/")
	if t.Provider == "ollama" && !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	return base
}

// Clients hands out go-openai clients, one per (base URL, key), sharing one
// HTTP transport.
type Clients struct {
	http    *http.Client
	mu      sync.Mutex
	clients map[Target]*openai.Client
}

// NewClients returns a client pool. The transport has no overall timeout:
// callers bound each call with their context, so a streamed answer isn't
// cut off while chunks keep coming.
func NewClients() *Clients {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 128
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = 0
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &Clients{http: &http.Client{Transport: tr}, clients: map[Target]*openai.Client{}}
}

// Client returns the client for t.
func (c *Clients) Client(t Target) *openai.Client {
	t.BaseURL = t.APIBase()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[t]; ok {
		return cl
	}
	cfg := openai.DefaultConfig(t.APIKey)
	cfg.BaseURL = t.BaseURL
	cfg.HTTPClient = c.http
	cl := openai.NewClientWithConfig(cfg)
	if len(c.clients) > 1000 { // keys rotate; don't grow without bound
		clear(c.clients)
	}
	c.clients[t] = cl
	return cl
}

// HTTP returns the shared HTTP client, for plain requests (knowledge base).
func (c *Clients) HTTP() *http.Client { return c.http }

// ListModels asks the provider which models it serves, sorted.
func (c *Clients) ListModels(ctx context.Context, t Target) ([]string, error) {
	list, err := c.Client(t).ListModels(ctx)
	if err != nil {
		return nil, Explain(t, err)
	}
	ids := make([]string, 0, len(list.Models))
	for _, m := range list.Models {
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids, nil
}

// Error kinds of a failed provider call.
var (
	ErrUnreachable = errors.New("provider unreachable")
	ErrTimeout     = errors.New("provider timed out")
	ErrRejectedKey = errors.New("provider rejected the API key")
	ErrUpstream    = errors.New("provider error")
)

// Error is a provider failure explained for an operator: what failed and
// what to check, never the key.
type Error struct {
	Kind    error
	Status  int // the provider's HTTP status, when it answered
	Message string
	// Said is the provider's own message, when it gave an OpenAI-shaped
	// one (without lamb's explanation, which names where the provider is).
	Said string
}

func (e *Error) Error() string        { return e.Message }
func (e *Error) Unwrap() error        { return e.Kind }
func (e *Error) Is(target error) bool { return target == e.Kind }

// Explain classifies err from a call to t.
func Explain(t Target, err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("%s at %s", t.Provider, redactURL(t.APIBase()))
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return &Error{Kind: ErrTimeout, Message: where + " did not answer in time; check that it is up and reachable from the lamb server"}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: context.Canceled, Message: "request cancelled"}
	case errors.As(err, &apiErr):
		return statusError(where, apiErr.HTTPStatusCode, apiErr.Message)
	case errors.As(err, &reqErr):
		// Not an OpenAI-shaped error: the body isn't repeated, so that a
		// base URL pointed at some internal service can't be used to read
		// its pages through the error messages.
		return statusError(where, reqErr.HTTPStatusCode, "not an OpenAI-compatible answer")
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return &Error{Kind: ErrUnreachable, Message: fmt.Sprintf("could not connect to %s (%s); check base_url and that the provider is running", where, rootCause(err))}
	}
	return &Error{Kind: ErrUpstream, Message: fmt.Sprintf("%s failed: %s", where, rootCause(err))}
}

func statusError(where string, status int, msg string) error {
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &Error{Kind: ErrRejectedKey, Status: status, Message: fmt.Sprintf("%s rejected the organization's API key (HTTP %d); check api_key in the provider settings", where, status)}
	case status == http.StatusNotFound:
		return &Error{Kind: ErrUpstream, Status: status, Message: fmt.Sprintf("%s answered 404 (%s); check base_url (OpenAI-compatible servers usually end in /v1) and the model name", where, msg)}
	}
	return &Error{Kind: ErrUpstream, Status: status, Message: fmt.Sprintf("%s answered HTTP %d: %s", where, status, msg), Said: msg}
}

func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// redactURL drops credentials from a URL for messages: its userinfo, and
// its query, where keys and tokens are passed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the configured URL"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
