package service

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/fakeopenai"
	"lamb/store"
)

// The service runs unchanged on both engines: an org with its admin, a
// member, a provider, an assistant, an API key that authenticates, a
// completion through a fake provider, its usage written and reported, and
// a taken email answered as such to the org's admin (PostgreSQL refuses
// statements after a failed one in a transaction; the answer must not
// change).
func TestServiceOnEachEngine(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) { testServiceOn(t, engine) })
	}
}

func testServiceOn(t *testing.T, engine string) {
	ctx := context.Background()
	e := newTestEnvOn(t, engine)
	if got := e.svc.Database(); got != engine {
		t.Fatalf("Database() = %q, want %q", got, engine)
	}
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	admin := orgWithAdmin(t, e, sys, "acme", emailAdminA)

	fake := fakeopenai.New()
	fake.SetUsage(12, 3)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	apiKey := "sk-acme-0123456789"
	if err := e.svc.UpdateProvider(ctx, admin, "acme", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: srv.URL + "/v1", APIKey: &apiKey, Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: emailA1, Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: emailA1, Name: "Ana again"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("taken email of the admin's own org: %v, want it named as already registered", err)
	}
	as, err := e.svc.CreateAssistant(ctx, admin, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o-mini", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	key, err := e.svc.CreateAPIKey(ctx, admin, "acme", "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	caller, err := e.svc.Authenticate(ctx, key.Key)
	if err != nil || caller.OrgSlug != "acme" {
		t.Fatalf("authenticate: %+v, %v", caller, err)
	}
	req, err := NewChatRequest([]byte(fmt.Sprintf(`{"model":"lamb_assistant.%d","messages":[{"role":"user","content":"hi"}]}`, as.ID)))
	if err != nil {
		t.Fatal(err)
	}
	if ans, err := e.svc.Chat(ctx, caller, req); err != nil || ans.Model != "gpt-4o-mini" {
		t.Fatalf("chat: %q, %v", ans.Model, err)
	}
	e.svc.Close() // flushes the usage queue
	r, err := e.svc.Usage(ctx, admin, UsageQuery{Org: "acme", From: thisMonth, By: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Total.Requests != 1 || r.Total.PromptTokens != 12 || r.Total.CompletionTokens != 3 || len(r.Rows) != 1 {
		t.Fatalf("usage after one completion: %+v", r)
	}
	// The completion's latency and its key reach the summary's rollups.
	s, err := e.svc.UsageSummary(ctx, admin, UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Total.P50MS == nil || len(s.TopKeys) != 1 || s.TopKeys[0].Key != fmt.Sprintf("lms (#%d)", key.ID) || s.TopKeys[0].Tokens != 15 {
		t.Fatalf("summary after one completion: total %+v, keys %+v", s.Total, s.TopKeys)
	}
}
