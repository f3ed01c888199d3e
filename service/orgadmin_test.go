package service

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// The org-admin console (issue 4): dashboard, signup, providers, setups,
// limits. Permissions are in the matrix; these are the behaviours.

// fakeProvider is an OpenAI-compatible provider and knowledge base on
// 127.0.0.1: GET /v1/models lists gpt-4o and gpt-4o-mini to the Bearer key
// wantKey ("" accepts any key) and answers 401 otherwise, echoing the key
// the way OpenAI does; GET /health answers 200.
func fakeProvider(t *testing.T, wantKey string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/health":
			w.Write([]byte(`{"status":"ok"}`))
		case r.Method != http.MethodGet || r.URL.Path != "/v1/models":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"message":"no route","type":"invalid_request_error"}}`))
		case wantKey != "" && r.Header.Get("Authorization") != "Bearer "+wantKey:
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"message": "Incorrect API key provided: " + got, "type": "invalid_request_error", "code": "invalid_api_key"}})
		default:
			w.Write([]byte(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","owned_by":"openai"},` +
				`{"id":"gpt-4o","object":"model","owned_by":"openai"}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// orgAdminEnv is a service with the system org synced from env, a system
// admin, and orgs acme and beta, each with an admin who signs in by key.
type orgAdminEnv struct {
	*testEnv
	sys, acme, beta Actor
}

func newOrgAdminEnv(t *testing.T, env config.System) *orgAdminEnv {
	t.Helper()
	e := newTestEnv(t)
	mustSync(t, e, env)
	oe := &orgAdminEnv{testEnv: e, sys: sysAdmin(t, e, "root@lamb.local")}
	oe.acme = oe.orgWithAdmin(t, "acme", "admin@acme.edu")
	oe.beta = oe.orgWithAdmin(t, "beta", "admin@beta.edu")
	return oe
}

func (oe *orgAdminEnv) orgWithAdmin(t *testing.T, slug, email string) Actor {
	t.Helper()
	ctx := context.Background()
	line, fp := newKey(t, email)
	if _, err := oe.svc.CreateOrg(ctx, oe.sys, CreateOrgInput{Slug: slug, Name: strings.ToUpper(slug),
		Admin: &NewAdmin{Email: email, Name: "Admin", SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	a, err := oe.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// secrets returns an org's config with its secrets, as a system admin.
func (oe *orgAdminEnv) secrets(t *testing.T, slug string) *config.Org {
	t.Helper()
	c, err := oe.svc.OrgConfig(context.Background(), oe.sys, slug, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// invalidField is wantInvalid returning the error, for its message.
func invalidField(t *testing.T, err error, field string) *InvalidError {
	t.Helper()
	wantInvalid(t, err, field)
	var ie *InvalidError
	errors.As(err, &ie)
	return ie
}

func TestDashboardFigures(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	// acme: its admin, a second admin, two members of whom one is disabled.
	userWithKey(t, e, oe.sys, "acme", "admin2@acme.edu", "admin", "")
	m1, _ := userWithKey(t, e, oe.sys, "acme", "m1@acme.edu", "member", "")
	userWithKey(t, e, oe.sys, "acme", "m2@acme.edu", "member", "")
	if _, err := e.svc.SetUserEnabled(ctx, oe.acme, "m2@acme.edu", false); err != nil {
		t.Fatal(err)
	}
	userWithKey(t, e, oe.sys, "beta", "m@beta.edu", "member", "") // beta's rows never count for acme
	acme, beta := e.mustOrg(t, "acme"), e.mustOrg(t, "beta")

	for _, a := range []store.Assistant{
		{OrganizationID: acme.ID, OwnerUserID: m1.UserID, Name: "Tutor"},
		{OrganizationID: acme.ID, OwnerUserID: m1.UserID, Name: "Grader"},
		{OrganizationID: beta.ID, OwnerUserID: oe.beta.UserID, Name: "Tutor"},
	} {
		a.Provider, a.Model, a.Enabled = "openai", "gpt-4o", true
		if _, err := e.st.CreateAssistant(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// API keys: two live and one revoked in acme, one in beta.
	for _, k := range []struct {
		org     int64
		name    string
		revoked bool
	}{{acme.ID, "lms", false}, {acme.ID, "bot", false}, {acme.ID, "old", true}, {beta.ID, "lms", false}} {
		row, err := e.st.CreateAPIKey(ctx, store.APIKey{OrganizationID: k.org, Name: k.name,
			Prefix: "lamb_" + k.name, Hash: HashAPIKey(k.name + itoa(k.org))})
		if err != nil {
			t.Fatal(err)
		}
		if k.revoked {
			if err := e.st.RevokeAPIKey(ctx, row.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Usage rollups; now is 2026-11-29.
	today := e.now
	for _, u := range []struct {
		org, user          int64
		day                time.Time
		requests, pr, comp int64
	}{
		{acme.ID, m1.UserID, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 10, 1000, 500},
		{acme.ID, m1.UserID, today, 2, 200, 100},
		{acme.ID, oe.acme.UserID, today, 1, 50, 25},
		{acme.ID, m1.UserID, time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), 99, 90000, 9000}, // last month
		{beta.ID, oe.beta.UserID, today, 7, 7000, 700},                                        // another org
	} {
		err := e.st.AddUsageDaily(ctx, u.org, store.Day(u.day), 0, u.user,
			store.UsageTotals{Requests: u.requests, PromptTokens: u.pr, CompletionTokens: u.comp})
		if err != nil {
			t.Fatal(err)
		}
	}
	l := config.UnlimitedLimits()
	l.TokensPerMonth = 1_000_000
	if err := e.svc.SetLimits(ctx, oe.acme, "acme", l); err != nil {
		t.Fatal(err)
	}
	// OpenAI without its key is incomplete; Ollama needs no key.
	const goodKey = "sk-acme-good-0123456789"
	fake := fakeProvider(t, goodKey)
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: fake.URL + "/v1", Models: []string{"gpt-4o"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "ollama", ProviderInput{
		BaseURL: "http://localhost:11434", Models: []string{"llama3.1", "qwen2"}}); err != nil {
		t.Fatal(err)
	}

	d, err := e.svc.Dashboard(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	got := []int64{int64(d.Users), int64(d.EnabledUsers), int64(d.DisabledUsers), int64(d.Admins),
		int64(d.Assistants), int64(d.APIKeys), d.TokensThisMonth, d.TokenLimit, d.RequestsToday}
	want := []int64{4, 3, 1, 2, 2, 2, 1500 + 300 + 75, 1_000_000, 3}
	if !slices.Equal(got, want) {
		t.Fatalf("users, enabled, disabled, admins, assistants, api keys, tokens this month, limit, requests today\n"+
			"got  %v\nwant %v", got, want)
	}
	if d.Org.Slug != "acme" || d.ActiveSetup != "default" || len(d.Providers) != 2 {
		t.Fatalf("dashboard = %+v", d)
	}
	oa, ol := d.Providers[0], d.Providers[1]
	if oa.Name != "openai" || !oa.Enabled || oa.Configured || oa.DefaultModel != "gpt-4o" || oa.Models != 1 || oa.LastCheck != nil {
		t.Errorf("openai without a key: %+v", oa)
	}
	if ol.Name != "ollama" || ol.Enabled || !ol.Configured || ol.DefaultModel != "llama3.1" || ol.Models != 2 {
		t.Errorf("ollama: %+v", ol)
	}

	// With its key OpenAI is configured, and a test shows on the dashboard.
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
		APIKey: strp(goodKey), BaseURL: fake.URL + "/v1", Models: []string{"gpt-4o"}}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.TestProvider(ctx, oe.acme, "acme", "default", "openai"); err != nil || !res.OK {
		t.Fatalf("test connection: %+v, %v", res, err)
	}
	d, err = e.svc.Dashboard(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	oa = d.Providers[0]
	if !oa.Configured || oa.LastCheck == nil || !oa.LastCheck.OK || !oa.LastCheck.At.Equal(e.now) ||
		!slices.Equal(oa.LastCheck.Models, []string{"gpt-4o", "gpt-4o-mini"}) {
		t.Fatalf("openai after a test: %+v (last check %+v)", oa, oa.LastCheck)
	}

	// beta sees only its own figures.
	d, err = e.svc.Dashboard(ctx, oe.beta, "beta")
	if err != nil {
		t.Fatal(err)
	}
	if d.Users != 2 || d.Assistants != 1 || d.APIKeys != 1 || d.TokensThisMonth != 7700 || d.RequestsToday != 7 ||
		d.TokenLimit != config.Unlimited || len(d.Providers) != 0 {
		t.Fatalf("beta's dashboard = %+v", d)
	}
}

func TestSignupEnableGeneratesKeyAndRevealIsAudited(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	s, err := e.svc.SignupInfo(ctx, oe.acme, "acme", false)
	if err != nil || s.Enabled || s.HasKey || s.Key != "" {
		t.Fatalf("new org's signup: %+v, %v", s, err)
	}

	s, err = e.svc.SetSignupEnabled(ctx, oe.acme, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	key := s.Key
	if !s.Enabled || !s.HasKey || len(key) < 16 || !config.SignupKeyRE.MatchString(key) ||
		!strings.HasSuffix(s.URL, "/signup?key="+url.QueryEscape(key)) {
		t.Fatalf("enabling signup without a key: %+v", s)
	}
	if o, err := e.st.OrgBySignupKeyHash(ctx, e.svc.box.Hash(key)); err != nil || o.Slug != "acme" {
		t.Fatalf("the generated key finds %q, %v", o.Slug, err)
	}
	ev := e.lastAudit(t, "signup.enable")
	if !strings.Contains(ev.Details, `"signup_key_generated":true`) {
		t.Errorf("signup.enable details %s", ev.Details)
	}
	// The key is nowhere at rest in clear: not in audit details, not in a column.
	if strings.Contains(e.dump(t), key) {
		t.Fatal("the signup key is stored in clear")
	}

	s, err = e.svc.SignupInfo(ctx, oe.acme, "acme", false)
	if err != nil || !s.Enabled || !s.HasKey || s.Key != "" || s.URL != "" {
		t.Fatalf("signup info without reveal: %+v, %v", s, err)
	}
	reveals := e.auditCount(t, "signup_key.reveal")
	s, err = e.svc.SignupInfo(ctx, oe.acme, "acme", true)
	if err != nil || s.Key != key || !strings.Contains(s.URL, key) {
		t.Fatalf("reveal: %+v, %v", s, err)
	}
	if e.auditCount(t, "signup_key.reveal") != reveals+1 {
		t.Fatal("reveal not audited")
	}
	if ev := e.lastAudit(t, "signup_key.reveal"); ev.Target != "acme" || ev.Actor != "admin@acme.edu" {
		t.Fatalf("reveal event %+v", ev)
	}

	// Off and on again: the key is kept, not replaced.
	if s, err = e.svc.SetSignupEnabled(ctx, oe.acme, "acme", false); err != nil || s.Enabled || !s.HasKey || s.Key != "" {
		t.Fatalf("disable: %+v, %v", s, err)
	}
	if s, err = e.svc.SetSignupEnabled(ctx, oe.acme, "acme", true); err != nil || !s.Enabled || s.Key != "" {
		t.Fatalf("enable again: %+v, %v", s, err)
	}
	if s, _ = e.svc.SignupInfo(ctx, oe.acme, "acme", true); s.Key != key {
		t.Fatalf("key after off and on: %q, want %q", s.Key, key)
	}
}

// Signup switched on through the config document has no key yet; "enable"
// then makes one, and that must be audited although the document doesn't
// change.
func TestSignupEnableWhenAlreadyOnAuditsTheNewKey(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	c, err := e.svc.OrgConfig(ctx, oe.acme, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Features.SignupEnabled = true
	if _, err := e.svc.SetOrgConfig(ctx, oe.acme, "acme", c, false); err != nil {
		t.Fatal(err)
	}
	before := e.auditCount(t, "signup.enable")
	s, err := e.svc.SetSignupEnabled(ctx, oe.acme, "acme", true)
	if err != nil || !s.HasKey || len(s.Key) < 16 {
		t.Fatalf("enable: %+v, %v", s, err)
	}
	if e.auditCount(t, "signup.enable") != before+1 {
		t.Fatal("the generated key was not audited")
	}
	if ev := e.lastAudit(t, "signup.enable"); strings.Contains(ev.Details, s.Key) || !strings.Contains(ev.Details, `"signup_key_generated":true`) {
		t.Fatalf("event details %s", ev.Details)
	}
}

func TestSetSignupKeyFormatAndUniqueness(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	// The system admin, whom set-key attempts aren't limited for.
	for _, bad := range []string{"", "short", "seven77", "-leading-dash", "trailing_", "has space inside",
		"ключ-ключ-ключ", "semi;colon-key", strings.Repeat("a", 65), "eight888", strings.Repeat("Z", 64)} {
		_, err := e.svc.SetSignupKey(ctx, oe.sys, "acme", bad)
		wantInvalid(t, err, "signup_key")
	}
	for _, good := range []string{"Eight888-strong-key", "a-b_c-d_e-f_g-h_i", strings.Repeat("Zq9x-k2M", 8)} {
		s, err := e.svc.SetSignupKey(ctx, oe.sys, "acme", good)
		if err != nil || s.Key != good {
			t.Fatalf("set %q: %+v, %v", good, s, err)
		}
	}

	// Keys are unique across orgs, and the answer doesn't say who has it.
	const shared = "shared-key-2026-x"
	if _, err := e.svc.SetSignupKey(ctx, oe.acme, "acme", shared); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", shared)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("same key in beta: %v, want ErrConflict", err)
	}
	if msg := strings.ToLower(err.Error()); strings.Contains(msg, "acme") || !strings.Contains(msg, "signup_key") {
		t.Fatalf("conflict message %q names the other org or not the field", err)
	}
	if s, _ := e.svc.SignupInfo(ctx, oe.beta, "beta", false); s.HasKey {
		t.Fatal("beta got a key from a refused set")
	}
	// Setting an org's own key again is no conflict.
	if _, err := e.svc.SetSignupKey(ctx, oe.acme, "acme", shared); err != nil {
		t.Fatalf("setting acme's own key again: %v", err)
	}
	if n := e.auditCount(t, "signup_key.set"); n != 5 {
		t.Fatalf("%d signup_key.set events, want 5", n)
	}
}

func TestRotateSignupKeyRetiresTheOldOne(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	const old = "acme-old-key-2026"
	if _, err := e.svc.SetSignupKey(ctx, oe.acme, "acme", old); err != nil {
		t.Fatal(err)
	}
	s, err := e.svc.RotateSignupKey(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if s.Key == old || len(s.Key) < 16 || !config.SignupKeyRE.MatchString(s.Key) || !strings.Contains(s.URL, s.Key) {
		t.Fatalf("rotated: %+v", s)
	}
	if _, err := e.st.OrgBySignupKeyHash(ctx, e.svc.box.Hash(old)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old key still finds an org: %v", err)
	}
	if o, err := e.st.OrgBySignupKeyHash(ctx, e.svc.box.Hash(s.Key)); err != nil || o.Slug != "acme" {
		t.Fatalf("the new key finds %q, %v", o.Slug, err)
	}
	ev := e.lastAudit(t, "signup_key.rotate")
	if ev.Target != "acme" || strings.Contains(ev.Details, s.Key) || strings.Contains(ev.Details, old) {
		t.Fatalf("rotate event %+v", ev)
	}
}

func TestSystemOrgSignupKeyManagedByEnv(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{SignupSecretKey: strp("legacy-signup-2026")})
	e := oe.testEnv
	_, err := e.svc.SetSignupKey(ctx, oe.sys, SystemSlug, "another-key-2026")
	if ie := invalidField(t, err, "signup_key"); !strings.Contains(ie.Error(), "SIGNUP_SECRET_KEY") {
		t.Fatalf("set-key message %q doesn't name SIGNUP_SECRET_KEY", ie)
	}
	_, err = e.svc.RotateSignupKey(ctx, oe.sys, SystemSlug)
	if ie := invalidField(t, err, "signup_key"); !strings.Contains(ie.Error(), "SIGNUP_SECRET_KEY") {
		t.Fatalf("rotate message %q doesn't name SIGNUP_SECRET_KEY", ie)
	}
	s, err := e.svc.SignupInfo(ctx, oe.sys, SystemSlug, true)
	if err != nil || s.Key != "legacy-signup-2026" || s.Managed != "SIGNUP_SECRET_KEY" {
		t.Fatalf("system org signup: %+v, %v", s, err)
	}
	// Other orgs are not managed by the environment.
	if s, err := e.svc.RotateSignupKey(ctx, oe.acme, "acme"); err != nil || s.Managed != "" {
		t.Fatalf("acme rotate: %+v, %v", s, err)
	}
}

// With SIGNUP_SECRET_KEY set but empty, the environment owns the (absent)
// key: enabling signup must not make one that the next sync would erase.
func TestSystemOrgEnableDoesNotGenerateAnEnvManagedKey(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{SignupSecretKey: strp("")})
	s, err := oe.svc.SetSignupEnabled(ctx, oe.sys, SystemSlug, true)
	if err != nil || !s.Enabled || s.HasKey || s.Managed != "SIGNUP_SECRET_KEY" {
		t.Fatalf("enable on lamb: %+v, %v", s, err)
	}
}

func TestUpdateProviderValidation(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	const base = "setups.default.providers.openai."
	for _, c := range []struct {
		in    ProviderInput
		field string
	}{
		{ProviderInput{Enabled: true, BaseURL: "not a url"}, base + "base_url"},
		{ProviderInput{Enabled: true, BaseURL: "ftp://models.acme.edu/v1"}, base + "base_url"},
		{ProviderInput{Enabled: true, BaseURL: "http:///v1"}, base + "base_url"},
		{ProviderInput{Enabled: true}, base + "base_url"},
		{ProviderInput{Enabled: true, BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o"}, DefaultModel: "gpt-5"}, base + "default_model"},
	} {
		err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", c.in)
		wantInvalid(t, err, c.field)
	}
	wantInvalid(t, e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "anthropic", ProviderInput{}), "provider")
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "prod", "openai", ProviderInput{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown setup: %v", err)
	}
	if p := oe.secrets(t, "acme").Setups["default"].Providers; len(p) != 0 || e.auditCount(t, "provider.update") != 0 {
		t.Fatalf("refused updates stored %+v", p)
	}
	// Models are trimmed and deduplicated; the default defaults to the first.
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: "https://api.openai.com/v1/", Models: []string{" gpt-4o ", "gpt-4o", "", "gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	p := oe.secrets(t, "acme").Setups["default"].Providers["openai"]
	if p.BaseURL != "https://api.openai.com/v1" || !slices.Equal(p.Models, []string{"gpt-4o", "gpt-4o-mini"}) || p.DefaultModel != "gpt-4o" {
		t.Fatalf("stored %+v", p)
	}
}

func TestUpdateProviderAPIKeyKeptClearedReplaced(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	update := func(key *string, models ...string) {
		t.Helper()
		if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
			APIKey: key, BaseURL: "https://api.openai.com/v1", Models: models}); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() string {
		t.Helper()
		return oe.secrets(t, "acme").Setups["default"].Providers["openai"].APIKey
	}
	const first, second = "sk-first-0123456789", "sk-second-0123456789"
	update(strp(first), "gpt-4o")
	if got := stored(); got != first {
		t.Fatalf("set: %q", got)
	}
	update(nil, "gpt-4o", "gpt-4o-mini") // a form that doesn't touch the key
	if got := stored(); got != first {
		t.Fatalf("nil kept %q, want %q", got, first)
	}
	update(strp(second), "gpt-4o")
	if got := stored(); got != second {
		t.Fatalf("replace: %q", got)
	}
	if dump := e.dump(t); strings.Contains(dump, first) || strings.Contains(dump, second) {
		t.Fatal("an API key is stored in clear or audited")
	}
	update(strp(""), "gpt-4o")
	if got := stored(); got != "" {
		t.Fatalf("clear: %q", got)
	}
	if n := e.auditCount(t, "provider.update"); n != 4 {
		t.Fatalf("%d provider.update events, want 4", n)
	}
}

func TestTestProviderAgainstAFakeProvider(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	const goodKey, wrongKey = "sk-acme-good-0123456789", "sk-acme-wrong-9876543210"
	fake := fakeProvider(t, goodKey)
	setOpenAI := func(baseURL, key string) {
		t.Helper()
		if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{Enabled: true,
			APIKey: strp(key), BaseURL: baseURL, Models: []string{"gpt-4o"}}); err != nil {
			t.Fatal(err)
		}
	}
	test := func(ctx context.Context) ProviderCheck {
		t.Helper()
		res, err := e.svc.TestProvider(ctx, oe.acme, "acme", "default", "openai")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	setOpenAI(fake.URL+"/v1", goodKey)
	if res := test(ctx); !res.OK || res.Error != "" || !slices.Equal(res.Models, []string{"gpt-4o", "gpt-4o-mini"}) || !res.At.Equal(e.now) {
		t.Fatalf("good key: %+v", res)
	}

	// The fake echoes the key it rejects, as OpenAI does; the result must not.
	setOpenAI(fake.URL+"/v1", wrongKey)
	res := test(ctx)
	if res.OK || !strings.Contains(res.Error, "rejected the organization's API key") || strings.Contains(res.Error, wrongKey) ||
		strings.Contains(res.Error, goodKey) {
		t.Fatalf("wrong key: %+v", res)
	}

	// Nothing listens: a free port, closed again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	setOpenAI(closed, goodKey)
	if res := test(ctx); res.OK || !strings.Contains(res.Error, "could not connect") || strings.Contains(res.Error, goodKey) {
		t.Fatalf("closed port: %+v", res)
	}

	// A provider that accepts the connection and never answers fails the
	// test when the caller's deadline passes, not after testTimeout.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: no handler outlives the test
	setOpenAI(hang.URL+"/v1", goodKey)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res = test(short)
	if res.OK || !strings.Contains(res.Error, "did not answer in time") {
		t.Fatalf("hanging provider: %+v", res)
	}
	// Not a performance bound: the caller's deadline must be honoured
	// instead of the 10 s one inside TestProvider.
	if took := time.Since(start); took >= testTimeout {
		t.Fatalf("TestProvider returned after %v, ignoring the caller's deadline", took)
	}
	// The dashboard remembers the last result, also after a restart (a
	// new service over the same database).
	if c, ok := e.svc.lastCheck(context.Background(), e.mustOrg(t, "acme").ID, "default", "openai"); !ok || c.OK {
		t.Fatalf("last check %+v, %v", c, ok)
	}
	restarted := New(Deps{Store: e.st, Box: e.svc.box, Logger: e.svc.log})
	defer restarted.Close()
	d, err := restarted.Dashboard(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var remembered bool
	for _, p := range d.Providers {
		remembered = remembered || (p.Name == "openai" && p.LastCheck != nil && !p.LastCheck.OK)
	}
	if !remembered {
		t.Fatalf("after a restart the dashboard forgot the last test: %+v", d.Providers)
	}

	// A provider with no base URL can't be tested.
	_, err = e.svc.TestProvider(ctx, oe.acme, "acme", "default", "ollama")
	wantInvalid(t, err, "base_url")
}

func TestTestProviderOllamaUsesV1(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/v1/models" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","data":[{"id":"llama3.1","object":"model","owned_by":"library"}]}`))
	}))
	t.Cleanup(srv.Close)
	// Ollama's own address, and the same with /v1 already there.
	for _, base := range []string{srv.URL, srv.URL + "/v1"} {
		if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "ollama", ProviderInput{Enabled: true,
			BaseURL: base, Models: []string{"llama3.1"}}); err != nil {
			t.Fatal(err)
		}
		res, err := e.svc.TestProvider(ctx, oe.acme, "acme", "default", "ollama")
		if err != nil || !res.OK || !slices.Equal(res.Models, []string{"llama3.1"}) {
			t.Fatalf("%s: %+v, %v", base, res, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(paths, []string{"/v1/models", "/v1/models"}) {
		t.Fatalf("paths asked: %v", paths)
	}
}

func TestSetups(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	a := oe.acme
	const key = "sk-acme-default-0123456789"
	if err := e.svc.UpdateProvider(ctx, a, "acme", "default", "openai", ProviderInput{Enabled: true,
		APIKey: strp(key), BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o"}}); err != nil {
		t.Fatal(err)
	}

	wantInvalid(t, e.svc.AddSetup(ctx, a, "acme", "Bad Name", ""), "setup")
	wantInvalid(t, e.svc.AddSetup(ctx, a, "acme", "", ""), "setup")
	if err := e.svc.AddSetup(ctx, a, "acme", "default", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := e.svc.AddSetup(ctx, a, "acme", "staging", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("copy from a missing setup: %v", err)
	}
	if err := e.svc.AddSetup(ctx, a, "acme", "staging", "default"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddSetup(ctx, a, "acme", "empty", ""); err != nil {
		t.Fatal(err)
	}
	c := oe.secrets(t, "acme")
	if p := c.Setups["staging"].Providers["openai"]; p == nil || p.APIKey != key || !slices.Equal(p.Models, []string{"gpt-4o"}) {
		t.Fatalf("copied setup: %+v", c.Setups["staging"])
	}
	if len(c.Setups["empty"].Providers) != 0 {
		t.Fatalf("empty setup: %+v", c.Setups["empty"])
	}
	// The copy is a copy: changing it leaves the original alone.
	if err := e.svc.UpdateProvider(ctx, a, "acme", "staging", "openai", ProviderInput{Enabled: true,
		APIKey: strp("sk-staging-0123456789"), BaseURL: "http://staging.acme.edu/v1"}); err != nil {
		t.Fatal(err)
	}
	if p := oe.secrets(t, "acme").Setups["default"].Providers["openai"]; p.APIKey != key || p.BaseURL != "https://api.openai.com/v1" {
		t.Fatalf("default changed with its copy: %+v", p)
	}

	if err := e.svc.SetActiveSetup(ctx, a, "acme", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("activate a missing setup: %v", err)
	}
	if err := e.svc.SetActiveSetup(ctx, a, "acme", "staging"); err != nil {
		t.Fatal(err)
	}
	activeSetup := func() string {
		t.Helper()
		d, err := e.svc.GetOrg(ctx, a, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return d.Setup
	}
	if got := activeSetup(); got != "staging" {
		t.Fatalf("active setup %q", got)
	}

	// Renaming the active setup renames active_setup with it.
	if err := e.svc.RenameSetup(ctx, a, "acme", "staging", "default"); !errors.Is(err, ErrConflict) {
		t.Fatalf("rename onto an existing setup: %v", err)
	}
	wantInvalid(t, e.svc.RenameSetup(ctx, a, "acme", "staging", "Prod!"), "setup")
	if err := e.svc.RenameSetup(ctx, a, "acme", "nope", "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rename a missing setup: %v", err)
	}
	if err := e.svc.RenameSetup(ctx, a, "acme", "staging", "prod"); err != nil {
		t.Fatal(err)
	}
	if got := activeSetup(); got != "prod" {
		t.Fatalf("active setup after rename %q", got)
	}
	if _, ok := oe.secrets(t, "acme").Setups["staging"]; ok {
		t.Fatal("the old name is still there")
	}

	// The active setup can't be deleted; another can.
	wantInvalid(t, e.svc.DeleteSetup(ctx, a, "acme", "prod"), "setup")
	if err := e.svc.DeleteSetup(ctx, a, "acme", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete a missing setup: %v", err)
	}
	if err := e.svc.DeleteSetup(ctx, a, "acme", "default"); err != nil {
		t.Fatal(err)
	}
	if names := oe.secrets(t, "acme").SetupNames(); !slices.Equal(names, []string{"prod", "empty"}) {
		t.Fatalf("setups left: %v", names)
	}

	for action, n := range map[string]int{"setup.add": 2, "setup.activate": 1, "setup.rename": 1, "setup.delete": 1} {
		if got := e.auditCount(t, action); got != n {
			t.Errorf("%d %s events, want %d", got, action, n)
		}
	}
	if ev := e.lastAudit(t, "setup.rename"); !strings.Contains(ev.Details, `"from":"staging"`) || !strings.Contains(ev.Details, `"to":"prod"`) {
		t.Errorf("rename details %s", ev.Details)
	}
}

func TestSetLimits(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	for _, f := range []struct {
		name string
		set  func(l *config.Limits, v int64)
	}{
		{"tokens_per_month", func(l *config.Limits, v int64) { l.TokensPerMonth = v }},
		{"requests_per_minute", func(l *config.Limits, v int64) { l.RequestsPerMinute = v }},
		{"max_users", func(l *config.Limits, v int64) { l.MaxUsers = v }},
		{"max_assistants", func(l *config.Limits, v int64) { l.MaxAssistants = v }},
		{"max_assistants_per_user", func(l *config.Limits, v int64) { l.MaxAssistantsPerUser = v }},
		{"user_tokens_per_month", func(l *config.Limits, v int64) { l.UserTokensPerMonth = v }},
	} {
		for _, v := range []int64{-2, -1000} {
			l := config.UnlimitedLimits()
			f.set(&l, v)
			wantInvalid(t, e.svc.SetLimits(ctx, oe.acme, "acme", l), "limits."+f.name)
		}
	}
	if n := e.auditCount(t, "limits.update"); n != 0 {
		t.Fatalf("refused limits audited %d times", n)
	}
	want := config.Limits{TokensPerMonth: 1_000_000, RequestsPerMinute: 600, MaxUsers: -1, MaxAssistants: 100,
		MaxAssistantsPerUser: 10, UserTokensPerMonth: 0}
	if err := e.svc.SetLimits(ctx, oe.acme, "acme", want); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.GetOrg(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d.Limits != want {
		t.Fatalf("limits read back %+v, want %+v", d.Limits, want)
	}
	if d, _ := e.svc.GetOrg(ctx, oe.beta, "beta"); d.Limits != config.UnlimitedLimits() {
		t.Fatalf("beta's limits changed: %+v", d.Limits)
	}
	ev := e.lastAudit(t, "limits.update")
	if ev.Target != "acme" || !strings.Contains(ev.Details, "limits.tokens_per_month") || strings.Contains(ev.Details, "limits.max_users") {
		t.Fatalf("limits.update event %+v", ev)
	}
	// The same limits again change nothing and audit nothing.
	if err := e.svc.SetLimits(ctx, oe.acme, "acme", want); err != nil {
		t.Fatal(err)
	}
	if n := e.auditCount(t, "limits.update"); n != 1 {
		t.Fatalf("%d limits.update events, want 1", n)
	}
}

func TestKnowledgeBase(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	var (
		mu     sync.Mutex
		status = http.StatusOK
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Header.Get("Authorization") != "Bearer kb-token-0123" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)

	wantInvalid(t, e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", "kb.acme.edu", nil), "setups.default.knowledge_base.url")
	_, err := e.svc.TestKnowledgeBase(ctx, oe.acme, "acme", "default")
	wantInvalid(t, err, "knowledge_base.url")

	if err := e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", srv.URL+"/", strp("kb-token-0123")); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.TestKnowledgeBase(ctx, oe.acme, "acme", "default")
	if err != nil || !res.OK || res.Error != "" {
		t.Fatalf("healthy knowledge base: %+v, %v", res, err)
	}
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	res, err = e.svc.TestKnowledgeBase(ctx, oe.acme, "acme", "default")
	if err != nil || res.OK || !strings.Contains(res.Error, "HTTP 500") || strings.Contains(res.Error, "kb-token-0123") {
		t.Fatalf("failing knowledge base: %+v, %v", res, err)
	}

	// A URL change keeps the token; "" clears it.
	if err := e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", "http://kb.acme.edu:9090", nil); err != nil {
		t.Fatal(err)
	}
	if kb := oe.secrets(t, "acme").Setups["default"].KnowledgeBase; kb == nil || kb.APIToken != "kb-token-0123" || kb.URL != "http://kb.acme.edu:9090" {
		t.Fatalf("knowledge base %+v", kb)
	}
	if err := e.svc.UpdateKnowledgeBase(ctx, oe.acme, "acme", "default", "", strp("")); err != nil {
		t.Fatal(err)
	}
	if kb := oe.secrets(t, "acme").Setups["default"].KnowledgeBase; kb != nil {
		t.Fatalf("cleared knowledge base %+v", kb)
	}
	if n := e.auditCount(t, "knowledge_base.update"); n != 3 {
		t.Fatalf("%d knowledge_base.update events, want 3", n)
	}
}

func TestSystemOrgEnvManagedProviderFields(t *testing.T) {
	ctx := context.Background()
	envURL := "http://models.internal:8000/v1"
	oe := newOrgAdminEnv(t, config.System{OpenAIBaseURL: &envURL})
	e := oe.testEnv
	err := e.svc.UpdateProvider(ctx, oe.sys, SystemSlug, "default", "openai", ProviderInput{BaseURL: "http://other.internal:8000/v1"})
	if ie := invalidField(t, err, "setups.default.providers.openai.base_url"); !strings.Contains(ie.Error(), "OPENAI_BASE_URL") {
		t.Fatalf("message %q doesn't name OPENAI_BASE_URL", ie)
	}
	// Renaming the setup the environment writes into would move its fields.
	err = e.svc.RenameSetup(ctx, oe.sys, SystemSlug, "default", "main")
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "OPENAI_BASE_URL") {
		t.Fatalf("rename the env's setup: %v", err)
	}
	// Fields the environment doesn't manage can be changed.
	if err := e.svc.UpdateProvider(ctx, oe.sys, SystemSlug, "default", "openai", ProviderInput{BaseURL: envURL,
		Models: []string{"gpt-4o", "gpt-4o-mini"}}); err != nil {
		t.Fatalf("change models: %v", err)
	}
	p := e.systemConfig(t).Setups["default"].Providers["openai"]
	if p.BaseURL != envURL || !slices.Equal(p.Models, []string{"gpt-4o", "gpt-4o-mini"}) || p.DefaultModel != "gpt-4o" {
		t.Fatalf("system openai %+v", p)
	}
	// Another org may use any base URL.
	if err := e.svc.UpdateProvider(ctx, oe.acme, "acme", "default", "openai", ProviderInput{BaseURL: "http://other.internal:8000/v1"}); err != nil {
		t.Fatal(err)
	}
}
