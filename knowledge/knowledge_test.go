package knowledge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, status int, body string) Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return Server{URL: srv.URL, Token: "secret-token"}
}

// Servers list collections with numeric or string ids, in an object or
// as a bare list.
func TestCollectionsShapes(t *testing.T) {
	for _, body := range []string{
		`{"total":2,"items":[{"id":1,"name":"Syllabus"},{"id":"two","name":"Readings"}]}`,
		`[{"id":1,"name":"Syllabus"},{"id":"two","name":"Readings"}]`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cs, err := Collections(ctx, http.DefaultClient, serve(t, 200, body))
		cancel()
		if err != nil || len(cs) != 2 || cs[0].ID != "1" || cs[1].ID != "two" || cs[0].Name != "Syllabus" {
			t.Errorf("%s: %+v, %v", body, cs, err)
		}
	}
}

// Every failure is ErrUnavailable, and no message holds the token.
func TestQueryFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	gone := strings.TrimPrefix(closed.URL, "http://")
	for name, srv := range map[string]Server{
		"500":             serve(t, 500, `{"detail":"boom"}`),
		"401":             serve(t, 401, `{"detail":"no"}`),
		"html":            serve(t, 200, `<html>`),
		"no results":      serve(t, 200, `{"count":0}`),
		"unreachable":     {URL: "http://" + gone, Token: "secret-token"},
		"credentials URL": {URL: "http://user:pw@" + gone, Token: "secret-token"},
	} {
		_, err := Query(ctx, http.DefaultClient, srv, "1", "q", 3, 0)
		if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: %v", name, err)
		}
	}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leaving
		<-r.Context().Done()
	}))
	defer hang.Close()
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := Query(tctx, http.DefaultClient, Server{URL: hang.URL}, "1", "q", 3, 0); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "in time") {
		t.Errorf("timeout: %v", err)
	}
}
