package service

import (
	"context"
	"testing"

	"lamb/config"
	"lamb/store"
)

func TestPurgeUsageKeepsRollups(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	org, err := e.st.CreateOrg(ctx, storeOrg("acme"))
	if err != nil {
		t.Fatal(err)
	}
	old := e.now.AddDate(0, 0, -500)
	var events []store.UsageEvent
	for i := range 12000 { // more than two delete batches
		at := old
		if i%3 == 0 {
			at = e.now.AddDate(0, 0, -1)
		}
		events = append(events, store.UsageEvent{OrganizationID: org.ID, Status: "ok", HTTPStatus: 200, PromptTokens: 1, CreatedAt: at})
	}
	if err := e.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, events) }); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.PurgeUsage(ctx, e.now.AddDate(0, 0, -400))
	if err != nil || n != 8000 {
		t.Fatalf("purged %d, %v; want 8000", n, err)
	}
	left, _ := e.st.CountUsageEvents(ctx, org.ID)
	if left != 4000 {
		t.Fatalf("%d events left, want 4000", left)
	}
	sum, _ := e.st.SumUsage(ctx, store.UsageFilter{OrganizationID: org.ID, From: store.Day(old), To: store.Day(e.now)})
	if sum.Requests != 12000 {
		t.Fatalf("rollups lost history: %d requests", sum.Requests)
	}
}
