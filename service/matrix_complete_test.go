package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/store"
)

// The complete permission matrix: every exported method of *Service that
// takes an Actor has at least one row here (TestPermissionMatrixComplete
// fails otherwise, so a new operation can't be added without deciding who
// may call it), and every row runs for every actor shape.
//
// Each cell starts the way a session's every action does: CheckActor
// confirms that the actor still holds (the console calls it before each
// action; an SSH command resolves its actor anew). So the shapes of a user
// disabled, or an org suspended, after signing in are refused there
// ('D'), and the rows say what the operation itself allows of the others.

// The actor shapes, in the column order of fullOp.want.
var fullShapes = []string{"system admin", "system admin in A", "org admin A", "org admin B", "member A", "member B",
	"member A2", "disabled user", "suspended org's user"}

// fullFixture is what buildFullMatrix's database holds.
type fullFixture struct {
	actors      map[string]Actor
	ownFP       map[string]string // the SSH key each shape signed in with
	targetFP    string            // target@acme.edu's key
	tutor       int64             // an assistant of A owned by member A
	personalKey int64             // member A's personal API key
	orgKey      int64             // an org key of A
}

const fullPassword = "password-1"

// buildFullMatrix populates a database: lamb with a system admin and a
// spare user; acme (A) with its admin, members A and A2, a target member
// and an admin who was disabled after signing in; beta (B) with its admin
// and a member; gamma, suspended after its admin signed in. Every org's
// OpenAI provider, and A's knowledge base, is a local fake. A has a signup
// key, member A's assistant "Tutor", member A's personal key and an org key.
func buildFullMatrix(t *testing.T) (dir string, key []byte, fx fullFixture) {
	t.Helper()
	ctx := context.Background()
	fake := fakeProvider(t, "")
	e := newTestEnv(t)
	mustSync(t, e, config.System{})
	fx = fullFixture{actors: map[string]Actor{}, ownFP: map[string]string{}}
	sys := sysAdmin(t, e, "root@lamb.local")
	fx.actors["system admin"], fx.ownFP["system admin"] = sys, sys.Via
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A password, like every account of the fixture: removing its only SSH
	// key is then allowed (without one it is refused as a lockout).
	if err := e.svc.ChangePassword(ctx, sys, "", fullPassword); err != nil {
		t.Fatal(err)
	}
	admins := map[string]string{"acme": "org admin A", "beta": "org admin B", "gamma": "suspended org's user"}
	for _, slug := range []string{"acme", "beta", "gamma"} {
		line, fp := newKey(t, slug)
		signupKey := ""
		if slug == "acme" {
			signupKey = matrixSignupKey
		}
		_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: strings.ToUpper(slug), SignupKey: signupKey,
			Admin: &NewAdmin{Email: "admin@" + slug + ".edu", Name: "Admin", SSHKey: line, Password: fullPassword}})
		must(err)
		a, err := e.svc.ActorForSSHKey(ctx, fp)
		must(err)
		fx.actors[admins[slug]], fx.ownFP[admins[slug]] = a, fp
	}
	for _, u := range []struct{ shape, org, email, role string }{
		{"member A", "acme", "member@acme.edu", "member"},
		{"member A2", "acme", "other@acme.edu", "member"},
		{"member B", "beta", "member@beta.edu", "member"},
		{"disabled user", "acme", "gone@acme.edu", "admin"},
	} {
		fx.actors[u.shape], fx.ownFP[u.shape] = userWithKey(t, e, sys, u.org, u.email, u.role, fullPassword)
	}
	_, fx.targetFP = userWithKey(t, e, sys, "acme", matrixTarget, "member", "")
	userWithKey(t, e, sys, SystemSlug, matrixSpare, "member", "")

	apiKey := "sk-secret-0123456789"
	for _, slug := range []string{SystemSlug, "acme", "beta"} {
		must(e.svc.UpdateProvider(ctx, sys, slug, "default", "openai", ProviderInput{Enabled: true, APIKey: &apiKey,
			BaseURL: fake.URL + "/v1", Models: []string{"gpt-4o-mini", "gpt-4o"}, DefaultModel: "gpt-4o-mini"}))
	}
	kbToken := "kb-acme-token"
	must(e.svc.UpdateKnowledgeBase(ctx, sys, "acme", "default", matrixKB(t).URL, &kbToken))
	must(e.svc.AddSetup(ctx, sys, "acme", "lab", "default"))

	tutor, err := e.svc.CreateAssistant(ctx, fx.actors["member A"], AssistantInput{Name: "Tutor", Provider: "openai", Enabled: true})
	must(err)
	fx.tutor = tutor.ID
	personal, err := e.svc.CreateAPIKey(ctx, fx.actors["member A"], "", "laptop", true, time.Time{})
	must(err)
	fx.personalKey = personal.ID
	org, err := e.svc.CreateAPIKey(ctx, fx.actors["org admin A"], "acme", "lms", false, time.Time{})
	must(err)
	fx.orgKey = org.ID
	must(e.st.AddUsageDaily(ctx, fx.actors["member A"].OrgID, store.Day(e.now), tutor.ID, fx.actors["member A"].UserID, store.UsageTotals{Requests: 3}))

	inA, err := e.svc.OpenAsOrgAdmin(ctx, sys, "acme")
	must(err)
	fx.actors["system admin in A"], fx.ownFP["system admin in A"] = inA, sys.Via

	// Signed in, then disabled or suspended.
	_, err = e.svc.SetUserEnabled(ctx, sys, "gone@acme.edu", false)
	must(err)
	_, err = e.svc.SetOrgSuspended(ctx, sys, "gamma", true)
	must(err)
	return e.snapshotDir(t), e.key, fx
}

// fullOp is one row: an operation of method. want has a letter for each of
// the first seven shapes (a = allowed, F = ErrForbidden, N = ErrNotFound,
// the answer for a missing object, I = ErrInvalid); the disabled and suspended shapes are
// always 'D'. audit is "" for reads (which must change nothing) and "*" for
// writes (which must be audited).
type fullOp struct {
	method string
	name   string
	want   string
	audit  string
	run    func(ctx context.Context, e *testEnv, fx fullFixture, shape string, a Actor) error
}

func (op fullOp) label() string {
	if op.name != "" {
		return op.method + "(" + op.name + ")"
	}
	return op.method
}

// Letters for the seven shapes: who may administer A, and who may act on
// what belongs to member A.
const (
	sysOnly    = "aFFFFFF"
	adminsOfA  = "aaaNFFF" // members are refused alike for every org
	everyone   = "aaaaaaa"
	nobody     = "FFFFFFF"
	ownerOrA   = "aaaNaNN" // member A's things: A2 and B can't see them
	adminsOfAN = "aaaNNNN" // A's things members can't see
)

var fullOps = []fullOp{
	// Organizations.
	{"ListOrgs", "", sysOnly, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListOrgs(ctx, a, "", 0, 0)
		return err
	}},
	{"GetOrg", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.GetOrg(ctx, a, "acme")
		return err
	}},
	{"CreateOrg", "", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateOrg(ctx, a, CreateOrgInput{Slug: "delta", Name: "Delta"})
		return err
	}},
	{"DeleteOrg", "", sysOnly, "org.delete", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.DeleteOrg(ctx, a, "acme", DeleteUsers)
		return err
	}},
	{"SetOrgSuspended", "", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetOrgSuspended(ctx, a, "acme", true)
		return err
	}},
	{"RenameOrg", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.RenameOrg(ctx, a, "acme", "Acme University")
	}},
	{"OrgConfig", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.OrgConfig(ctx, a, "acme", false)
		return err
	}},
	{"OrgConfig", "with secrets", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.OrgConfig(ctx, a, "acme", true)
		return err
	}},
	{"SetOrgConfig", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		c := config.NewOrg()
		c.Limits.MaxUsers = 50
		_, err := e.svc.SetOrgConfig(ctx, a, "acme", c, false)
		return err
	}},
	{"OpenAsOrgAdmin", "", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.OpenAsOrgAdmin(ctx, a, "acme")
		return err
	}},
	{"ExportOrg", "", sysOnly, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ExportOrg(ctx, a, "acme", false)
		return err
	}},
	{"ExportOrg", "with secrets", sysOnly, "org.export", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		ex, err := e.svc.ExportOrg(ctx, a, "acme", true)
		if err == nil && ex.Signup.Key != matrixSignupKey {
			return fmt.Errorf("exported signup key %q", ex.Signup.Key)
		}
		return err
	}},
	{"ImportOrg", "", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ImportOrg(ctx, a, Export{Version: ExportVersion, Organization: ExportOrg{Slug: "delta", Name: "Delta"},
			Config: config.NewOrg().JSON(), Signup: ExportSignup{Key: "delta-Xq7-Lm9-Zt2w"}}, ImportOptions{})
		return err
	}},
	{"ImportOrg", "a copy with renamed users", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ImportOrg(ctx, a, Export{Version: ExportVersion, Organization: ExportOrg{Slug: "acme", Name: "Acme"},
			Config: config.NewOrg().JSON(), Users: []ExportUser{{Email: matrixTarget, Name: "T", Role: "member", Enabled: true}}},
			ImportOptions{Slug: "acme-copy", OnConflict: OnConflictRename})
		return err
	}},
	{"ImportOrgConfig", "into A", adminsOfA, "config.import", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		c := config.NewOrg()
		c.Limits.MaxUsers = 500
		_, err := e.svc.ImportOrgConfig(ctx, a, "acme", Export{Version: ExportVersion, Config: c.JSON()}, false)
		return err
	}},
	{"ImportUsers", "into A", adminsOfA, "user.import", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ImportUsers(ctx, a, UserImportInput{OrgSlug: "acme", Data: []byte("email,name\nnew1@acme.edu,New One\nnew2@acme.edu,New Two\n")})
		return err
	}},
	{"MoveUser", "A's member to B", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.MoveUser(ctx, a, MoveUserInput{Email: matrixTarget, To: "beta"})
		return err
	}},
	{"MergeOrgs", "B into A", sysOnly, "org.merge", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.MergeOrgs(ctx, a, "beta", "acme", false)
		return err
	}},
	{"BudgetAlerts", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.BudgetAlerts(ctx, a, "acme")
		return err
	}},
	{"SetAlerts", "", adminsOfA, "alerts.update", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetAlerts(ctx, a, "acme", AlertsInput{Thresholds: &[]int{90}})
		return err
	}},
	{"TestAlertWebhook", "no webhook set", "IIINFFF", "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.TestAlertWebhook(ctx, a, "acme")
		return err
	}},
	{"Dashboard", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.Dashboard(ctx, a, "acme")
		return err
	}},

	// The system org and start-up work.
	{"SyncSystemOrg", "", "aFFFFFF", "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SyncSystemOrg(ctx, a, config.System{})
		return err
	}},
	{"SyncSystemOrgNow", "", sysOnly, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SyncSystemOrgNow(ctx, a)
		return err
	}},
	{"BootstrapAdmins", "", nobody, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		line := keyLine()
		return e.svc.BootstrapAdmins(ctx, a, []string{line}, "boot@lamb.local", "Boot")
	}},
	{"PrepareClaim", "", nobody, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.PrepareClaim(ctx, a)
		return err
	}},

	// Users.
	{"ListUsers", "acme", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListUsers(ctx, a, UserQuery{Org: "acme"}, 0, 0)
		return err
	}},
	{"GetUser", "target", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.GetUser(ctx, a, matrixTarget)
		return err
	}},
	{"GetUser", "self", everyone, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.GetUser(ctx, a, a.Email)
		return err
	}},
	{"CreateUser", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateUser(ctx, a, CreateUserInput{OrgSlug: "acme", Email: "new@acme.edu", Name: "New"})
		return err
	}},
	{"SetUserEnabled", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetUserEnabled(ctx, a, matrixTarget, false)
		return err
	}},
	{"SetUserRole", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetUserRole(ctx, a, matrixTarget, "admin")
		return err
	}},
	{"AddOrgAdmin", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.AddOrgAdmin(ctx, a, "acme", matrixTarget)
		return err
	}},
	{"SetSystemAdmin", "", sysOnly, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetSystemAdmin(ctx, a, matrixSpare, true)
		return err
	}},
	{"ResetPassword", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ResetPassword(ctx, a, matrixTarget, "")
		return err
	}},
	{"ChangePassword", "", everyone, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.ChangePassword(ctx, a, fullPassword, "password-2")
	}},
	{"DeleteUser", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.DeleteUser(ctx, a, matrixTarget)
	}},
	{"Whoami", "", everyone, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.Whoami(ctx, a)
		return err
	}},
	{"CheckActor", "", everyone, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.CheckActor(ctx, a)
	}},

	// SSH keys.
	{"ListSSHKeys", "own", everyone, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListSSHKeys(ctx, a, "")
		return err
	}},
	{"ListSSHKeys", "target", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListSSHKeys(ctx, a, matrixTarget)
		return err
	}},
	{"AddSSHKey", "own", everyone, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		line := keyLine()
		_, err := e.svc.AddSSHKey(ctx, a, "", line)
		return err
	}},
	{"AddSSHKey", "target", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		line := keyLine()
		_, err := e.svc.AddSSHKey(ctx, a, matrixTarget, line)
		return err
	}},
	{"RemoveSSHKey", "own", everyone, "*", func(ctx context.Context, e *testEnv, fx fullFixture, shape string, a Actor) error {
		return e.svc.RemoveSSHKey(ctx, a, fx.ownFP[shape])
	}},
	{"RemoveSSHKey", "target", adminsOfAN, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.RemoveSSHKey(ctx, a, fx.targetFP)
	}},

	// Audit.
	{"ListAudit", "acme", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListAudit(ctx, a, AuditQuery{Org: "acme"})
		return err
	}},
	{"AuditPage", "acme", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		p, err := e.svc.AuditPage(ctx, a, AuditQuery{Org: "acme"}, 0, 1000)
		for _, ev := range p.Items {
			if ev.OrgSlug != "acme" {
				return fmt.Errorf("acme's audit page lists an event of %q", ev.OrgSlug)
			}
		}
		return err
	}},
	{"AuditPage", "default org", "aaaaFFF", "", func(ctx context.Context, e *testEnv, _ fullFixture, shape string, a Actor) error {
		p, err := e.svc.AuditPage(ctx, a, AuditQuery{}, 0, 1000)
		for _, ev := range p.Items {
			if shape != "system admin" && ev.OrgSlug != a.OrgSlug {
				return fmt.Errorf("%s sees an event of %q", shape, ev.OrgSlug)
			}
		}
		return err
	}},

	// Signup.
	{"SignupInfo", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SignupInfo(ctx, a, "acme", false)
		return err
	}},
	{"SignupInfo", "reveal", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SignupInfo(ctx, a, "acme", true)
		return err
	}},
	{"SetSignupEnabled", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetSignupEnabled(ctx, a, "acme", true)
		return err
	}},
	{"SetSignupKey", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.SetSignupKey(ctx, a, "acme", "acme-signup-key-2027")
		return err
	}},
	{"RotateSignupKey", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.RotateSignupKey(ctx, a, "acme")
		return err
	}},

	// Providers, setups and limits.
	{"UpdateProvider", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.UpdateProvider(ctx, a, "acme", "default", "ollama", ProviderInput{Enabled: true,
			BaseURL: "http://ollama.acme.internal:11434", Models: []string{"llama3.1"}, DefaultModel: "llama3.1"})
	}},
	{"TestProvider", "", adminsOfA, bookkeeping, func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		res, err := e.svc.TestProvider(ctx, a, "acme", "default", "openai")
		if err == nil && !res.OK {
			return fmt.Errorf("test against the fake failed: %s", res.Error)
		}
		return err
	}},
	{"UpdateKnowledgeBase", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.UpdateKnowledgeBase(ctx, a, "acme", "lab", "http://kb.acme.internal:9090", nil)
	}},
	{"KBCollections", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		cs, err := e.svc.KBCollections(ctx, a, "acme", "default")
		if err == nil && (len(cs) != 1 || cs[0].ID != "1") {
			return fmt.Errorf("listed %+v", cs)
		}
		return err
	}},
	{"KBQuery", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		rs, err := e.svc.KBQuery(ctx, a, "acme", "default", "1", "what is entropy?", 0)
		if err == nil && (len(rs) != 1 || rs[0].Data != "Entropy measures disorder.") {
			return fmt.Errorf("found %+v", rs)
		}
		return err
	}},
	{"KBChoices", "", "aaaaaaa", "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		c, err := e.svc.KBChoices(ctx, a)
		if err == nil && c == nil {
			return fmt.Errorf("choices nil, want a list")
		}
		return err
	}},
	{"TestKnowledgeBase", "", adminsOfA, bookkeeping, func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		res, err := e.svc.TestKnowledgeBase(ctx, a, "acme", "default")
		if err == nil && !res.OK {
			return fmt.Errorf("test against the fake failed: %s", res.Error)
		}
		return err
	}},
	{"AddSetup", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.AddSetup(ctx, a, "acme", "staging", "default")
	}},
	{"RenameSetup", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.RenameSetup(ctx, a, "acme", "lab", "research")
	}},
	{"DeleteSetup", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.DeleteSetup(ctx, a, "acme", "lab")
	}},
	{"SetActiveSetup", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		return e.svc.SetActiveSetup(ctx, a, "acme", "lab")
	}},
	{"UpdateCeiling", "", "aaFFFFF", "ceiling.update", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, _, err := e.svc.UpdateCeiling(ctx, a, "acme", func(l *config.Limits) { l.TokensPerMonth = 5000 })
		return err
	}},
	{"SetLimits", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		l := config.UnlimitedLimits()
		l.TokensPerMonth = 5000
		return e.svc.SetLimits(ctx, a, "acme", l)
	}},
	{"UpdateLimits", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.UpdateLimits(ctx, a, "acme", func(l *config.Limits) { l.RequestsPerMinute = 60 })
		return err
	}},

	// Assistants.
	{"ListOrgAssistants", "", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListOrgAssistants(ctx, a, "acme", "", 0, 0)
		return err
	}},
	{"SetAssistantEnabled", "", adminsOfA, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.SetAssistantEnabled(ctx, a, fx.tutor, false)
	}},
	// A system admin working in A names the owner: their own assistants
	// and keys belong to lamb, not to A.
	{"CreateAssistant", "self", "aIaaaaa", "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAssistant(ctx, a, AssistantInput{Name: "New", Provider: "openai"})
		return err
	}},
	{"CreateAssistant", "for member A", "aaaNaFF", "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAssistant(ctx, a, AssistantInput{Owner: "member@acme.edu", Name: "New", Provider: "openai"})
		return err
	}},
	{"GetAssistant", "", ownerOrA, "", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		_, err := e.svc.GetAssistant(ctx, a, fx.tutor)
		return err
	}},
	{"UpdateAssistant", "", ownerOrA, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		_, err := e.svc.UpdateAssistant(ctx, a, fx.tutor, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o", Enabled: true})
		return err
	}},
	{"SetMyAssistantEnabled", "", ownerOrA, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.SetMyAssistantEnabled(ctx, a, fx.tutor, false)
	}},
	{"DeleteAssistant", "", ownerOrA, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.DeleteAssistant(ctx, a, fx.tutor)
	}},
	{"ListMyAssistants", "", everyone, "", func(ctx context.Context, e *testEnv, fx fullFixture, shape string, a Actor) error {
		p, err := e.svc.ListMyAssistants(ctx, a, "", 0, 0)
		for _, as := range p.Items {
			if as.ID == fx.tutor && shape != "member A" {
				return fmt.Errorf("%s lists member A's assistant", shape)
			}
		}
		return err
	}},
	{"ModelChoices", "", everyone, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ModelChoices(ctx, a)
		return err
	}},

	// API keys.
	{"CreateAPIKey", "personal", "aIaaaaa", "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAPIKey(ctx, a, "", "mine", true, time.Time{})
		return err
	}},
	{"CreateAPIKey", "org of A", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAPIKey(ctx, a, "acme", "lms 2", false, time.Time{})
		return err
	}},
	{"CreateAPIKeys", "ten of A", adminsOfA, "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		keys, err := e.svc.CreateAPIKeys(ctx, a, NewAPIKeysInput{OrgSlug: "acme", Name: "course", Count: 10})
		if err == nil && (len(keys) != 10 || keys[9].Name != "course-10") {
			return fmt.Errorf("created %d keys", len(keys))
		}
		return err
	}},
	{"CreateAPIKeys", "personal", "aIaaaaa", "*", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.CreateAPIKeys(ctx, a, NewAPIKeysInput{Name: "mine", Count: 2, Personal: true})
		return err
	}},
	{"ListAPIKeys", "personal", everyone, "", func(ctx context.Context, e *testEnv, fx fullFixture, shape string, a Actor) error {
		p, err := e.svc.ListAPIKeys(ctx, a, "", true, 0, 0)
		for _, k := range p.Items {
			if k.ID == fx.personalKey && shape != "member A" {
				return fmt.Errorf("%s lists member A's personal key", shape)
			}
		}
		return err
	}},
	{"ListAPIKeys", "org of A", adminsOfA, "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.ListAPIKeys(ctx, a, "acme", false, 0, 0)
		return err
	}},
	{"RevokeAPIKey", "member A's", ownerOrA, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.RevokeAPIKey(ctx, a, fx.personalKey)
	}},
	{"RevokeAPIKey", "A's org key", adminsOfAN, "*", func(ctx context.Context, e *testEnv, fx fullFixture, _ string, a Actor) error {
		return e.svc.RevokeAPIKey(ctx, a, fx.orgKey)
	}},

	// Usage.
	{"Usage", "acme", "aaaNaFa", "", func(ctx context.Context, e *testEnv, _ fullFixture, shape string, a Actor) error {
		r, err := e.svc.Usage(ctx, a, UsageQuery{Org: "acme", From: e.now.AddDate(0, 0, -30), By: "user"})
		want := map[string]int64{"member A": 3, "member A2": 0}
		if w, ok := want[shape]; ok && err == nil && r.Total.Requests != w {
			return fmt.Errorf("%s's report totals %d requests, want %d", shape, r.Total.Requests, w)
		}
		return err
	}},
	{"UsageSummary", "acme", "aaaNaFa", "", func(ctx context.Context, e *testEnv, _ fullFixture, shape string, a Actor) error {
		s, err := e.svc.UsageSummary(ctx, a, UsageQuery{Org: "acme", From: e.now.AddDate(0, 0, -30)})
		want := map[string]int64{"member A": 3, "member A2": 0, "org admin A": 3}
		if w, ok := want[shape]; ok && err == nil && s.Total.Requests != w {
			return fmt.Errorf("%s's summary totals %d requests, want %d", shape, s.Total.Requests, w)
		}
		return err
	}},
	{"UsageSummary", "every org", "aFFFFFF", "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.UsageSummary(ctx, a, UsageQuery{AllOrgs: true})
		return err
	}},
	{"Usage", "every org", "aFFFFFF", "", func(ctx context.Context, e *testEnv, _ fullFixture, _ string, a Actor) error {
		_, err := e.svc.Usage(ctx, a, UsageQuery{AllOrgs: true, By: "key"})
		return err
	}},
}

// actorMethods lists the exported methods of *Service whose second
// parameter (after the context) is an Actor.
func actorMethods() []string {
	actor := reflect.TypeFor[Actor]()
	typ := reflect.TypeFor[*Service]()
	var out []string
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		// In(0) is the receiver.
		if m.Type.NumIn() >= 3 && m.Type.In(2) == actor {
			out = append(out, m.Name)
		}
	}
	return out
}

// Every operation that takes an Actor has a row in the matrix: adding one
// without deciding who may call it fails here.
func TestPermissionMatrixComplete(t *testing.T) {
	rows := map[string]bool{}
	for _, op := range fullOps {
		rows[op.method] = true
	}
	methods := actorMethods()
	if len(methods) < 40 {
		t.Fatalf("found only %d methods taking an Actor: %v", len(methods), methods)
	}
	for _, m := range methods {
		if !rows[m] {
			t.Errorf("(*Service).%s takes an Actor but has no row in fullOps", m)
		}
	}
	for m := range rows {
		if !slices.Contains(methods, m) {
			t.Errorf("fullOps has a row for %s, which is not a method of *Service taking an Actor", m)
		}
	}
}

func TestPermissionMatrixAllShapes(t *testing.T) {
	dir, key, fx := buildFullMatrix(t)
	for _, op := range fullOps {
		want := op.want + "DD"
		if len(want) != len(fullShapes) {
			t.Fatalf("%s: want has %d letters for %d shapes", op.label(), len(want), len(fullShapes))
		}
		for i, shape := range fullShapes {
			t.Run(op.label()+"/"+shape, func(t *testing.T) {
				ctx := context.Background()
				e := cloneEnv(t, dir, key)
				e.svc.systemEnv = func() (config.System, error) { return config.System{}, nil }
				a := fx.actors[shape]
				matrixCell(t, e, op.label(), want[i], op.audit, true, func() error {
					if err := e.svc.CheckActor(ctx, a); err != nil {
						return err
					}
					return op.run(ctx, e, fx, shape, a)
				})
			})
		}
	}
}

// keyLine is a fresh ed25519 authorized-key line.
func keyLine() string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
}
