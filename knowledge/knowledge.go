// Package knowledge talks to knowledge-base servers that speak the
// lamb-kb-server API: querying a collection for the chunks most similar to
// a question, and listing collections. Errors say what failed and where
// (for the org's admins and the log), never the token.
package knowledge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Server is where a knowledge base is and the token it wants.
type Server struct {
	URL   string
	Token string
}

// Result is one chunk a query found.
type Result struct {
	Similarity float64        `json:"similarity"`
	Data       string         `json:"data"`
	Metadata   map[string]any `json:"metadata"`
}

// Collection is one collection a server holds.
type Collection struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ErrUnavailable is every failure of a knowledge base: unreachable, an
// error status, a timeout, an answer that isn't the API's.
var ErrUnavailable = errors.New("knowledge base unavailable")

// Error is a failed call, explained for an operator.
type Error struct {
	Status  int // the server's HTTP status, when it answered
	Message string
}

func (e *Error) Error() string        { return e.Message }
func (e *Error) Unwrap() error        { return ErrUnavailable }
func (e *Error) Is(target error) bool { return target == ErrUnavailable }

// maxAnswer bounds what is read of an answer.
const maxAnswer = 8 << 20

// Query asks one collection for the chunks most similar to text.
func Query(ctx context.Context, hc *http.Client, srv Server, collection, text string, topK int, threshold float64) ([]Result, error) {
	body, _ := json.Marshal(map[string]any{"query_text": text, "top_k": topK, "threshold": threshold, "plugin_params": map[string]any{}})
	var out struct {
		Results *[]Result `json:"results"`
	}
	path := "/collections/" + url.PathEscape(collection) + "/query"
	if err := call(ctx, hc, srv, http.MethodPost, path, body, &out); err != nil {
		return nil, err
	}
	if out.Results == nil {
		return nil, &Error{Status: 200, Message: fmt.Sprintf("knowledge base at %s: the answer to %s has no results list", Redact(srv.URL), path)}
	}
	return *out.Results, nil
}

// Collections lists a server's collections. Ids may come as numbers or
// strings; they are strings here.
func Collections(ctx context.Context, hc *http.Client, srv Server) ([]Collection, error) {
	var raw json.RawMessage
	if err := call(ctx, hc, srv, http.MethodGet, "/collections", nil, &raw); err != nil {
		return nil, err
	}
	type item struct {
		ID          json.RawMessage `json:"id"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
	}
	var list struct {
		Items []item `json:"items"`
	}
	if json.Unmarshal(raw, &list) != nil || list.Items == nil {
		list.Items = nil
		if json.Unmarshal(raw, &list.Items) != nil {
			return nil, &Error{Status: 200, Message: fmt.Sprintf("knowledge base at %s: /collections answered something that is not a list of collections", Redact(srv.URL))}
		}
	}
	out := make([]Collection, 0, len(list.Items))
	for _, it := range list.Items {
		id := strings.Trim(string(it.ID), `"`)
		if id == "" || id == "null" {
			continue
		}
		out = append(out, Collection{ID: id, Name: it.Name, Description: it.Description})
	}
	return out, nil
}

func call(ctx context.Context, hc *http.Client, srv Server, method, path string, body []byte, out any) error {
	where := fmt.Sprintf("knowledge base at %s", Redact(srv.URL))
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(srv.URL, "/")+path, rd)
	if err != nil {
		return &Error{Message: where + ": the URL is not usable"}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if srv.Token != "" {
		req.Header.Set("Authorization", "Bearer "+srv.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Message: fmt.Sprintf("%s: no answer to %s in time", where, path)}
		}
		return &Error{Message: fmt.Sprintf("%s is unreachable: %s", where, rootCause(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("%s answered HTTP %d to %s", where, resp.StatusCode, path)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			msg += ": it refused the organization's token"
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Message: fmt.Sprintf("%s: no answer to %s in time", where, path)}
		}
		return &Error{Message: fmt.Sprintf("%s: reading the answer to %s: %s", where, path, rootCause(err))}
	}
	if len(data) > maxAnswer || json.Unmarshal(data, out) != nil {
		return &Error{Status: 200, Message: fmt.Sprintf("%s answered %s with something that is not the knowledge-base API's JSON", where, path)}
	}
	return nil
}

// Redact is a URL as the log may show it: without credentials, query or
// fragment.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
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
