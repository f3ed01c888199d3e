package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/pgtest"
	"lamb/service"
	"lamb/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A database that stops answering without closing its connections (a
// frozen server, a network that drops packets) hung every request that
// needed it. Now each answers 503 service_unavailable within its bound —
// Options.DatabaseTimeout for health, signup, its result page and the
// model list, the
// service's 10 s for a key it hasn't seen — and all answer again once the
// database does.
func TestFrozenDatabaseAnswers503WithinBound(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	st, err := store.OpenURL(context.Background(), cluster.URL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const bound = time.Second
	e := newTestEnvStore(t, st, &testClock{now: time.Now().Truncate(time.Second)}, config.System{}, func(*service.Deps) {},
		Options{DatabaseTimeout: bound})
	key, err := e.svc.CreateAPIKey(context.Background(), e.admin, testOrgSlug, "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	models := func() *http.Request {
		r, _ := http.NewRequest("GET", e.srv.URL+"/v1/models", nil)
		r.Header.Set("Authorization", "Bearer "+key.Key)
		return r
	}
	if r := e.do(t, models()); r.status != http.StatusOK {
		t.Fatalf("models before the freeze = %d %s", r.status, r.body)
	}

	// A signup's result page reads the account its receipt names.
	done := mustRequest(t, "GET", e.srv.URL+"/signup/done", "")
	done.AddCookie(&http.Cookie{Name: receiptCookie, Value: e.svc.SignupReceipt(service.SignupResult{ID: e.admin.UserID}, false)})

	cluster.Freeze(t)
	unknownKey, _ := http.NewRequest("POST", e.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"lamb_assistant.1","messages":[]}`))
	unknownKey.Header.Set("Authorization", "Bearer lamb_"+strings.Repeat("u", 43))
	cases := []struct {
		name  string
		req   *http.Request
		limit time.Duration
	}{
		{"healthz", mustRequest(t, "GET", e.srv.URL+"/healthz", ""), bound},
		{"models", models(), bound},
		{"signup", mustRequest(t, "POST", e.srv.URL+"/v1/signup",
			`{"email":"ana@uni.example","name":"Ana","password":"correct horse","signup_key":"`+testSignupKey+`"}`), bound},
		{"signup result page", done, bound},
		{"an unknown key", unknownKey, 10 * time.Second},
	}
	type answer struct {
		r    reply
		err  error
		took time.Duration
	}
	answers := make([]chan answer, len(cases))
	for i, c := range cases { // at once: a hang shows as the slowest, not the sum
		answers[i] = make(chan answer, 1)
		go func() {
			began := time.Now()
			resp, err := e.srv.Client().Do(c.req)
			a := answer{err: err}
			if err == nil {
				a.r.status = resp.StatusCode
				a.r.body, a.err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			a.took = time.Since(began)
			answers[i] <- a
		}()
	}
	for i, c := range cases {
		var a answer
		select {
		case a = <-answers[i]:
		case <-time.After(c.limit + 10*time.Second):
			t.Fatalf("%s: no answer within %s with the database frozen", c.name, c.limit+10*time.Second)
		}
		if a.err != nil {
			t.Fatalf("%s: %v", c.name, a.err)
		}
		var body struct {
			Status string `json:"status"`
			Error  struct{ Code string }
		}
		json.Unmarshal(a.r.body, &body)
		page := c.name == "signup result page" // HTML, not JSON
		if page && !strings.Contains(string(a.r.body), "can&#39;t reach its database") {
			t.Errorf("%s with the database frozen says %s", c.name, a.r.body)
		}
		if a.r.status != http.StatusServiceUnavailable || (c.name != "healthz" && !page && body.Error.Code != "service_unavailable") {
			t.Errorf("%s with the database frozen = %d %s, want 503 service_unavailable", c.name, a.r.status, a.r.body)
		}
		t.Logf("%s: %d after %s", c.name, a.r.status, a.took.Round(time.Millisecond))
	}

	cluster.Thaw(t)
	deadline := time.Now().Add(30 * time.Second)
	for r := e.do(t, models()); r.status != http.StatusOK; r = e.do(t, models()) {
		if time.Now().After(deadline) {
			t.Fatalf("models after the thaw = %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if r := e.do(t, mustRequest(t, "GET", e.srv.URL+"/healthz", "")); r.status != http.StatusOK {
		t.Fatalf("healthz after the thaw = %d %s", r.status, r.body)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
