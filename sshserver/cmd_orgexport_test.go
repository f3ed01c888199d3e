package sshserver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"lamb/service"
)

func TestOrgExportImportRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createOrg(t, "acme")
	root := ts.adminActor(t)
	key := "sk-secret-provider-key-123456"
	admin := ts.userWithKey(t, "acme", "boss@acme.example", "admin")
	ts.userWithKey(t, "acme", "ana@acme.example", "member")
	if err := ts.svc.UpdateProvider(ctx, root, "acme", "default", "openai", service.ProviderInput{Enabled: true,
		BaseURL: "http://127.0.0.1:9/v1", APIKey: &key, Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.CreateAssistant(ctx, root, service.AssistantInput{Owner: "ana@acme.example", Name: "Tutor",
		Provider: "openai", Model: "gpt-4o-mini", SystemPrompt: "Be kind."}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.SetSignupEnabled(ctx, root, "acme", true); err != nil {
		t.Fatal(err)
	}

	// Masked export: no secret in it.
	masked := ts.run(t, ts.admin, "", "org", "export", "acme").wantOK(t).stdout
	if strings.Contains(masked, key) {
		t.Fatal("export without --with-secrets contains the provider key")
	}
	var ex service.Export
	if err := json.Unmarshal([]byte(masked), &ex); err != nil || len(ex.Users) != 2 || len(ex.Assistants) != 1 || ex.Signup.Key != "" {
		t.Fatalf("export: %v %+v", err, ex)
	}
	// The slug is taken: import refuses and names it.
	ts.run(t, ts.admin, masked, "org", "import").wantFail(t, 1, "already exists")

	// Import a copy under another slug after the original is gone (emails are unique).
	full := ts.run(t, ts.admin, "", "org", "export", "acme", "--with-secrets").wantOK(t).stdout
	if !strings.Contains(full, key) {
		t.Fatal("export --with-secrets lacks the provider key")
	}
	ts.run(t, ts.admin, "", "org", "delete", "acme", "--yes", "--users", "delete").wantOK(t)
	dry := ts.run(t, ts.admin, full, "org", "import", "--dry-run").wantOK(t).stdout
	if !strings.Contains(dry, "Would import") {
		t.Fatalf("dry run printed %q", dry)
	}
	if _, err := ts.svc.GetOrg(ctx, root, "acme"); err == nil {
		t.Fatal("dry run created the org")
	}
	oldID := ex.Assistants[0].ID
	out := ts.run(t, ts.admin, full, "org", "import").wantOK(t).stdout
	if !strings.Contains(out, "2 users") || !strings.Contains(out, "1 assistant.") {
		t.Fatalf("import printed %q", out)
	}
	// The assistant's new id, beside its old one, for updating callers.
	mine, err := ts.svc.ListOrgAssistants(ctx, root, "acme", "", 0, 10)
	if err != nil || len(mine.Items) != 1 {
		t.Fatalf("imported assistants: %+v, %v", mine, err)
	}
	newID := mine.Items[0].ID
	if oldID == 0 || newID == oldID {
		t.Fatalf("ids: exported %d, imported %d", oldID, newID)
	}
	if want := fmt.Sprintf("lamb_assistant.%d  lamb_assistant.%d  Tutor", oldID, newID); !strings.Contains(out, "update their callers (old → new)") || !strings.Contains(out, want) {
		t.Fatalf("import printed no id map with %q:\n%s", want, out)
	}
	if strings.Contains(out, "signup.key") {
		t.Fatalf("an export with its signup key says the key was cleared:\n%s", out)
	}
	// The admin's SSH key works again, with the same role; the secret came back.
	if r := ts.run(t, admin, "", "whoami"); !strings.Contains(r.stdout, "boss@acme.example") {
		t.Fatalf("imported admin whoami: %+v", r)
	}
	cfg, err := ts.svc.OrgConfig(ctx, root, "acme", true)
	if err != nil || cfg.Setups["default"].Providers["openai"].APIKey != key {
		t.Fatalf("imported config: %v", err)
	}
	// Only system admins.
	ts.run(t, admin, "", "org", "export", "acme").wantFail(t, 1, "permission denied")
	ts.run(t, admin, full, "org", "import").wantFail(t, 1, "permission denied")
	// A masked export imports with its secrets cleared, and says which.
	ts.run(t, ts.admin, "", "org", "delete", "acme", "--yes", "--users", "delete").wantOK(t)
	out = ts.run(t, ts.admin, masked, "org", "import").wantOK(t).stdout
	if !strings.Contains(out, "Cleared (masked in the export; set it again): setups.default.providers.openai.api_key") {
		t.Fatalf("masked import printed %q", out)
	}
	// Signup was on, but its key stayed behind: it comes in off, and says how to turn it on.
	if !strings.Contains(out, "Cleared: signup.key (not in the export), so signup comes in off; `signup enable --org acme`") {
		t.Fatalf("masked import says nothing of the signup key:\n%s", out)
	}
	if s, err := ts.svc.SignupInfo(ctx, root, "acme", false); err != nil || s.Enabled || s.HasKey {
		t.Fatalf("signup after a masked import: %+v, %v", s, err)
	}
	cfg, _ = ts.svc.OrgConfig(ctx, root, "acme", true)
	if k := cfg.Setups["default"].Providers["openai"].APIKey; k != "" {
		t.Fatalf("a masked key was imported as %q", k)
	}
	// Garbage in → a clear error.
	ts.run(t, ts.admin, `{"nope":1}`, "org", "import").wantFail(t, 1, "not an org export")
}

// org import --json carries the id map and the cleared signup key; a file
// whose users already have accounts names every one of them in one answer.
func TestOrgImportJSONAndEveryConflict(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	ts.createOrg(t, "acme")
	root := ts.adminActor(t)
	ts.userWithKey(t, "acme", "ana@acme.example", "admin")
	ts.userWithKey(t, "acme", "ben@acme.example", "member")
	ts.userWithKey(t, "acme", "cy@acme.example", "member")
	if err := ts.svc.UpdateProvider(ctx, root, "acme", "default", "openai", service.ProviderInput{Enabled: true,
		BaseURL: "http://127.0.0.1:9/v1", Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	a, err := ts.svc.CreateAssistant(ctx, root, service.AssistantInput{Owner: "ben@acme.example", Name: "Tutor", Provider: "openai", Model: "gpt-4o-mini"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.SetSignupEnabled(ctx, root, "acme", true); err != nil {
		t.Fatal(err)
	}
	doc := ts.run(t, ts.admin, "", "org", "export", "acme").wantOK(t).stdout

	// A copy under another slug: all three emails and keys are taken.
	cp := strings.Replace(doc, `"slug": "acme"`, `"slug": "acme-copy"`, 1)
	if cp == doc {
		cp = strings.Replace(doc, `"slug":"acme"`, `"slug":"acme-copy"`, 1)
	}
	r := ts.run(t, ts.admin, cp, "org", "import", "--dry-run")
	r.wantFail(t, 1, "these emails already have an account on this server")
	for _, email := range []string{"ana@acme.example", "ben@acme.example", "cy@acme.example"} {
		if !strings.Contains(r.stderr, email) {
			t.Errorf("the conflict doesn't name %s: %s", email, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "these SSH keys already belong to an account") {
		t.Errorf("the conflict doesn't name the keys: %s", r.stderr)
	}

	// Gone from the server, the copy imports: --json says how ids changed.
	ts.run(t, ts.admin, "", "org", "delete", "acme", "--yes", "--users", "delete").wantOK(t)
	var res service.ImportResult
	out := ts.run(t, ts.admin, cp, "org", "import", "--json").wantOK(t).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("import --json: %v\n%s", err, out)
	}
	if len(res.AssistantIDs) != 1 || res.AssistantIDs[0].OldID != a.ID || res.AssistantIDs[0].NewID <= a.ID ||
		res.AssistantIDs[0].Name != "Tutor" || res.AssistantIDs[0].Owner != "ben@acme.example" {
		t.Fatalf("assistant_ids = %+v (exported id %d)", res.AssistantIDs, a.ID)
	}
	if !res.SignupDisabled || !slices.Contains(res.SecretsCleared, "signup.key") {
		t.Fatalf("signup: disabled %v, cleared %v", res.SignupDisabled, res.SecretsCleared)
	}
	if got, err := ts.svc.GetAssistant(ctx, root, res.AssistantIDs[0].NewID); err != nil || got.Name != "Tutor" || got.OrgSlug != "acme-copy" {
		t.Fatalf("the new id is %+v, %v", got, err)
	}
}
