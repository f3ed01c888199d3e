package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
