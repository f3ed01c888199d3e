package service

import (
	"context"
	"fmt"
	"testing"

	"lamb/config"
	"lamb/store"
)

// Benchmarks for DESIGN §9's console targets: a keypress in a users list
// with 100,000 users in the org (one page query, filtered), and the
// dashboard, which reads daily rollups however many raw events exist.
//
//	go test ./service -run '^$' -bench . -benchtime 200x

func seedUsers(b *testing.B, e *testEnv, orgID int64, n int) {
	b.Helper()
	ctx := context.Background()
	err := e.st.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			if _, err := tx.CreateUser(ctx, store.User{OrganizationID: orgID, Email: fmt.Sprintf("user-%06d@big.example", i),
				Name: fmt.Sprintf("User %d", i), Enabled: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func benchEnv(b *testing.B) (*testEnv, Actor, store.Org) {
	b.Helper()
	e := newTestEnv(b)
	ctx := context.Background()
	if _, err := e.svc.SyncSystemOrg(ctx, SystemActor(), config.System{}); err != nil {
		b.Fatal(err)
	}
	org, err := e.st.CreateOrg(ctx, storeOrg("big"))
	if err != nil {
		b.Fatal(err)
	}
	return e, Actor{Role: RoleSystemAdmin, Email: "bench@lamb.local"}, org
}

func BenchmarkListUsers100k(b *testing.B) {
	e, root, org := benchEnv(b)
	seedUsers(b, e, org.ID, 100_000)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		query  string
		offset int
	}{
		{"first page", "", 0},
		{"deep page", "", 90_000},
		{"filter as typed", "user-0421", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := e.svc.ListUsers(ctx, root, UserQuery{Org: "big", Query: bc.query}, bc.offset, 30)
				if err != nil || p.Total == 0 {
					b.Fatalf("%v %d", err, p.Total)
				}
			}
		})
	}
}

func BenchmarkDashboard(b *testing.B) {
	e, root, org := benchEnv(b)
	ctx := context.Background()
	// A busy org: a year of rollups for 300 assistants (about 110,000 rollup
	// rows, standing for tens of millions of raw events).
	err := e.st.InTx(ctx, func(tx *store.Tx) error {
		for d := range 365 {
			day := store.Day(e.now.AddDate(0, 0, -d))
			for a := range 300 {
				if err := tx.AddUsageDaily(ctx, org.ID, day, int64(a+1), int64(a%50+1), store.UsageTotals{Requests: 100, PromptTokens: 5000, CompletionTokens: 3000}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	seedUsers(b, e, org.ID, 10_000)
	b.ResetTimer()
	for b.Loop() {
		d, err := e.svc.Dashboard(ctx, root, "big")
		if err != nil || d.TokensThisMonth == 0 {
			b.Fatalf("%v %d", err, d.TokensThisMonth)
		}
	}
}

// A course list of 10,000 users, half with SSH keys (the others get
// one-time passwords), imported in one transaction; each run into a new org.
func BenchmarkImportUsers10000(b *testing.B) {
	e, root, _ := benchEnv(b)
	ctx := context.Background()
	lists := make([][]byte, b.N)
	for i := range lists {
		lists[i] = []byte(csvUsers(b, 10_000, fmt.Sprintf("course%d.example", i)))
		if _, err := e.st.CreateOrg(ctx, storeOrg(fmt.Sprintf("course-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.svc.ImportUsers(ctx, root, UserImportInput{OrgSlug: fmt.Sprintf("course-%d", i), Data: lists[i]}); err != nil {
			b.Fatal(err)
		}
	}
}
