package sshserver

import (
	"context"
	"encoding/json"
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
	out := ts.run(t, ts.admin, full, "org", "import").wantOK(t).stdout
	if !strings.Contains(out, "2 users") || !strings.Contains(out, "1 assistants") {
		t.Fatalf("import printed %q", out)
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
	cfg, _ = ts.svc.OrgConfig(ctx, root, "acme", true)
	if k := cfg.Setups["default"].Providers["openai"].APIKey; k != "" {
		t.Fatalf("a masked key was imported as %q", k)
	}
	// Garbage in → a clear error.
	ts.run(t, ts.admin, `{"nope":1}`, "org", "import").wantFail(t, 1, "not an org export")
}
