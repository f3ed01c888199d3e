package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"lamb/config"
	"lamb/secret"
)

func TestSyncCreatesSystemOrg(t *testing.T) {
	e := newTestEnv(t)
	mustSync(t, e, config.System{})
	org, err := e.st.SystemOrg(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if org.Slug != SystemSlug || !org.IsSystem || org.Status != "active" {
		t.Fatalf("system org = %+v", org)
	}
	if n := e.auditCount(t, "system.sync"); n != 1 {
		t.Fatalf("creation audited %d times, want 1", n)
	}
	// A second start with nothing set changes and audits nothing.
	if ch := mustSync(t, e, config.System{}); len(ch) != 0 {
		t.Fatalf("second sync changed %v", ch)
	}
	if n := e.auditCount(t, "system.sync"); n != 1 {
		t.Fatalf("no-op sync audited: %d events", n)
	}
}

func TestSyncSetsFieldsAndKeepsAdminValues(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})

	// An admin stores Ollama settings in the console.
	org, _ := e.st.SystemOrg(ctx)
	c := e.systemConfig(t)
	c.Setups["default"].Providers["ollama"] = &config.Provider{Enabled: true, BaseURL: "http://gpu.lan:11434", Models: []string{"llama3.1"}, DefaultModel: "llama3.1"}
	sealed, err := e.svc.sealConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateOrgConfig(ctx, org.ID, sealed); err != nil {
		t.Fatal(err)
	}

	env := config.System{
		OpenAIAPIKey:  strp("sk-test-abcdefghijklmnop1234"),
		OpenAIBaseURL: strp("http://127.0.0.1:9/v1"),
		OpenAIModels:  &[]string{"gpt-4o-mini", "gpt-4o"},
		OpenAIModel:   strp("gpt-4o-mini"),
	}
	ch := mustSync(t, e, env)
	if len(ch) == 0 {
		t.Fatal("no changes reported")
	}
	got := e.systemConfig(t)
	oa := got.Setups["default"].Providers["openai"]
	if oa == nil || oa.APIKey != "sk-test-abcdefghijklmnop1234" || oa.BaseURL != "http://127.0.0.1:9/v1" ||
		oa.DefaultModel != "gpt-4o-mini" || !oa.Enabled || len(oa.Models) != 2 {
		t.Fatalf("openai after sync = %+v", oa)
	}
	ol := got.Setups["default"].Providers["ollama"]
	if ol == nil || ol.BaseURL != "http://gpu.lan:11434" {
		t.Fatalf("admin's ollama settings lost: %+v", ol)
	}

	// Same environment again: nothing changes, nothing audited.
	before := e.auditCount(t, "system.sync")
	if ch := mustSync(t, e, env); len(ch) != 0 {
		t.Fatalf("second sync changed %v", ch)
	}
	if after := e.auditCount(t, "system.sync"); after != before {
		t.Fatalf("second sync audited (%d → %d events)", before, after)
	}

	// The variable unset: the stored value stays.
	mustSync(t, e, config.System{})
	if k := e.systemConfig(t).Setups["default"].Providers["openai"].APIKey; k != "sk-test-abcdefghijklmnop1234" {
		t.Fatalf("unset variable cleared the key: %q", k)
	}
}

func TestSyncNeverStoresOrAuditsSecretsInPlainText(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	const apiKey, kbToken, signupKey = "sk-live-SECRET-0123456789abcdef", "kb-token-SECRET-xyz", "Signup-SECRET-key42"
	mustSync(t, e, config.System{
		OpenAIAPIKey:    strp(apiKey),
		KBServer:        strp("http://kb.lan:9090"),
		KBToken:         strp(kbToken),
		SignupEnabled:   new(true),
		SignupSecretKey: strp(signupKey),
	})
	org, _ := e.st.SystemOrg(ctx)
	for _, s := range []string{apiKey, kbToken, signupKey} {
		if strings.Contains(org.Config, s) || strings.Contains(org.SignupKeyEnc, s) || org.SignupKeyHash == s {
			t.Errorf("stored org row contains %q", s)
		}
	}
	evs, _ := e.st.ListAudit(ctx, storeFilterAll())
	for _, ev := range evs {
		for _, s := range []string{apiKey, kbToken, signupKey} {
			if strings.Contains(ev.Details, s) || strings.Contains(ev.Target, s) {
				t.Errorf("audit %s contains a secret: %s", ev.Action, ev.Details)
			}
		}
	}
	// The raw database file holds no plain text secret either (WAL included).
	e.st.Close()
	for _, f := range []string{"lamb.db", "lamb.db-wal"} {
		data, _ := readFileIfExists(e.dir + "/" + f)
		for _, s := range []string{apiKey, kbToken, signupKey} {
			if strings.Contains(string(data), s) {
				t.Errorf("%s contains %q in plain text", f, s)
			}
		}
	}
}

func TestWrongSecretKeyFailsCleanly(t *testing.T) {
	e := newTestEnv(t)
	mustSync(t, e, config.System{OpenAIAPIKey: strp("sk-abcdefghijklmnop")})
	e.st.Close()
	other := make([]byte, secret.KeySize)
	other[0] = 1
	e.open(t, other)
	_, err := e.svc.SyncSystemOrg(context.Background(), SystemActor(), config.System{})
	if err == nil {
		t.Fatal("opened secrets with the wrong key")
	}
	if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), "LAMB_SECRET_KEY") {
		t.Fatalf("error = %v; want ErrDecrypt with a hint about LAMB_SECRET_KEY", err)
	}
}

func TestSyncSignupKeyConflictsAcrossOrgs(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	org, err := e.st.CreateOrg(ctx, storeOrg("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.setSignupKey(ctx, e.st.Queries, org.ID, "shared-key-123"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SyncSystemOrg(ctx, SystemActor(), config.System{SignupSecretKey: strp("shared-key-123")})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "SIGNUP_SECRET_KEY") || strings.Contains(err.Error(), "acme") {
		t.Fatalf("error = %v; want a conflict naming SIGNUP_SECRET_KEY and not the other org", err)
	}
}

func TestSyncPermission(t *testing.T) {
	e := newTestEnv(t)
	for _, a := range []Actor{{}, {Role: RoleOrgAdmin, OrgID: 1}, {Role: RoleMember, OrgID: 1}, {Role: RoleAPIKey, OrgID: 1}} {
		if _, err := e.svc.SyncSystemOrg(context.Background(), a, config.System{}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%v: %v, want ErrForbidden", a.Role, err)
		}
	}
	if _, err := e.svc.SyncSystemOrg(context.Background(), Actor{Role: RoleSystemAdmin, Email: "a@b.c"}, config.System{}); err != nil {
		t.Errorf("system admin: %v", err)
	}
}
