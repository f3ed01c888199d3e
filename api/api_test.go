package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/store"
)

func newServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	e := newTestEnv(t)
	return e.srv, e.st
}

func TestHealthz(t *testing.T) {
	srv, st := newServer(t)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "{\"database\":\"sqlite\",\"status\":\"ok\"}\n" {
		t.Fatalf("healthz = %d %q", resp.StatusCode, body)
	}
	// The database stops answering: 503.
	st.Close()
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with a closed database = %d, want 503", resp.StatusCode)
	}
}

func TestUnknownPathIsJSONError(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b errorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || b.Error.Code != "not_found" || b.Error.Message == "" || b.Error.Type == "" {
		t.Fatalf("404 body = %d %+v", resp.StatusCode, b)
	}
	// Wrong method on a known path is also the JSON shape.
	resp2, _ := http.Post(srv.URL+"/healthz", "application/json", nil)
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed && resp2.StatusCode != 404 {
		t.Fatalf("POST /healthz = %d", resp2.StatusCode)
	}
}

// A browser opening the server's address gets a page that says what it is
// and links the signup form; a wrong method on an endpoint answers 405
// with Allow, not 404.
func TestHomePageAndMethodNotAllowed(t *testing.T) {
	e := newTestEnv(t)
	r := e.get(t, "/")
	if body := string(r.body); r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "text/html") || !strings.Contains(body, `href="/signup"`) ||
		!strings.Contains(body, testPublicURL+"/v1") || r.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %s", r.status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/chat/completions", nil)
	r = e.do(t, req)
	if r.status != 405 || r.header.Get("Allow") != "POST" || !strings.Contains(string(r.body), "method_not_allowed") {
		t.Fatalf("GET /v1/chat/completions: %d %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	req, _ = http.NewRequest(http.MethodDelete, e.srv.URL+"/signup", nil)
	if r = e.do(t, req); r.status != 405 || r.header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("DELETE /signup: %d %q", r.status, r.header.Get("Allow"))
	}
	if r = e.get(t, "/nope"); r.status != 404 {
		t.Fatalf("GET /nope: %d", r.status)
	}
}
