package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// While lamb starts, /healthz says it isn't ready and why, naming the
// database engine; every other request is refused with 503
// service_unavailable and Retry-After, never served half-ready.
func TestStartingIsNotReady(t *testing.T) {
	s := NewStarting("postgres", ReasonMigrating)
	srv := httptest.NewServer(s)
	defer srv.Close()

	health := func() (int, map[string]string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := health()
	if code != http.StatusServiceUnavailable || body["status"] != "starting" || body["database"] != "postgres" ||
		!strings.Contains(body["reason"], "migrations are running") {
		t.Fatalf("healthz while migrating = %d %v", code, body)
	}
	s.SetReason(ReasonStarting)
	if code, body := health(); code != http.StatusServiceUnavailable || body["reason"] != ReasonStarting {
		t.Fatalf("healthz after migrating = %d %v", code, body)
	}

	for _, req := range []struct{ method, path string }{
		{"POST", "/v1/chat/completions"}, {"GET", "/v1/models"}, {"POST", "/v1/signup"}, {"GET", "/signup"}, {"GET", "/"},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != "service_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s while starting = %d %+v (Retry-After %q)", req.method, req.path, resp.StatusCode, e, resp.Header.Get("Retry-After"))
		}
	}
}
