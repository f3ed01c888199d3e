package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"lamb/store"
)

// The permission matrix of the member's console (issue 5): every role ×
// every operation on assistants, API keys and usage. Targets are objects
// of org A ("acme"): an assistant and a personal key of member A, an org
// key of A. Each cell runs on its own copy of one populated database, and a
// refused cell must leave every table exactly as it was.

// The roles, in the column order of memberOp.want.
var memberMatrixRoles = []string{"system admin", "org admin A", "org admin B", "member A (owner)", "member A2",
	"api key A", "personal key", "unknown"}

// memberMatrixFixture is what the populated database holds.
type memberMatrixFixture struct {
	actors      map[string]Actor
	assistantID int64            // "Tutor", of member A
	personalKey int64            // member A's personal key
	orgKey      int64            // an org key of A
	usage       map[string]int64 // requests this month that each role's report should total
}

// buildMemberMatrix populates a database (memberEnv, every org with a
// provider so that anyone may create an assistant for themselves) and
// returns the directory of the closed database.
func buildMemberMatrix(t *testing.T) (dir string, key []byte, fx memberMatrixFixture) {
	t.Helper()
	ctx := context.Background()
	e := newMemberEnv(t)
	e.enableOpenAI(t, e.sys, SystemSlug)
	e.enableOpenAI(t, e.adminB, "beta")
	tutor := e.assistant(t, e.a1, AssistantInput{Name: "Tutor"})
	grader := e.assistant(t, e.a2, AssistantInput{Name: "Grader"})
	personal := e.newKeyOK(t, e.a1, "", "ana's laptop", true)
	org := e.newKeyOK(t, e.adminA, "", "lms", false)
	for _, u := range []struct {
		assistant, user, requests int64
	}{{tutor.ID, e.a1.UserID, 3}, {grader.ID, e.a2.UserID, 4}} {
		if err := e.st.AddUsageDaily(ctx, e.a1.OrgID, store.Day(e.now), u.assistant, u.user, store.UsageTotals{Requests: u.requests}); err != nil {
			t.Fatal(err)
		}
	}
	fx = memberMatrixFixture{
		actors: map[string]Actor{
			"system admin":     e.sys,
			"org admin A":      e.adminA,
			"org admin B":      e.adminB,
			"member A (owner)": e.a1,
			"member A2":        e.a2,
			"api key A":        {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", KeyID: org.ID, Via: org.Prefix},
			"personal key": {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", KeyID: personal.ID, Personal: true,
				UserID: e.a1.UserID, Via: personal.Prefix},
			"unknown": {},
		},
		assistantID: tutor.ID,
		personalKey: personal.ID,
		orgKey:      org.ID,
		usage:       map[string]int64{"system admin": 7, "org admin A": 7, "member A (owner)": 3, "member A2": 4},
	}
	return e.snapshotDir(t), e.key, fx
}

// memberOp is one operation. want has one letter per role of
// memberMatrixRoles: a = allowed, F = ErrForbidden, N = ErrNotFound (the
// answer for a missing object, so that others' objects can't be probed).
type memberOp struct {
	name  string
	want  string
	audit string // the action an allowed call writes, "" for reads
	run   func(ctx context.Context, e *testEnv, fx memberMatrixFixture, role string, a Actor) error
}

var memberOps = []memberOp{
	{"CreateAssistant(self)", "aaaaaFFF", "assistant.create", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		as, err := e.svc.CreateAssistant(ctx, a, AssistantInput{Name: "New", Provider: "openai"})
		if err == nil && (as.Owner != a.Email || as.OrgSlug != a.OrgSlug) {
			return fmt.Errorf("created %+v", as)
		}
		return err
	}},
	{"CreateAssistant(owner member A)", "aaNaFFFF", "assistant.create", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		as, err := e.svc.CreateAssistant(ctx, a, AssistantInput{Owner: emailA1, Name: "New", Provider: "openai"})
		if err == nil && (as.Owner != emailA1 || as.OrgSlug != "acme") {
			return fmt.Errorf("created %+v", as)
		}
		return err
	}},
	{"GetAssistant", "aaNaNFFF", "", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		as, err := e.svc.GetAssistant(ctx, a, fx.assistantID)
		if err == nil && (as.ID != fx.assistantID || as.Owner != emailA1) {
			return fmt.Errorf("got %+v", as)
		}
		return err
	}},
	{"UpdateAssistant", "aaNaNFFF", "assistant.update", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		as, err := e.svc.UpdateAssistant(ctx, a, fx.assistantID, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o", Enabled: true})
		if err == nil && (as.LLM != "gpt-4o" || as.Owner != emailA1) {
			return fmt.Errorf("updated %+v", as)
		}
		return err
	}},
	{"SetMyAssistantEnabled", "aaNaNFFF", "assistant.disable", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		return e.svc.SetMyAssistantEnabled(ctx, a, fx.assistantID, false)
	}},
	{"DeleteAssistant", "aaNaNFFF", "assistant.delete", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		return e.svc.DeleteAssistant(ctx, a, fx.assistantID)
	}},
	{"ListMyAssistants", "aaaaaFFF", "", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, role string, a Actor) error {
		p, err := e.svc.ListMyAssistants(ctx, a, "", 0, 0)
		if err != nil {
			return err
		}
		for _, as := range p.Items {
			if as.Owner != a.Email {
				return fmt.Errorf("listed %s's assistant %s", as.Owner, as.Name)
			}
		}
		if role == "member A (owner)" && (p.Total != 1 || p.Items[0].ID != fx.assistantID) {
			return fmt.Errorf("owner lists %+v", p)
		}
		return nil
	}},
	{"ModelChoices", "aaaaaFFF", "", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		c, err := e.svc.ModelChoices(ctx, a)
		if err == nil && (len(c) == 0 || c[0].Provider != "openai") {
			return fmt.Errorf("choices %+v", c)
		}
		return err
	}},
	{"KBChoices", "aaaaaFFF", "", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		c, err := e.svc.KBChoices(ctx, a)
		if err == nil && c == nil {
			return fmt.Errorf("choices nil, want an empty list")
		}
		return err
	}},
	{"CreateAPIKey(personal)", "aaaaaFFF", "apikey.create", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		k, err := e.svc.CreateAPIKey(ctx, a, "", "mine", true, time.Time{})
		if err == nil && (k.Owner != a.Email || k.OrgSlug != a.OrgSlug || k.Key == "") {
			return fmt.Errorf("created %+v", k.APIKey)
		}
		return err
	}},
	{"CreateAPIKey(org of A)", "aaNFFFFF", "apikey.create", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		k, err := e.svc.CreateAPIKey(ctx, a, "acme", "lms 2", false, time.Time{})
		if err == nil && (k.Owner != "" || k.OrgSlug != "acme") {
			return fmt.Errorf("created %+v", k.APIKey)
		}
		return err
	}},
	{"ListAPIKeys(personal)", "aaaaaFFF", "", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, role string, a Actor) error {
		p, err := e.svc.ListAPIKeys(ctx, a, "", true, 0, 0)
		if err != nil {
			return err
		}
		for _, k := range p.Items {
			if k.Owner != a.Email {
				return fmt.Errorf("listed key %d of %q", k.ID, k.Owner)
			}
		}
		if role == "member A (owner)" && (p.Total != 1 || p.Items[0].ID != fx.personalKey) {
			return fmt.Errorf("owner lists %+v", p)
		}
		return nil
	}},
	{"ListAPIKeys(org of A)", "aaNFFFFF", "", func(ctx context.Context, e *testEnv, _ memberMatrixFixture, _ string, a Actor) error {
		p, err := e.svc.ListAPIKeys(ctx, a, "acme", false, 0, 0)
		if err == nil && p.Total != 2 {
			return fmt.Errorf("listed %+v", p)
		}
		return err
	}},
	{"RevokeAPIKey(member A's)", "aaNaNFFF", "apikey.revoke", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		return e.svc.RevokeAPIKey(ctx, a, fx.personalKey)
	}},
	{"RevokeAPIKey(A's org key)", "aaNNNFFF", "apikey.revoke", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, _ string, a Actor) error {
		return e.svc.RevokeAPIKey(ctx, a, fx.orgKey)
	}},
	{"Usage(acme)", "aaNaaFFF", "", func(ctx context.Context, e *testEnv, fx memberMatrixFixture, role string, a Actor) error {
		r, err := e.svc.Usage(ctx, a, UsageQuery{Org: "acme", From: e.now.AddDate(0, 0, -30), By: "user"})
		if err == nil && r.Total.Requests != fx.usage[role] {
			return fmt.Errorf("%s's report totals %d requests, want %d: %+v", role, r.Total.Requests, fx.usage[role], r.Rows)
		}
		return err
	}},
}

func TestMemberPermissionMatrix(t *testing.T) {
	dir, key, fx := buildMemberMatrix(t)
	for _, op := range memberOps {
		if len(op.want) != len(memberMatrixRoles) {
			t.Fatalf("%s: want has %d letters for %d roles", op.name, len(op.want), len(memberMatrixRoles))
		}
		for i, role := range memberMatrixRoles {
			t.Run(op.name+"/"+role, func(t *testing.T) {
				ctx := context.Background()
				e := cloneEnv(t, dir, key)
				matrixCell(t, e, op.name, op.want[i], op.audit, true, func() error { return op.run(ctx, e, fx, role, fx.actors[role]) })
			})
		}
	}
}
