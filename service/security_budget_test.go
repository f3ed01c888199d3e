package service

import (
	"context"
	"errors"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// A negative estimate once lowered every concurrent request's view of
// what was reserved (a budget bypass); a reservation is never negative.
func TestNegativeReservationCannotLowerOthers(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	l := config.UnlimitedLimits()
	l.TokensPerMonth = 100
	if _, err := e.svc.admit(ctx, 1, 0, l, need{prompt: 90}); err != nil {
		t.Fatal(err)
	}
	// Admitted as the smallest honest reservation, or refused: either
	// way it must not give budget back.
	e.svc.admit(ctx, 1, 0, l, need{prompt: -1_000_000})
	if _, err := e.svc.admit(ctx, 1, 0, l, need{prompt: 50}); err == nil {
		t.Fatal("a negative reservation in flight let a request past a spent budget")
	}
	r, err := e.svc.admit(ctx, 1, 0, l, need{prompt: 5})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.settle(r, -1_000_000) // a provider's negative count refunds nothing
	if _, err := e.svc.admit(ctx, 1, 0, l, need{prompt: 50}); err == nil {
		t.Fatal("settling negative usage refunded the budget")
	}
}

// A full disk once made the usage writer log and drop its batches while
// /healthz said ok (7,534 answered requests without a row). Batches are
// kept and retried, health says so, and past the queue's bound billable
// requests are refused rather than answered unaccounted.
func TestFullDiskStopsAdmittingInsteadOfLosingUsage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if _, err := e.svc.SyncSystemOrg(ctx, SystemActor(), config.System{}); err != nil {
		t.Fatal(err)
	}
	root := sysAdmin(t, e, "root@lamb.local")
	key := "sk-never-used"
	if err := e.svc.UpdateProvider(ctx, root, "lamb", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: "http://127.0.0.1:9/v1", APIKey: &key, Models: []string{"m"}, DefaultModel: "m"}); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.CreateAssistant(ctx, root, AssistantInput{Name: "tutor", Provider: "openai", Model: "m", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	db := e.rawDB(t)
	// A write that fails the way a full disk does: the transaction aborts.
	if _, err := db.Exec(`CREATE TRIGGER disk_full BEFORE INSERT ON usage_events BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	const queued = admitBound + 100
	for range queued {
		e.svc.usage.record(store.UsageEvent{OrganizationID: 1, Status: "ok", PromptTokens: 1, CreatedAt: e.now})
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.svc.Healthy(ctx) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if err := e.svc.Healthy(ctx); !errors.Is(err, ErrUsageNotStored) {
		t.Fatalf("health while usage can't be stored: %v", err)
	}
	caller := Caller{OrgID: 1, OrgSlug: "lamb"}
	req, err := NewChatRequest([]byte(`{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Chat(ctx, caller, req)
	var ge *GatewayError
	if !errors.As(err, &ge) || ge.Status != 503 || ge.Code != "usage_unavailable" {
		t.Fatalf("request while the usage queue is past its bound: %v, want 503 usage_unavailable", err)
	}
	// The disk has room again: everything queued is written, nothing lost.
	if _, err := db.Exec(`DROP TRIGGER disk_full`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for (e.svc.Healthy(ctx) != nil || e.svc.usage.pending() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if err := e.svc.Healthy(ctx); err != nil {
		t.Fatalf("health after the disk recovered: %v", err)
	}
	e.svc.Close()
	if n := e.count(t, `SELECT COUNT(*) FROM usage_events WHERE status = 'ok'`); n != queued {
		t.Fatalf("%d of %d usage events stored after the disk recovered", n, queued)
	}
}
