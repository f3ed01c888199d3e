package service

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/config"
	"lamb/internal/fakekb"
	"lamb/store"
)

// The permission matrix (STYLE.md, Tests): every role × every operation
// that takes an Actor. Targets are objects of org A ("acme"). Each cell runs
// on its own copy of one populated database, so cells can't interfere, and
// a refused cell must leave every table exactly as it was.

// The roles, in the column order of matrixOp.want.
var matrixRoles = []string{"system admin", "org admin A", "org admin B", "member A", "api key A", "personal key", "unknown"}

const matrixPassword = "password-1"

// matrixFixture is what the populated database holds.
type matrixFixture struct {
	actors      map[string]Actor
	ownFP       map[string]string // each signed-in role's own SSH key
	targetFP    string            // the key of target@acme.edu
	assistantID int64             // an assistant of A, owned by member A
}

const (
	matrixTarget    = "target@acme.edu"      // a member of A that operations act on
	matrixSpare     = "spare@lamb.local"     // a plain user of lamb
	matrixSignupKey = "acme-signup-key-2026" // A's signup key
)

// buildMatrix populates a database: lamb with a system admin and a spare
// user; acme (A) with its admin, a member and a target member; beta (B)
// with its admin. A has a signup key, an assistant, and besides its default
// setup a "lab" setup whose provider and knowledge base are a local fake
// (alive until t ends), so that tests of connections succeed. It returns the
// directory of the closed database.
func buildMatrix(t *testing.T) (dir string, key []byte, fx matrixFixture) {
	t.Helper()
	ctx := context.Background()
	fake := fakeProvider(t, "")
	e := newTestEnv(t)
	mustSync(t, e, config.System{})
	fx = matrixFixture{actors: map[string]Actor{}, ownFP: map[string]string{}}
	sys := sysAdmin(t, e, "root@lamb.local")
	fx.actors["system admin"], fx.ownFP["system admin"] = sys, sys.Via
	// A password, like every account of the fixture: removing its only SSH
	// key is then allowed (without one it is refused as a lockout).
	if err := e.svc.ChangePassword(ctx, sys, "", matrixPassword); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ slug, admin, role, signupKey string }{
		{"acme", "admin@acme.edu", "org admin A", matrixSignupKey},
		{"beta", "admin@beta.edu", "org admin B", ""},
	} {
		line, fp := newKey(t, o.admin)
		if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: o.slug, Name: strings.ToUpper(o.slug), SignupKey: o.signupKey,
			Admin: &NewAdmin{Email: o.admin, Name: "Admin", SSHKey: line, Password: matrixPassword}}); err != nil {
			t.Fatal(err)
		}
		a, err := e.svc.ActorForSSHKey(ctx, fp)
		if err != nil {
			t.Fatal(err)
		}
		fx.actors[o.role], fx.ownFP[o.role] = a, fp
	}
	member, memberFP := userWithKey(t, e, sys, "acme", "member@acme.edu", "member", matrixPassword)
	fx.actors["member A"], fx.ownFP["member A"] = member, memberFP
	_, fx.targetFP = userWithKey(t, e, sys, "acme", matrixTarget, "member", "")
	userWithKey(t, e, sys, SystemSlug, matrixSpare, "member", "")

	// A holds a secret, so that revealing it means something.
	cfg, err := e.svc.OrgConfig(ctx, sys, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, APIKey: "sk-acme-secret-0123456789",
		BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}
	cfg.Setups["lab"] = &config.Setup{DefaultProvider: "openai",
		Providers: map[string]*config.Provider{"openai": {Enabled: true, APIKey: "sk-acme-lab-0123456789",
			BaseURL: fake.URL + "/v1", Models: []string{"gpt-4o"}, DefaultModel: "gpt-4o"}},
		KnowledgeBase: &config.KnowledgeBase{URL: matrixKB(t).URL, APIToken: "kb-acme-token"}}
	if _, err := e.svc.SetOrgConfig(ctx, sys, "acme", cfg, false); err != nil {
		t.Fatal(err)
	}

	acme := e.mustOrg(t, "acme")
	as, err := e.st.CreateAssistant(ctx, store.Assistant{OrganizationID: acme.ID, OwnerUserID: member.UserID,
		Name: "Tutor", Provider: "openai", Model: "gpt-4o-mini", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	fx.assistantID = as.ID
	fx.actors["api key A"] = Actor{Role: RoleAPIKey, OrgID: acme.ID, OrgSlug: "acme", KeyID: 1, Via: "lamb_abc"}
	fx.actors["personal key"] = Actor{Role: RoleAPIKey, OrgID: acme.ID, OrgSlug: "acme", KeyID: 2, Personal: true,
		UserID: member.UserID, Via: "lamb_def"}
	fx.actors["unknown"] = Actor{}
	return e.snapshotDir(t), e.key, fx
}

// matrixKB is acme's knowledge base in the matrix: one collection, and
// the token acme holds.
func matrixKB(t *testing.T) *httptest.Server {
	kb := fakekb.New("kb-acme-token")
	kb.AddCollection("1", "Syllabus", fakekb.Chunk{Similarity: 0.8, Data: "Entropy measures disorder."})
	srv := httptest.NewServer(kb)
	t.Cleanup(srv.Close)
	return srv
}

// matrixOp is one operation. want has one letter per role of matrixRoles:
// a = allowed, F = ErrForbidden, N = ErrNotFound (the answer for a missing
// object, so another org's objects can't be probed).
type matrixOp struct {
	name  string
	want  string
	audit string // the action an allowed call writes, "" for reads
	run   func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, role string, a Actor) error
}

var matrixOps = []matrixOp{
	{"ListOrgs", "aFFFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		p, err := e.svc.ListOrgs(ctx, a, "", 0, 0)
		if err == nil && p.Total != 3 {
			return fmt.Errorf("listed %d orgs, want 3", p.Total)
		}
		return err
	}},
	{"GetOrg", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		d, err := e.svc.GetOrg(ctx, a, "acme")
		if err == nil && (d.Slug != "acme" || d.Users != 3) {
			return fmt.Errorf("got %+v", d.Org)
		}
		return err
	}},
	{"CreateOrg", "aFFFFFF", "org.create", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.CreateOrg(ctx, a, CreateOrgInput{Slug: "gamma", Name: "Gamma"})
		return err
	}},
	{"DeleteOrg", "aFFFFFF", "org.delete", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.DeleteOrg(ctx, a, "acme", DeleteUsers)
		return err
	}},
	{"SetOrgSuspended", "aFFFFFF", "org.suspend", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SetOrgSuspended(ctx, a, "acme", true)
		return err
	}},
	{"RenameOrg", "aaNFFFF", "org.rename", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.RenameOrg(ctx, a, "acme", "Acme University")
	}},
	{"OrgConfig", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		c, err := e.svc.OrgConfig(ctx, a, "acme", false)
		if err == nil && strings.Contains(string(c.JSON()), "sk-acme-secret") {
			return errors.New("secret shown without asking")
		}
		return err
	}},
	{"OrgConfig with secrets", "aaNFFFF", "config.reveal", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		c, err := e.svc.OrgConfig(ctx, a, "acme", true)
		if err == nil && c.Setups["default"].Providers["openai"].APIKey != "sk-acme-secret-0123456789" {
			return errors.New("secret not revealed")
		}
		return err
	}},
	{"SetOrgConfig", "aaNFFFF", "config.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		c := config.NewOrg()
		c.Limits.MaxUsers = 50
		_, err := e.svc.SetOrgConfig(ctx, a, "acme", c, false)
		return err
	}},
	{"ExportOrg with secrets", "aFFFFFF", "org.export", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		ex, err := e.svc.ExportOrg(ctx, a, "acme", true)
		if err == nil && ex.Signup.Key != matrixSignupKey {
			return fmt.Errorf("exported signup key %q", ex.Signup.Key)
		}
		return err
	}},
	{"ImportOrg", "aFFFFFF", "org.import", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.ImportOrg(ctx, a, Export{Version: ExportVersion, Organization: ExportOrg{Slug: "gamma", Name: "Gamma"},
			Config: config.NewOrg().JSON(), Signup: ExportSignup{Key: "gamma-Xq7-Lm9-Zt2w"}}, ImportOptions{})
		return err
	}},
	{"ImportOrgConfig", "aaNFFFF", "config.import", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		c := config.NewOrg()
		c.Limits.MaxUsers = 500
		_, err := e.svc.ImportOrgConfig(ctx, a, "acme", Export{Version: ExportVersion, Config: c.JSON()}, false)
		return err
	}},
	{"ImportUsers", "aaNFFFF", "user.import", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		line, _ := newKey(t, "")
		_, err := e.svc.ImportUsers(ctx, a, UserImportInput{OrgSlug: "acme", Data: []byte("email,name,ssh_key\nnew1@acme.edu,New One," + line + "\n")})
		return err
	}},
	{"MoveUser", "aFFFFFF", "*", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.MoveUser(ctx, a, MoveUserInput{Email: matrixTarget, To: "beta", WithAssistants: true})
		return err
	}},
	{"MergeOrgs", "aFFFFFF", "org.merge", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.MergeOrgs(ctx, a, "beta", "acme", false)
		return err
	}},
	{"CreateAPIKeys", "aaNFFFF", "*", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAPIKeys(ctx, a, NewAPIKeysInput{OrgSlug: "acme", Name: "course", Count: 5})
		return err
	}},
	{"OpenAsOrgAdmin", "aFFFFFF", "org.open_as_admin", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		got, err := e.svc.OpenAsOrgAdmin(ctx, a, "acme")
		if err == nil && (got.Role != RoleOrgAdmin || got.OrgSlug != "acme") {
			return fmt.Errorf("opened as %+v", got)
		}
		return err
	}},
	{"SyncSystemOrgNow", "aFFFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SyncSystemOrgNow(ctx, a)
		return err
	}},
	{"ListUsers(acme)", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		p, err := e.svc.ListUsers(ctx, a, UserQuery{Org: "acme"}, 0, 0)
		if err == nil && p.Total != 3 {
			return fmt.Errorf("listed %d users of acme, want 3", p.Total)
		}
		return err
	}},
	{"ListUsers(default org)", "aaaFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, role string, a Actor) error {
		p, err := e.svc.ListUsers(ctx, a, UserQuery{}, 0, 0)
		if err != nil {
			return err
		}
		for _, u := range p.Items {
			if role != "system admin" && u.OrgSlug != a.OrgSlug {
				return fmt.Errorf("listed %s of %s", u.Email, u.OrgSlug)
			}
		}
		return nil
	}},
	{"GetUser(target)", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.GetUser(ctx, a, matrixTarget)
		return err
	}},
	{"GetUser(self)", "aaaaFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		email := a.Email
		if a.Personal {
			email = "member@acme.edu"
		}
		u, err := e.svc.GetUser(ctx, a, email)
		if err == nil && u.Email != a.Email {
			return fmt.Errorf("got %s", u.Email)
		}
		return err
	}},
	{"CreateUser", "aaNFFFF", "user.create", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		line, _ := newKey(t, "")
		_, err := e.svc.CreateUser(ctx, a, CreateUserInput{OrgSlug: "acme", Email: "new@acme.edu", Name: "New", SSHKey: line})
		return err
	}},
	{"SetUserEnabled", "aaNFFFF", "user.disable", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SetUserEnabled(ctx, a, matrixTarget, false)
		return err
	}},
	{"SetUserRole", "aaNFFFF", "user.set_role", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SetUserRole(ctx, a, matrixTarget, "admin")
		return err
	}},
	{"SetSystemAdmin", "aFFFFFF", "user.set_system_admin", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SetSystemAdmin(ctx, a, matrixSpare, true)
		return err
	}},
	{"ResetPassword", "aaNFFFF", "user.reset_password", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.ResetPassword(ctx, a, matrixTarget, "")
		return err
	}},
	{"ChangePassword", "aaaaFFF", "user.change_password", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.ChangePassword(ctx, a, matrixPassword, "password-2")
	}},
	{"DeleteUser", "aaNFFFF", "user.delete", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.DeleteUser(ctx, a, matrixTarget)
	}},
	{"ListSSHKeys(own)", "aaaaFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, role string, a Actor) error {
		keys, err := e.svc.ListSSHKeys(ctx, a, "")
		if err == nil && (len(keys) != 1 || keys[0].Fingerprint != fx.ownFP[role]) {
			return fmt.Errorf("own keys = %+v", keys)
		}
		return err
	}},
	{"ListSSHKeys(target)", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.ListSSHKeys(ctx, a, matrixTarget)
		return err
	}},
	{"AddSSHKey(own)", "aaaaFFF", "sshkey.add", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		line, _ := newKey(t, "new")
		_, err := e.svc.AddSSHKey(ctx, a, "", line)
		return err
	}},
	{"AddSSHKey(target)", "aaNFFFF", "sshkey.add", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		line, _ := newKey(t, "new")
		_, err := e.svc.AddSSHKey(ctx, a, matrixTarget, line)
		return err
	}},
	{"RemoveSSHKey(own)", "aaaaFFF", "sshkey.remove", func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, role string, a Actor) error {
		fp := fx.ownFP[role]
		if fp == "" { // API keys and nobody have no key of their own
			fp = fx.targetFP
		}
		return e.svc.RemoveSSHKey(ctx, a, fp)
	}},
	{"RemoveSSHKey(target)", "aaNNFFF", "sshkey.remove", func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, _ string, a Actor) error {
		return e.svc.RemoveSSHKey(ctx, a, fx.targetFP)
	}},
	{"ListAudit(acme)", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		evs, err := e.svc.ListAudit(ctx, a, AuditQuery{Org: "acme", Since: e.now.AddDate(0, 0, -1)})
		if err == nil && len(evs) == 0 {
			return errors.New("no events")
		}
		for _, ev := range evs {
			if ev.OrgSlug != "acme" {
				return fmt.Errorf("event of %s listed", ev.OrgSlug)
			}
		}
		return err
	}},
	{"ListAudit(default org)", "aaaFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, role string, a Actor) error {
		evs, err := e.svc.ListAudit(ctx, a, AuditQuery{Since: e.now.AddDate(0, 0, -1)})
		for _, ev := range evs {
			if role != "system admin" && ev.OrgSlug != a.OrgSlug {
				return fmt.Errorf("event of %s listed", ev.OrgSlug)
			}
		}
		return err
	}},
	{"UsageSummary(acme)", "aaNaFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, role string, a Actor) error {
		s, err := e.svc.UsageSummary(ctx, a, UsageQuery{Org: "acme"})
		if err == nil && (s.OrgSlug != "acme" || (role == "member A" && s.User != a.Email)) {
			return fmt.Errorf("%s got the summary of %q for %q", role, s.OrgSlug, s.User)
		}
		return err
	}},
	{"UsageSummary(every org)", "aFFFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.UsageSummary(ctx, a, UsageQuery{AllOrgs: true})
		return err
	}},
	{"Usage(every org)", "aFFFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.Usage(ctx, a, UsageQuery{AllOrgs: true, By: "org"})
		return err
	}},
	{"Whoami", "aaaaFaF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		id, err := e.svc.Whoami(ctx, a)
		if err == nil && a.Email != "" && id.Email != a.Email {
			return fmt.Errorf("whoami = %+v", id)
		}
		return err
	}},
	// The org-admin console (issue 4): dashboard, signup, providers, setups,
	// limits and the org's assistants. System admins and A's own admins only;
	// B's admin gets the answer for an org that doesn't exist.
	{"Dashboard", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		d, err := e.svc.Dashboard(ctx, a, "acme")
		if err == nil && (d.Org.Slug != "acme" || d.Users != 3 || d.Assistants != 1) {
			return fmt.Errorf("dashboard = %+v", d)
		}
		return err
	}},
	{"SignupInfo", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		s, err := e.svc.SignupInfo(ctx, a, "acme", false)
		if err == nil && (!s.HasKey || s.Key != "" || s.URL != "") {
			return fmt.Errorf("signup info without reveal = %+v", s)
		}
		return err
	}},
	{"SignupInfo reveal", "aaNFFFF", "signup_key.reveal", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		s, err := e.svc.SignupInfo(ctx, a, "acme", true)
		if err == nil && s.Key != matrixSignupKey {
			return fmt.Errorf("revealed key %q", s.Key)
		}
		return err
	}},
	{"SetSignupEnabled", "aaNFFFF", "signup.enable", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		s, err := e.svc.SetSignupEnabled(ctx, a, "acme", true)
		if err == nil && !s.Enabled {
			return errors.New("signup not enabled")
		}
		return err
	}},
	{"SetSignupKey", "aaNFFFF", "signup_key.set", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.SetSignupKey(ctx, a, "acme", "acme-signup-key-2027")
		return err
	}},
	{"RotateSignupKey", "aaNFFFF", "signup_key.rotate", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		s, err := e.svc.RotateSignupKey(ctx, a, "acme")
		if err == nil && (s.Key == "" || s.Key == matrixSignupKey) {
			return fmt.Errorf("rotated key %q", s.Key)
		}
		return err
	}},
	{"UpdateProvider", "aaNFFFF", "provider.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.UpdateProvider(ctx, a, "acme", "default", "openai", ProviderInput{Enabled: true,
			BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o-mini", "gpt-4o"}, DefaultModel: "gpt-4o-mini"})
	}},
	{"TestProvider", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		res, err := e.svc.TestProvider(ctx, a, "acme", "lab", "openai")
		if err == nil && !res.OK {
			return fmt.Errorf("test against the fake failed: %s", res.Error)
		}
		return err
	}},
	{"UpdateKnowledgeBase", "aaNFFFF", "knowledge_base.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.UpdateKnowledgeBase(ctx, a, "acme", "lab", "http://kb.acme.internal:9090", nil)
	}},
	{"TestKnowledgeBase", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		res, err := e.svc.TestKnowledgeBase(ctx, a, "acme", "lab")
		if err == nil && !res.OK {
			return fmt.Errorf("test against the fake failed: %s", res.Error)
		}
		return err
	}},
	{"KBCollections", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		cs, err := e.svc.KBCollections(ctx, a, "acme", "lab")
		if err == nil && (len(cs) != 1 || cs[0].ID != "1") {
			return fmt.Errorf("listed %+v", cs)
		}
		return err
	}},
	{"KBQuery", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		rs, err := e.svc.KBQuery(ctx, a, "acme", "lab", "1", "what is entropy?", 0)
		if err == nil && (len(rs) != 1 || rs[0].Data != "Entropy measures disorder.") {
			return fmt.Errorf("found %+v", rs)
		}
		return err
	}},
	{"AddSetup", "aaNFFFF", "setup.add", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.AddSetup(ctx, a, "acme", "staging", "default")
	}},
	{"RenameSetup", "aaNFFFF", "setup.rename", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.RenameSetup(ctx, a, "acme", "lab", "research")
	}},
	{"DeleteSetup", "aaNFFFF", "setup.delete", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.DeleteSetup(ctx, a, "acme", "lab")
	}},
	{"SetActiveSetup", "aaNFFFF", "setup.activate", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		return e.svc.SetActiveSetup(ctx, a, "acme", "lab")
	}},
	{"SetLimits", "aaNFFFF", "limits.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		l := config.UnlimitedLimits()
		l.TokensPerMonth = 5000
		return e.svc.SetLimits(ctx, a, "acme", l)
	}},
	// Budget alerts (issue 15): the org's admins and system admins.
	{"BudgetAlerts", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		v, err := e.svc.BudgetAlerts(ctx, a, "acme")
		if err == nil && (v.Org != "acme" || fmt.Sprint(v.Thresholds) != "[80 100]") {
			return fmt.Errorf("alerts = %+v", v)
		}
		return err
	}},
	{"SetAlerts", "aaNFFFF", "alerts.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		hook := "https://hooks.example.com/services/acme"
		_, err := e.svc.SetAlerts(ctx, a, "acme", AlertsInput{Thresholds: &[]int{50, 90}, WebhookURL: &hook})
		return err
	}},
	// No webhook is set: the allowed answer is the missing URL, after the
	// permission gate (a test delivery is in TestTestAlertWebhook).
	{"TestAlertWebhook", "IINFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, err := e.svc.TestAlertWebhook(ctx, a, "acme")
		return err
	}},
	{"UpdateCeiling", "aFFFFFF", "ceiling.update", func(t *testing.T, ctx context.Context, e *testEnv, _ matrixFixture, _ string, a Actor) error {
		_, _, err := e.svc.UpdateCeiling(ctx, a, "acme", func(l *config.Limits) { l.TokensPerMonth = 5000 })
		return err
	}},
	{"ListOrgAssistants", "aaNFFFF", "", func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, _ string, a Actor) error {
		p, err := e.svc.ListOrgAssistants(ctx, a, "acme", "", 0, 0)
		if err == nil && (p.Total != 1 || p.Items[0].ID != fx.assistantID) {
			return fmt.Errorf("listed %+v", p)
		}
		return err
	}},
	{"SetAssistantEnabled", "aaNFFFF", "assistant.disable", func(t *testing.T, ctx context.Context, e *testEnv, fx matrixFixture, _ string, a Actor) error {
		return e.svc.SetAssistantEnabled(ctx, a, fx.assistantID, false)
	}},
}

func TestPermissionMatrix(t *testing.T) {
	dir, key, fx := buildMatrix(t)
	for _, op := range matrixOps {
		if len(op.want) != len(matrixRoles) {
			t.Fatalf("%s: want has %d letters for %d roles", op.name, len(op.want), len(matrixRoles))
		}
		for i, role := range matrixRoles {
			t.Run(op.name+"/"+role, func(t *testing.T) {
				ctx := context.Background()
				e := cloneEnv(t, dir, key)
				e.svc.systemEnv = func() (config.System, error) { return config.System{}, nil }
				matrixCell(t, e, op.name, op.want[i], op.audit, false, func() error { return op.run(t, ctx, e, fx, role, fx.actors[role]) })
			})
		}
	}
}

// An org admin of B probing A's objects gets exactly the answer for an
// object that doesn't exist, so A's slugs, emails and keys can't be
// discovered.
func TestOrgAdminOfBCannotProbeA(t *testing.T) {
	dir, key, fx := buildMatrix(t)
	e := cloneEnv(t, dir, key)
	ctx := context.Background()
	b := fx.actors["org admin B"]
	same := func(what string, existing, missing error, name, missingName string) {
		t.Helper()
		if !errors.Is(existing, ErrNotFound) {
			t.Fatalf("%s of A: %v, want ErrNotFound", what, existing)
		}
		if missing == nil || strings.ReplaceAll(existing.Error(), name, missingName) != missing.Error() {
			t.Errorf("%s: A's object answers %q, a missing one %q", what, existing, missing)
		}
	}
	_, e1 := e.svc.GetOrg(ctx, b, "acme")
	_, e2 := e.svc.GetOrg(ctx, b, "nope")
	same("GetOrg", e1, e2, "acme", "nope")
	_, e1 = e.svc.BudgetAlerts(ctx, b, "acme")
	_, e2 = e.svc.BudgetAlerts(ctx, b, "nope")
	same("BudgetAlerts", e1, e2, "acme", "nope")
	_, e1 = e.svc.TestAlertWebhook(ctx, b, "acme")
	_, e2 = e.svc.TestAlertWebhook(ctx, b, "nope")
	same("TestAlertWebhook", e1, e2, "acme", "nope")
	e1 = e.svc.RenameOrg(ctx, b, "acme", "x")
	e2 = e.svc.RenameOrg(ctx, b, "nope", "x")
	same("RenameOrg", e1, e2, "acme", "nope")
	_, e1 = e.svc.GetUser(ctx, b, matrixTarget)
	_, e2 = e.svc.GetUser(ctx, b, "nobody@acme.edu")
	same("GetUser", e1, e2, matrixTarget, "nobody@acme.edu")
	e1 = e.svc.DeleteUser(ctx, b, matrixTarget)
	e2 = e.svc.DeleteUser(ctx, b, "nobody@acme.edu")
	same("DeleteUser", e1, e2, matrixTarget, "nobody@acme.edu")
	e1 = e.svc.RemoveSSHKey(ctx, b, fx.targetFP)
	e2 = e.svc.RemoveSSHKey(ctx, b, "SHA256:nope")
	same("RemoveSSHKey", e1, e2, fx.targetFP, "SHA256:nope")
	_, e1 = e.svc.Dashboard(ctx, b, "acme")
	_, e2 = e.svc.Dashboard(ctx, b, "nope")
	same("Dashboard", e1, e2, "acme", "nope")
	_, e1 = e.svc.SignupInfo(ctx, b, "acme", true)
	_, e2 = e.svc.SignupInfo(ctx, b, "nope", true)
	same("SignupInfo", e1, e2, "acme", "nope")
	_, e1 = e.svc.TestProvider(ctx, b, "acme", "lab", "openai")
	_, e2 = e.svc.TestProvider(ctx, b, "nope", "lab", "openai")
	same("TestProvider", e1, e2, "acme", "nope")
	e1 = e.svc.SetLimits(ctx, b, "acme", config.UnlimitedLimits())
	e2 = e.svc.SetLimits(ctx, b, "nope", config.UnlimitedLimits())
	same("SetLimits", e1, e2, "acme", "nope")
	missing := fx.assistantID + 1000
	e1 = e.svc.SetAssistantEnabled(ctx, b, fx.assistantID, false)
	e2 = e.svc.SetAssistantEnabled(ctx, b, missing, false)
	same("SetAssistantEnabled", e1, e2, fmt.Sprint(fx.assistantID), fmt.Sprint(missing))
}
