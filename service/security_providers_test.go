package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/internal/fakeopenai"
)

// Regression tests of provider credentials: those inside base URLs, and
// the platform's key that "copy system providers" hands a new org.

// dbFiles returns the bytes of the database and its write-ahead log.
func (e *testEnv) dbFiles(t *testing.T) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{"lamb.db", "lamb.db-wal"} {
		data, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	return all
}

// wantNoSecrets fails if any of secrets is in text.
func wantNoSecrets(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("%s holds %q:\n%s", where, s, text)
		}
	}
}

// Attack: a base URL like https://user:pass@host/v1 or …?api_key=… was
// stored in clear and shown to everyone who could read the config, and
// written to the audit and the log. Its credentials are secrets now:
// sealed at rest, masked wherever shown, and a masked form sent back keeps
// them.
func TestBaseURLCredentialsAreMaskedAndSealed(t *testing.T) {
	ctx := context.Background()
	var logged bytes.Buffer
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	e.svc.log = slog.New(slog.NewTextHandler(&logged, nil))
	const (
		baseURL = "https://svc:base-pass-7781@llm.acme.edu/v1?api_key=query-key-5521&region=eu"
		kbURL   = "https://kb-token-3390@kb.acme.edu/api"
	)
	secrets := []string{"base-pass-7781", "query-key-5521", "kb-token-3390"}
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true, BaseURL: baseURL,
		Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", kbURL, nil); err != nil {
		t.Fatal(err)
	}
	// The environment's URL of the system org is the same kind of secret.
	envURL := "https://env:env-pass-4410@llm.lamb.example/v1"
	mustSync(t, e, config.System{OpenAIBaseURL: &envURL})
	secrets = append(secrets, "env-pass-4410")

	wantNoSecrets(t, "the database file", string(e.dbFiles(t)), secrets...)
	shown, err := e.svc.OrgConfig(ctx, oe.acme, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	wantNoSecrets(t, "org config get", string(shown.JSON()), secrets...)
	if got := shown.Setups["default"].Providers["openai"].BaseURL; got != "https://svc:…@llm.acme.edu/v1?api_key=…&region=eu" {
		t.Fatalf("masked base URL = %q", got)
	}
	if got := shown.Setups["default"].KnowledgeBase.URL; got != "https://…@kb.acme.edu/api" {
		t.Fatalf("masked knowledge base URL = %q", got)
	}
	evs, err := e.st.ListAudit(ctx, storeFilterAll())
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		wantNoSecrets(t, "audit event "+ev.Action, ev.Details, secrets...)
	}
	wantNoSecrets(t, "the log", logged.String(), secrets...)
	ex, err := e.svc.ExportOrg(ctx, oe.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	wantNoSecrets(t, "export without secrets", string(ex.Config), secrets...)

	// The masked form written back keeps the secret: a whole document, and
	// a form (the Providers screen sends back the base URL it shows).
	changed, err := e.svc.SetOrgConfig(ctx, oe.acme, "acme", shown, false)
	if err != nil || len(changed) != 0 {
		t.Fatalf("masked config written back: changed %v, %v", changed, err)
	}
	p := shown.Setups["default"].Providers["openai"]
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true, BaseURL: p.BaseURL,
		Models: []string{"gpt-4o-mini", "gpt-4o"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", shown.Setups["default"].KnowledgeBase.URL, nil); err != nil {
		t.Fatal(err)
	}
	full := oe.secrets(t, "acme")
	if got := full.Setups["default"].Providers["openai"].BaseURL; got != baseURL {
		t.Fatalf("stored base URL after round trips = %q", got)
	}
	if got := full.Setups["default"].KnowledgeBase.URL; got != kbURL {
		t.Fatalf("stored knowledge base URL after round trips = %q", got)
	}
	// A masked URL that isn't the stored one's mask can't be stored.
	err = e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: "https://svc:…@evil.example/v1", Models: []string{"gpt-4o-mini"}})
	wantInvalid(t, err, "setups.default.providers.openai.base_url")

	// An import of the masked export keeps the address, not the credentials.
	ex.Organization.Slug = "acme-copy"
	ex.Users, ex.Assistants = nil, nil
	res, err := e.svc.ImportOrg(ctx, oe.sys, ex, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	imported := oe.secrets(t, "acme-copy")
	if got := imported.Setups["default"].Providers["openai"].BaseURL; got != "https://llm.acme.edu/v1?region=eu" {
		t.Fatalf("imported base URL = %q (cleared %v)", got, res.SecretsCleared)
	}
}

// platformEnv is a system org whose OpenAI provider is a fake that only
// takes the platform's key, and acme created with a copy of it.
type platformEnv struct {
	*orgAdminEnv
	platform, attacker       *fakeopenai.Server
	platformURL, attackerURL string
	gammaAdmin               Actor
}

const (
	platformKey     = "sk-platform-0123456789abcdef"
	platformKBToken = "kb-platform-token-0123456789"
)

func newPlatformEnv(t *testing.T) *platformEnv {
	t.Helper()
	pe := &platformEnv{platform: fakeopenai.New(), attacker: fakeopenai.New()}
	pe.platform.RequireKey(platformKey)
	ps, as := httptest.NewServer(pe.platform), httptest.NewServer(pe.attacker)
	t.Cleanup(ps.Close)
	t.Cleanup(as.Close)
	pe.platformURL, pe.attackerURL = ps.URL+"/v1", as.URL+"/v1"
	pe.orgAdminEnv = newOrgAdminEnv(t, config.System{OpenAIAPIKey: strp(platformKey), OpenAIBaseURL: &pe.platformURL,
		OpenAIModels: &[]string{"gpt-4o-mini"}, OpenAIModel: strp("gpt-4o-mini"),
		KBServer: strp("https://kb.lamb.example"), KBToken: strp(platformKBToken)})
	line, fp := newKey(t, "")
	if _, err := pe.svc.CreateOrg(context.Background(), pe.sys, CreateOrgInput{Slug: "gamma", Name: "Gamma", CopySystemProviders: true,
		Admin: &NewAdmin{Email: "admin@gamma.edu", Name: "Admin", SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	a, err := pe.svc.ActorForSSHKey(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	pe.gammaAdmin = a
	return pe
}

// Attack: --copy-system-providers handed the platform's provider key to
// the new org's admins in clear. They may use it, not read it: not with
// org config get --with-secrets, not in a copy of the setup; a system
// admin still can, and a key of their own is theirs to read.
func TestCopiedSystemKeyIsNotRevealedToOrgAdmin(t *testing.T) {
	ctx := context.Background()
	pe := newPlatformEnv(t)
	admin := pe.gammaAdmin
	c, err := pe.svc.OrgConfig(ctx, admin, "gamma", true)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(c.JSON())
	wantNoSecrets(t, "org config get --with-secrets by the org admin", doc, platformKey, platformKBToken)
	p := c.Setups["default"].Providers["openai"]
	if p.APIKey != config.Mask(platformKey) || p.APIKeySource != config.SourceSystem {
		t.Fatalf("org admin sees %+v", p)
	}
	if sys := pe.secrets(t, "gamma"); sys.Setups["default"].Providers["openai"].APIKey != platformKey {
		t.Fatal("a system admin can't read the copied key")
	}
	if _, err := pe.svc.ExportOrg(ctx, admin, "gamma", true); !errors.Is(err, ErrForbidden) {
		t.Fatalf("org admin's export with secrets: %v", err)
	}
	row := pe.mustOrg(t, "gamma")
	wantNoSecrets(t, "the stored config", row.Config, platformKey)

	// What they read, written back, changes nothing; a copied setup keeps
	// the key the platform's.
	if changed, err := pe.svc.SetOrgConfig(ctx, admin, "gamma", c, false); err != nil || len(changed) != 0 {
		t.Fatalf("written back: %v, %v", changed, err)
	}
	if err := pe.svc.AddSetup(ctx, admin, "gamma", "copy", "default"); err != nil {
		t.Fatal(err)
	}
	c, _ = pe.svc.OrgConfig(ctx, admin, "gamma", true)
	wantNoSecrets(t, "a copied setup", string(c.JSON()), platformKey)
	// The mark can't be removed to read it.
	c.Setups["copy"].Providers["openai"].APIKeySource = ""
	if _, err := pe.svc.SetOrgConfig(ctx, admin, "gamma", c, false); err != nil {
		t.Fatal(err)
	}
	c, _ = pe.svc.OrgConfig(ctx, admin, "gamma", true)
	wantNoSecrets(t, "after dropping the mark", string(c.JSON()), platformKey)

	// Their own key replaces the platform's and is theirs to read.
	own := "sk-gamma-own-0123456789"
	if err := pe.svc.UpdateProvider(ctx, admin, "gamma", "default", "openai", ProviderInput{Enabled: true, APIKey: &own,
		BaseURL: pe.platformURL, Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	c, _ = pe.svc.OrgConfig(ctx, admin, "gamma", true)
	if p := c.Setups["default"].Providers["openai"]; p.APIKey != own || p.APIKeySource != "" {
		t.Fatalf("own key shows as %+v", p)
	}
}

// Attack: an org admin given the platform's key changed base_url to their
// own server and received the key with the next completion. Changing the
// URL of a platform key is refused — by form, by whole document, through a
// copied setup — and the gateway keeps sending it only to the platform's
// provider; with a key of their own, the new URL gets only that key.
func TestOrgAdminCannotRedirectCopiedSystemKey(t *testing.T) {
	ctx := context.Background()
	pe := newPlatformEnv(t)
	admin := pe.gammaAdmin
	const path = "setups.default.providers.openai.base_url"

	err := pe.svc.UpdateProvider(ctx, admin, "gamma", "default", "openai", ProviderInput{Enabled: true, BaseURL: pe.attackerURL,
		Models: []string{"gpt-4o-mini"}})
	if ie := invalidField(t, err, path); !strings.Contains(ie.Message, "set your own key") {
		t.Fatalf("refusal says %q", ie.Message)
	}
	c, err := pe.svc.OrgConfig(ctx, admin, "gamma", true)
	if err != nil {
		t.Fatal(err)
	}
	c.Setups["default"].Providers["openai"].BaseURL = pe.attackerURL
	_, err = pe.svc.SetOrgConfig(ctx, admin, "gamma", c, false)
	wantInvalid(t, err, path)
	if err := pe.svc.AddSetup(ctx, admin, "gamma", "evil", "default"); err != nil {
		t.Fatal(err)
	}
	err = pe.svc.UpdateProvider(ctx, admin, "gamma", "evil", "openai", ProviderInput{Enabled: true, BaseURL: pe.attackerURL,
		Models: []string{"gpt-4o-mini"}})
	wantInvalid(t, err, "setups.evil.providers.openai.base_url")
	// The knowledge base's token likewise.
	err = pe.svc.UpdateKnowledgeBase(ctx, admin, "gamma", "default", "https://kb.evil.example", nil)
	wantInvalid(t, err, "setups.default.knowledge_base.url")
	token := "kb-gamma-own-token"
	if err := pe.svc.UpdateKnowledgeBase(ctx, admin, "gamma", "default", "https://kb.gamma.example", &token); err != nil {
		t.Fatalf("own token with another URL: %v", err)
	}
	if got := pe.secrets(t, "gamma").Setups["default"].Providers["openai"]; got.BaseURL != pe.platformURL || got.APIKey != platformKey {
		t.Fatalf("stored provider %+v", got)
	}

	// End to end: the gateway sends the platform's key to the platform only.
	as, err := pe.svc.CreateAssistant(ctx, admin, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o-mini", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pe.svc.CreateAPIKey(ctx, admin, "gamma", "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	chat := func() {
		t.Helper()
		caller, err := pe.svc.Authenticate(ctx, key.Key)
		if err != nil {
			t.Fatal(err)
		}
		req, err := NewChatRequest([]byte(`{"model":"` + ModelPrefix + itoa(as.ID) + `","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pe.svc.Chat(ctx, caller, req); err != nil {
			t.Fatalf("completion: %v", err)
		}
	}
	chat()
	if pe.platform.Requests() != 1 || pe.attacker.Requests() != 0 || pe.platform.Last().Auth != "Bearer "+platformKey {
		t.Fatalf("platform got %d requests, attacker %d", pe.platform.Requests(), pe.attacker.Requests())
	}

	// With their own key the URL is theirs to choose, and only their key
	// goes there.
	own := "sk-gamma-own-0123456789"
	if err := pe.svc.UpdateProvider(ctx, admin, "gamma", "default", "openai", ProviderInput{Enabled: true, APIKey: &own,
		BaseURL: pe.attackerURL, Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	chat()
	last := pe.attacker.Last()
	if pe.attacker.Requests() != 1 || last == nil || last.Auth != "Bearer "+own {
		t.Fatalf("the org's own URL got %d requests, last %+v", pe.attacker.Requests(), last)
	}
	// A system admin may move the platform's key (they can read it anyway).
	if err := pe.svc.UpdateProvider(ctx, pe.sys, "gamma", "evil", "openai", ProviderInput{Enabled: true, BaseURL: "https://llm.example/v1",
		Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatalf("system admin: %v", err)
	}
	js, _ := json.Marshal(pe.secrets(t, "gamma").Setups["evil"])
	if !strings.Contains(string(js), platformKey) {
		t.Fatalf("evil setup after the system admin's change: %s", js)
	}
}
