package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkInsertUsageBatch is the usage writer's transaction on SQLite:
// a batch of 50 events spread over 10 orgs × 10 assistants and keys, with
// their rollups.
func BenchmarkInsertUsageBatch(b *testing.B) {
	ctx := context.Background()
	st, err := Open(filepath.Join(b.TempDir(), "lamb.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	type owner struct{ org, user, assistant, key int64 }
	var owners []owner
	for o := range 10 {
		org, err := st.CreateOrg(ctx, Org{Slug: fmt.Sprintf("org-%d", o), Name: "Org", Config: "{}"})
		if err != nil {
			b.Fatal(err)
		}
		for u := range 10 {
			user, err := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: fmt.Sprintf("u%d@org-%d.example", u, o), Name: "U", Enabled: true})
			if err != nil {
				b.Fatal(err)
			}
			a, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: user.ID, Name: "A", Provider: "openai", Model: "m", Enabled: true})
			if err != nil {
				b.Fatal(err)
			}
			k, err := st.CreateAPIKey(ctx, APIKey{OrganizationID: org.ID, UserID: user.ID, Name: "k", Prefix: "lamb_", Hash: fmt.Sprintf("h%d-%d", o, u)})
			if err != nil {
				b.Fatal(err)
			}
			owners = append(owners, owner{org.ID, user.ID, a.ID, k.ID})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	batch := make([]UsageEvent, 50)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			o := owners[rng.IntN(len(owners))]
			batch[i] = UsageEvent{OrganizationID: o.org, AssistantID: o.assistant, UserID: o.user, APIKeyID: o.key,
				Provider: "openai", Model: "gpt-4o-mini", Status: "ok", HTTPStatus: 200, PromptTokens: 120,
				CompletionTokens: 80, LatencyMS: rng.Int64N(900), CreatedAt: now}
		}
		if err := st.InTx(ctx, func(tx *Tx) error { return tx.InsertUsage(ctx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
}
