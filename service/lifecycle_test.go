package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// lifecycleEnv is a server with acme (an admin, two members with SSH keys,
// a provider with a secret key, assistants, signup on) and beta (an admin).
type lifecycleEnv struct {
	*testEnv
	sys, adminA, adminB Actor
	ana, bo             Actor // members of acme
}

func newLifecycleEnv(t *testing.T) *lifecycleEnv {
	t.Helper()
	return newLifecycleEnvOn(t, store.EngineSQLite)
}

func newLifecycleEnvOn(t *testing.T, engine string) *lifecycleEnv {
	t.Helper()
	ctx := context.Background()
	e := &lifecycleEnv{testEnv: newTestEnvOn(t, engine)}
	mustSync(t, e.testEnv, config.System{})
	e.sys = sysAdmin(t, e.testEnv, "root@lamb.local")
	e.adminA = orgWithAdmin(t, e.testEnv, e.sys, "acme", emailAdminA)
	e.adminB = orgWithAdmin(t, e.testEnv, e.sys, "beta", emailAdminB)
	e.ana, _ = userWithKey(t, e.testEnv, e.adminA, "acme", emailA1, "member", "")
	e.bo, _ = userWithKey(t, e.testEnv, e.adminA, "acme", emailA2, "member", "")
	key := "sk-acme-secret-0123456789"
	for _, slug := range []string{"acme", "beta"} {
		if err := e.svc.UpdateProvider(ctx, e.sys, slug, "default", "openai", ProviderInput{Enabled: true, APIKey: &key,
			BaseURL: "http://127.0.0.1:9/v1", Models: []string{"gpt-4o-mini", "gpt-4o"}, DefaultModel: "gpt-4o-mini"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, as := range []struct {
		owner Actor
		name  string
	}{{e.ana, "Tutor"}, {e.ana, "Grader"}, {e.bo, "Tutor"}} {
		if _, err := e.svc.CreateAssistant(ctx, as.owner, AssistantInput{Name: as.name, Provider: "openai", Model: "gpt-4o",
			SystemPrompt: "Be kind to " + as.name, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.SetSignupEnabled(ctx, e.sys, "acme", true); err != nil {
		t.Fatal(err)
	}
	return e
}

// comparableExport is an export with what a copy may change taken out: the slug,
// the assistants' ids.
func comparableExport(t *testing.T, ex Export) string {
	t.Helper()
	ex.Organization.Slug = ""
	for i := range ex.Assistants {
		ex.Assistants[i].ID = 0
	}
	data, err := json.MarshalIndent(ex, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// An org exported, imported as a copy under another slug, and exported
// again gives the same document apart from the slug and the ids.
func TestImportAsCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	ex, err := e.svc.ExportOrg(ctx, e.sys, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	// On another server, where the people have no accounts yet.
	other := newTestEnv(t)
	mustSync(t, other, config.System{})
	root := sysAdmin(t, other, "root@other.example")
	res, err := other.svc.ImportOrg(ctx, root, ex, ImportOptions{Slug: "acme-copy"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Slug != "acme-copy" || res.Users != 3 || res.Assistants != 3 || len(res.Conflicts) != 0 {
		t.Fatalf("import: %+v", res)
	}
	back, err := other.svc.ExportOrg(ctx, root, "acme-copy", true)
	if err != nil {
		t.Fatal(err)
	}
	if back.Organization.Slug != "acme-copy" {
		t.Fatalf("slug %q", back.Organization.Slug)
	}
	if a, b := comparableExport(t, ex), comparableExport(t, back); a != b {
		t.Fatalf("the copy differs from the original:\n%s\n---\n%s", a, b)
	}
	if audit := other.lastAudit(t, "org.import"); !strings.Contains(audit.Details, `"copy_of":"acme"`) {
		t.Errorf("audit details %s don't say whose copy it is", audit.Details)
	}

	// On the same server the people have accounts: rename gives the copy
	// derived addresses and leaves their keys (which sign in as the
	// originals) out; everything else is the same.
	dry, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-test", OnConflict: OnConflictRename, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || len(dry.Conflicts) != 3 || dry.Users != 3 {
		t.Fatalf("dry run: %+v", dry)
	}
	if _, err := e.st.OrgBySlug(ctx, "acme-test"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a dry run created the org")
	}
	cp, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-test", OnConflict: OnConflictRename})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Users != 3 || cp.SSHKeys != 0 || cp.Assistants != 3 || !cp.SignupKeyInUse {
		t.Fatalf("renamed copy: %+v", cp)
	}
	renamed := map[string]string{}
	for _, c := range cp.Conflicts {
		renamed[c.Email] = c.NewEmail
		if c.Action != "renamed" {
			t.Errorf("%s: %s", c.Email, c.Action)
		}
	}
	if renamed[emailA1] != "ana+acme-test@acme.edu" {
		t.Fatalf("renamed %v", renamed)
	}
	back, err = e.svc.ExportOrg(ctx, e.sys, "acme-test", true)
	if err != nil {
		t.Fatal(err)
	}
	// The copy can't share the signup key (they are unique): signup is off.
	want := ex
	var wantCfg config.Org
	if err := json.Unmarshal(ex.Config, &wantCfg); err != nil {
		t.Fatal(err)
	}
	wantCfg.Features.SignupEnabled = false
	want.Config, want.Signup = wantCfg.JSON(), ExportSignup{}
	for i := range want.Users {
		want.Users[i].Email, want.Users[i].SSHKeys = renamed[want.Users[i].Email], nil
	}
	for i := range want.Assistants {
		want.Assistants[i].Owner = renamed[want.Assistants[i].Owner]
	}
	slices.SortFunc(want.Users, func(a, b ExportUser) int { return strings.Compare(a.Email, b.Email) })
	if a, b := comparableExport(t, want), comparableExport(t, back); a != b {
		t.Fatalf("the renamed copy differs:\n%s\n---\n%s", a, b)
	}
}

// Every conflict of a file is named in one answer; skip leaves those
// users and their assistants out; a dry run changes nothing.
func TestImportConflictsReportedTogether(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	ex, err := e.svc.ExportOrg(ctx, e.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	// A newcomer, and a user whose key another account holds.
	line, _ := newKey(t, "new")
	ex.Users = append(ex.Users, ExportUser{Email: "new@acme.edu", Name: "New", Role: "member", Enabled: true, SSHKeys: []string{line}},
		ExportUser{Email: "keyless@acme.edu", Name: "Keyless", Role: "member", Enabled: true, SSHKeys: ex.Users[1].SSHKeys})
	before := e.dump(t)
	_, err = e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-2"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("import of taken users: %v", err)
	}
	for _, want := range []string{emailA1, emailA2, emailAdminA, "users[4].ssh_keys[0]", "--on-conflict skip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the conflict doesn't name %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "new@acme.edu") {
		t.Errorf("a free user named as a conflict: %v", err)
	}
	if e.dump(t) != before {
		t.Fatal("a refused import changed the database")
	}
	res, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-2", OnConflict: OnConflictSkip})
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 1 || res.Assistants != 0 || len(res.AssistantsSkipped) != 3 || len(res.Conflicts) != 4 {
		t.Fatalf("skip: %+v", res)
	}
	if u := e.mustUser(t, "new@acme.edu"); u.OrganizationID != e.mustOrg(t, "acme-2").ID {
		t.Fatalf("the newcomer is in org %d", u.OrganizationID)
	}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-3", OnConflict: "merge"}); FieldOf(err) != "on_conflict" {
		t.Errorf("unknown policy: %v", err)
	}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "Not A Slug"}); FieldOf(err) != "as" {
		t.Errorf("bad --as: %v", err)
	}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: SystemSlug}); FieldOf(err) != "as" {
		t.Errorf("--as lamb: %v", err)
	}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{Slug: "acme-4", Name: strings.Repeat("n", 101)}); FieldOf(err) != "name" {
		t.Errorf("bad --name: %v", err)
	}
}

// csvUsers builds a CSV list of n users of domain; every other one has an
// SSH key.
func csvUsers(t testing.TB, n int, domain string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,name,role,ssh_key\n")
	for i := 1; i <= n; i++ {
		key := ""
		if i%2 == 0 {
			key = keyLine()
		}
		fmt.Fprintf(&b, "student%05d@%s,Student %d,member,%s\n", i, domain, i, key)
	}
	return b.String()
}

// 10,000 users in one transaction, on each engine; a bad row at line 9,999
// of another list leaves the database exactly as it was.
func TestUserImportTenThousandRowsInOneTransaction(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			sys := sysAdmin(t, e, "root@lamb.local")
			admin := orgWithAdmin(t, e, sys, "physics", "boss@physics.edu")
			list := csvUsers(t, 10_000, "physics.edu")
			res, err := e.svc.ImportUsers(ctx, admin, UserImportInput{OrgSlug: "physics", Data: []byte(list)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Users) != 10_000 || res.Passwords() != 5_000 || res.Users[9_999].Line != 10_001 {
				t.Fatalf("imported %d users, %d passwords", len(res.Users), res.Passwords())
			}
			if n := e.count(t, `SELECT COUNT(*) FROM users WHERE organization_id = ?`, admin.OrgID); n != 10_001 {
				t.Fatalf("%d users in physics", n)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE organization_id = ?`, admin.OrgID); n != 5_001 {
				t.Fatalf("%d ssh keys in physics", n)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM audit_events WHERE action = 'user.create'`); n < 10_000 {
				t.Fatalf("%d user.create events", n)
			}

			// Another list whose line 9,999 is bad: nothing of it is kept.
			bad := strings.Split(csvUsers(t, 10_000, "chem.edu"), "\n")
			bad[9_998] = "not-an-email,Someone,member,"
			before := e.dump(t)
			_, err = e.svc.ImportUsers(ctx, admin, UserImportInput{OrgSlug: "physics", Data: []byte(strings.Join(bad, "\n"))})
			var rows RowErrors
			if !errors.As(err, &rows) || len(rows) != 1 || rows[0].Line != 9_999 || rows[0].Field != "email" {
				t.Fatalf("bad row at line 9,999: %v", err)
			}
			if after := e.dump(t); after != before {
				t.Fatal("a refused list changed the database")
			}
		})
	}
}

// Every bad row is named, by its line, in one answer.
func TestUserImportReportsEveryBadRow(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	taken := keyLine()
	if _, err := e.svc.AddSSHKey(ctx, e.ana, "", taken); err != nil {
		t.Fatal(err)
	}
	key := keyLine()
	list := strings.Join([]string{
		"email,name,role,ssh_key",
		"ok1@acme.edu,Fine,member,",             // 2
		"broken,Broken,member,",                 // 3: email
		"noname@acme.edu,,member,",              // 4: name
		"boss@acme.edu,Boss,owner,",             // 5: role
		"keyed@acme.edu,Keyed,,ssh-ed25519 AAA", // 6: key
		"ok1@acme.edu,Again,,",                  // 7: twice in the list
		emailA2 + ",Bo,,",                       // 8: has an account
		"k1@acme.edu,K1,," + key,                // 9
		"k2@acme.edu,K2,," + key,                // 10: key twice
		"k3@acme.edu,K3,," + taken,              // 11: key of an account
		"short@acme.edu",                        // 12: one value
		`"quoted, name"@acme.edu,Q,,`,           // 13: fine CSV, bad email
	}, "\n")
	before := e.dump(t)
	_, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte(list)})
	var rows RowErrors
	if !errors.As(err, &rows) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad list: %v", err)
	}
	var lines []int
	for _, r := range rows {
		lines = append(lines, r.Line)
	}
	if want := []int{3, 4, 5, 6, 7, 8, 10, 11, 12, 13}; !slices.Equal(lines, want) {
		t.Fatalf("lines named %v, want %v:\n%v", lines, want, err)
	}
	for _, want := range []string{"line 7: email: ok1@acme.edu is also on line 2", "line 8: email: bo@acme.edu is already registered",
		"line 10: ssh_key: this key", "is also on line 9", "line 5: role:", "10 rows can't be imported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the answer lacks %q:\n%v", want, err)
		}
	}
	if e.dump(t) != before {
		t.Fatal("a refused list changed the database")
	}
	for name, data := range map[string]string{
		"empty":          "  \n",
		"no header":      "ana@acme.edu,Ana\n",
		"only a header":  "email,name\n",
		"unknown column": "email,name,phone\nx@acme.edu,X,123\n",
	} {
		if _, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte(data)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The formats people send: a spreadsheet's CSV (byte order mark,
// semicolons, quoted values) and JSON lines.
func TestUserImportFormats(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	for _, c := range []struct{ name, data, format string }{
		{"spreadsheet", "\xef\xbb\xbfEmail;Name;Role\r\nsemi@acme.edu;\"Ruiz; Ana\";admin\r\n", "csv"},
		{"quoted", "email,name\n\"quote@acme.edu\",\"Doe, \"\"JD\"\" Jane\"\n", "csv"},
		{"json lines", "{\"email\":\"json@acme.edu\",\"name\":\"Jay\",\"ssh_key\":\"" + keyLine() + "\"}\n\n{\"email\":\"json2@acme.edu\",\"name\":\"Kay\"}\n", "jsonl"},
	} {
		res, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte(c.data)})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Format != c.format {
			t.Errorf("%s: format %s", c.name, res.Format)
		}
	}
	if u := e.mustUser(t, "semi@acme.edu"); u.Name != "Ruiz; Ana" || u.Role != "admin" {
		t.Errorf("semicolon list: %+v", u)
	}
	if u := e.mustUser(t, "quote@acme.edu"); u.Name != `Doe, "JD" Jane` {
		t.Errorf("quoted name: %q", u.Name)
	}
	_, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte("{\"email\":\"x@acme.edu\",\"name\":\"X\",\"phone\":1}\n{\"email\":\"y@acme.edu\"}\n")})
	var rows RowErrors
	if !errors.As(err, &rows) || len(rows) != 2 || rows[0].Line != 1 || rows[1].Line != 2 {
		t.Fatalf("bad JSON lines: %v", err)
	}
}

// A user imported without a key signs in once with the printed one-time
// password, which is not stored as such, and must then choose one.
func TestUserImportOneTimePasswordsSignIn(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	res, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte("email,name\nnew@acme.edu,New\n")})
	if err != nil {
		t.Fatal(err)
	}
	pw := res.Users[0].OneTimePassword
	if len(pw) != 19 {
		t.Fatalf("one-time password %q", pw)
	}
	if stored := e.mustUser(t, "new@acme.edu").PasswordHash; strings.Contains(stored, pw) || !strings.HasPrefix(stored, "otp:") {
		t.Fatalf("stored %q", stored)
	}
	line, _ := newKey(t, "laptop")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "new@acme.edu", Password: pw + "x", RemoteAddr: "127.0.0.1:1"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	a, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "new@acme.edu", Password: pw, RemoteAddr: "127.0.0.1:1"})
	if err != nil || !a.MustChoosePassword {
		t.Fatalf("sign-in with the one-time password: %+v, %v", a, err)
	}
	other, _ := newKey(t, "again")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: other, Email: "new@acme.edu", Password: pw, RemoteAddr: "127.0.0.1:1"}); err == nil {
		t.Fatal("a one-time password worked twice")
	}
	// A dry run makes none.
	dry, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte("email,name\nlater@acme.edu,Later\n"), DryRun: true})
	if err != nil || dry.Passwords() != 0 || !dry.DryRun {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
}

// limits.max_users counts the whole list, and holds when two lists for one
// org arrive at once, on each engine.
func TestUserImportMaxUsersForWholeBatch(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnvOn(t, engine)
			mustSync(t, e, config.System{})
			sys := sysAdmin(t, e, "root@lamb.local")
			admin := orgWithAdmin(t, e, sys, "acme", emailAdminA)
			l := config.UnlimitedLimits()
			l.MaxUsers = 10
			if err := e.svc.SetLimits(ctx, admin, "acme", l); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.ImportUsers(ctx, admin, UserImportInput{OrgSlug: "acme", Data: []byte(csvUsers(t, 10, "a.edu"))})
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "9 of these 10 fit") {
				t.Fatalf("10 more users with room for 9: %v", err)
			}
			// Two lists of 6 at once: one fits, the other is refused.
			errs := make(chan error, 2)
			for _, domain := range []string{"b.edu", "c.edu"} {
				go func() {
					_, err := e.svc.ImportUsers(ctx, admin, UserImportInput{OrgSlug: "acme", Data: []byte(csvUsers(t, 6, domain))})
					errs <- err
				}()
			}
			var ok, limited int
			for range 2 {
				select {
				case err := <-errs:
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrLimit):
						limited++
					default:
						t.Fatal(err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("imports did not finish")
				}
			}
			if ok != 1 || limited != 1 {
				t.Fatalf("%d imports fitted, %d refused", ok, limited)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM users WHERE organization_id = ?`, admin.OrgID); n != 7 {
				t.Fatalf("%d users, limit 10", n)
			}
		})
	}
}

// Attack: a list is a batch of probes. An org admin sending a list of
// addresses learned at once which had accounts in other orgs. Now another
// org's address is answered without saying it exists, and each such
// answer counts toward the limit user create has: past it, the rest are
// counted, not named, and the next import waits.
func TestUserImportDoesNotConfirmOtherOrgsEmails(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	var b strings.Builder
	b.WriteString("email,name\n")
	// emailA1 has an account in acme; 25 guesses "exist" too.
	fmt.Fprintf(&b, "%s,Probe\n", emailA1)
	for i := range 25 {
		email := fmt.Sprintf("guess%d@acme.edu", i)
		if _, err := e.svc.CreateUser(ctx, e.adminA, CreateUserInput{OrgSlug: "acme", Email: email, Name: "G", Password: "password-1"}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s,Probe\n", email)
	}
	_, err := e.svc.ImportUsers(ctx, e.adminB, UserImportInput{OrgSlug: "beta", Data: []byte(b.String())})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("probe list: %v", err)
	}
	if strings.Contains(err.Error(), "already registered") || strings.Contains(err.Error(), "acme") && strings.Contains(err.Error(), "registered") {
		t.Fatalf("another org's address confirmed: %v", err)
	}
	var rows RowErrors
	errors.As(err, &rows)
	named := 0
	for _, r := range rows {
		if r.Line > 0 {
			named++
		}
	}
	if named != uniquenessProbes || !strings.Contains(err.Error(), "6 more rows use an address or key that can't be used") {
		t.Fatalf("named %d rows of 26:\n%v", named, err)
	}
	_, err = e.svc.ImportUsers(ctx, e.adminB, UserImportInput{OrgSlug: "beta", Data: []byte("email,name\nfree@beta.edu,Free\n")})
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("import after the limit: %v", err)
	}
	// Their own org's taken address is named as such.
	_, err = e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "acme", Data: []byte("email,name\n" + emailA1 + ",Ana\n")})
	if err == nil || !strings.Contains(err.Error(), emailA1+" is already registered") {
		t.Fatalf("own org's taken address: %v", err)
	}
}

func TestUserImportIntoAnotherOrgIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	list := []byte("email,name\nx@beta.edu,X\n")
	_, err := e.svc.ImportUsers(ctx, e.adminA, UserImportInput{OrgSlug: "beta", Data: list})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("org admin of A into B: %v", err)
	}
	if _, err := e.svc.ImportUsers(ctx, e.ana, UserImportInput{OrgSlug: "acme", Data: list}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member: %v", err)
	}
	if _, err := e.st.UserByEmail(ctx, "x@beta.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused import created the user")
	}
}

// usageTotals sums each org's rollups over every day.
func usageTotals(t *testing.T, e *testEnv, slugs ...string) map[string]store.UsageTotals {
	t.Helper()
	out := map[string]store.UsageTotals{}
	for _, slug := range slugs {
		tot, err := e.st.SumUsage(context.Background(), store.UsageFilter{OrganizationID: e.mustOrg(t, slug).ID, From: 0, To: 99991231})
		if err != nil {
			t.Fatal(err)
		}
		out[slug] = tot
	}
	return out
}

// seedUsage writes a usage event of user's assistant in their org.
func seedUsage(t *testing.T, e *testEnv, orgID, assistantID, userID, apiKeyID int64, tokens int64) {
	t.Helper()
	err := e.st.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.InsertUsage(context.Background(), []store.UsageEvent{{OrganizationID: orgID, AssistantID: assistantID, UserID: userID,
			APIKeyID: apiKeyID, Provider: "openai", Model: "gpt-4o", PromptTokens: tokens, CompletionTokens: 1, Status: "ok", HTTPStatus: 200, CreatedAt: e.now}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A user moves with their assistants: their personal keys are revoked and
// listed, usage totals of each org stay what they were, both orgs audit it.
func TestMoveUserKeepsUsageTotalsPerOrg(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) { testMoveUserKeepsUsageTotalsPerOrg(t, engine) })
	}
}

func testMoveUserKeepsUsageTotalsPerOrg(t *testing.T, engine string) {
	ctx := context.Background()
	e := newLifecycleEnvOn(t, engine)
	mine, err := e.svc.ListMyAssistants(ctx, e.ana, "", 0, 10)
	if err != nil || mine.Total != 2 {
		t.Fatalf("ana's assistants: %+v, %v", mine, err)
	}
	key, err := e.svc.CreateAPIKey(ctx, e.ana, "", "laptop", true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seedUsage(t, e.testEnv, e.ana.OrgID, mine.Items[0].ID, e.ana.UserID, key.ID, 100)
	seedUsage(t, e.testEnv, e.adminB.OrgID, 0, e.adminB.UserID, 0, 7)
	before := usageTotals(t, e.testEnv, "acme", "beta")

	res, err := e.svc.MoveUser(ctx, e.sys, MoveUserInput{Email: emailA1, To: "beta", WithAssistants: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != "acme" || res.To != "beta" || len(res.AssistantsMoved) != 2 || len(res.KeysRevoked) != 1 || res.KeysRevoked[0].ID != key.ID {
		t.Fatalf("move: %+v", res)
	}
	if after := usageTotals(t, e.testEnv, "acme", "beta"); after["acme"] != before["acme"] || after["beta"] != before["beta"] {
		t.Fatalf("usage per org changed: %+v → %+v", before, after)
	}
	u := e.mustUser(t, emailA1)
	if u.OrganizationID != e.adminB.OrgID || u.Role != store.RoleMember {
		t.Fatalf("moved user: %+v", u)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM assistants WHERE owner_user_id = ? AND organization_id = ?`, u.ID, e.adminB.OrgID); n != 2 {
		t.Fatalf("%d assistants moved along", n)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE user_id = ? AND organization_id = ?`, u.ID, e.adminB.OrgID); n != 1 {
		t.Fatalf("%d SSH keys moved along", n)
	}
	if _, err := e.svc.Authenticate(ctx, key.Key); err == nil {
		t.Fatal("the moved user's personal key still works")
	}
	// Their session opened in acme no longer holds.
	if err := e.svc.CheckActor(ctx, e.ana); err == nil {
		t.Fatal("a session of the moved user still acts in acme")
	}
	for _, org := range []int64{e.adminA.OrgID, e.adminB.OrgID} {
		if n := e.count(t, `SELECT COUNT(*) FROM audit_events WHERE action = 'user.move' AND organization_id = ?`, org); n != 1 {
			t.Errorf("org %d has %d user.move events", org, n)
		}
	}
}

// Without --with-assistants an admin of the old org gets them, numbered
// when they already hold the name; the rules of a move hold.
func TestMoveUserReassignsAndRefuses(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	if _, err := e.svc.CreateAssistant(ctx, e.adminA, AssistantInput{Name: "Tutor", Provider: "openai", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.MoveUser(ctx, e.sys, MoveUserInput{Email: emailA1, To: "beta", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, a := range res.AssistantsReassigned {
		names[a.Name] = a.Was
		if a.Owner != emailAdminA {
			t.Errorf("%s went to %s", a.Name, a.Owner)
		}
	}
	if len(res.AssistantsMoved) != 0 || names["Tutor (2)"] != "Tutor" || names["Grader"] != "" || len(names) != 2 {
		t.Fatalf("reassigned: %+v", res.AssistantsReassigned)
	}
	if u := e.mustUser(t, emailA1); u.Role != store.RoleAdmin {
		t.Fatalf("role in beta: %s", u.Role)
	}

	before := e.dump(t)
	for name, c := range map[string]struct {
		in   MoveUserInput
		want error
		says string
	}{
		"last admin":     {MoveUserInput{Email: emailAdminA, To: "beta", WithAssistants: true}, ErrInvalid, "last enabled admin of acme"},
		"system admin":   {MoveUserInput{Email: "root@lamb.local", To: "beta"}, ErrInvalid, "is a system admin"},
		"same org":       {MoveUserInput{Email: emailA2, To: "acme"}, ErrInvalid, "already belongs to acme"},
		"unknown org":    {MoveUserInput{Email: emailA2, To: "nope"}, ErrNotFound, "nope"},
		"unknown user":   {MoveUserInput{Email: "nobody@acme.edu", To: "beta"}, ErrNotFound, "nobody@acme.edu"},
		"bad role":       {MoveUserInput{Email: emailA2, To: "beta", Role: "owner"}, ErrInvalid, "role"},
		"org admin of A": {MoveUserInput{Email: emailA2, To: "acme"}, ErrForbidden, "permission denied"},
	} {
		actor := e.sys
		if name == "org admin of A" {
			actor = e.adminA
		}
		if _, err := e.svc.MoveUser(ctx, actor, c.in); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, c.want, c.says)
		}
	}
	if e.dump(t) != before {
		t.Fatal("a refused move changed the database")
	}
	// Without an admin to take them, a leaving owner's assistants must
	// move along: acme's only admin is the heir, not bo.
	if _, err := e.svc.MoveUser(ctx, e.sys, MoveUserInput{Email: emailAdminA, To: "beta"}); FieldOf(err) != "email" {
		t.Errorf("the last admin, without their assistants: %v", err)
	}
	// beta allows one more user: ana took it.
	l := config.UnlimitedLimits()
	l.MaxUsers = 2
	if err := e.svc.SetLimits(ctx, e.sys, "beta", l); err != nil {
		t.Fatal(err)
	}
	before = e.dump(t)
	if _, err := e.svc.MoveUser(ctx, e.sys, MoveUserInput{Email: emailA2, To: "beta"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("move past max_users: %v", err)
	}
	if e.dump(t) != before {
		t.Fatal("a refused move changed the database")
	}
}

// A merge moves everyone and everything of src into dst, revokes src's
// keys, keeps the platform's usage and audit, and deletes src; a dry run
// changes nothing.
func TestMergeOrgs(t *testing.T) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		t.Run(engine, func(t *testing.T) { testMergeOrgs(t, engine) })
	}
}

func testMergeOrgs(t *testing.T, engine string) {
	ctx := context.Background()
	e := newLifecycleEnvOn(t, engine)
	orgKey, err := e.svc.CreateAPIKey(ctx, e.adminA, "acme", "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := e.svc.ListMyAssistants(ctx, e.ana, "", 0, 10)
	seedUsage(t, e.testEnv, e.adminA.OrgID, mine.Items[0].ID, e.ana.UserID, orgKey.ID, 40)
	seedUsage(t, e.testEnv, e.adminB.OrgID, 0, e.adminB.UserID, 0, 2)
	before := usageTotals(t, e.testEnv, "acme", "beta")
	// Month ledgers of shared limits: beta's started, acme's too.
	month := monthKey(e.now)
	db := e.rawDB(t)
	for _, row := range [][]int64{{e.adminA.OrgID, 0, 41}, {e.adminA.OrgID, e.ana.UserID, 41}, {e.adminB.OrgID, 0, 3}} {
		if _, err := db.Exec(e.sql(`INSERT INTO budget_ledgers (organization_id, user_id, month, spent) VALUES (?, ?, ?, ?)`), row[0], row[1], month, row[2]); err != nil {
			t.Fatal(err)
		}
	}
	auditA := e.count(t, `SELECT COUNT(*) FROM audit_events WHERE organization_id = ?`, e.adminA.OrgID)
	auditB := e.count(t, `SELECT COUNT(*) FROM audit_events WHERE organization_id = ?`, e.adminB.OrgID)

	snapshot := e.dump(t)
	dry, err := e.svc.MergeOrgs(ctx, e.sys, "acme", "beta", true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Users != 3 || dry.Assistants != 3 || len(dry.KeysRevoked) != 1 || !slices.Equal(dry.FormerAdmins, []string{emailAdminA}) {
		t.Fatalf("dry run: %+v", dry)
	}
	if e.dump(t) != snapshot {
		t.Fatal("a dry run changed the database")
	}
	res, err := e.svc.MergeOrgs(ctx, e.sys, "acme", "beta", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 3 || res.Assistants != 3 {
		t.Fatalf("merge: %+v", res)
	}
	if _, err := e.st.OrgBySlug(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("acme is still there")
	}
	after := usageTotals(t, e.testEnv, "beta")
	if after["beta"].Tokens() != before["acme"].Tokens()+before["beta"].Tokens() || after["beta"].Requests != 2 {
		t.Fatalf("usage after the merge: %+v (before %+v)", after, before)
	}
	// Per user (and so per assistant) too, not only the org's totals.
	if ana, err := e.st.SumUsage(ctx, store.UsageFilter{OrganizationID: e.adminB.OrgID, UserID: e.ana.UserID, From: 0, To: 99991231}); err != nil || ana.Tokens() != 41 {
		t.Fatalf("ana's usage in beta after the merge: %+v, %v; want acme's 41 tokens", ana, err)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM budget_ledgers WHERE organization_id = ? AND user_id = 0 AND spent = 44`, e.adminB.OrgID); n != 1 {
		t.Errorf("beta's month ledger doesn't hold acme's spending")
	}
	if n := e.count(t, `SELECT COUNT(*) FROM budget_ledgers`); n != 1 {
		t.Errorf("%d ledgers after the merge, want beta's alone (a user's starts again from the rollups)", n)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM audit_events WHERE organization_id = ?`, e.adminB.OrgID); n != auditA+auditB+1 {
		t.Fatalf("beta holds %d audit events, want %d + %d + the merge", n, auditA, auditB)
	}
	u := e.mustUser(t, emailAdminA)
	if u.OrganizationID != e.adminB.OrgID || u.Role != store.RoleMember {
		t.Fatalf("acme's admin: %+v", u)
	}
	if _, err := e.svc.Authenticate(ctx, orgKey.Key); err == nil {
		t.Fatal("acme's org key still works")
	}
	if n := e.count(t, `SELECT COUNT(*) FROM assistants WHERE organization_id = ?`, e.adminB.OrgID); n != 3 {
		t.Fatalf("%d assistants in beta", n)
	}

	for name, c := range map[string]struct {
		a        Actor
		src, dst string
		want     error
	}{
		"into itself":  {e.sys, "beta", "beta", ErrInvalid},
		"system org":   {e.sys, SystemSlug, "beta", ErrInvalid},
		"unknown":      {e.sys, "nope", "beta", ErrNotFound},
		"org admin":    {e.adminB, "beta", SystemSlug, ErrForbidden},
		"acting admin": {Actor{Role: RoleOrgAdmin, OrgID: e.adminB.OrgID, OrgSlug: "beta", UserID: e.sys.UserID, ActingSystemAdmin: true}, "beta", SystemSlug, ErrForbidden},
	} {
		if _, err := e.svc.MergeOrgs(ctx, c.a, c.src, c.dst, false); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// What src spent this month counts toward dst's month budget after a merge.
func TestMergeCarriesTheMonthBudget(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	mem, ok := e.svc.limits.(*memoryLimits)
	if !ok {
		t.Fatal("the test env keeps limits in memory; the shared ledgers' merge is checked in TestMergeOrgs")
	}
	seedUsage(t, e.testEnv, e.adminA.OrgID, 0, e.ana.UserID, 0, 499)
	l := config.UnlimitedLimits()
	// beta's ledger started this month (a request admitted), acme's too.
	for _, org := range []int64{e.adminA.OrgID, e.adminB.OrgID} {
		r, err := mem.admit(ctx, org, 0, l, need{prompt: 1})
		if err != nil {
			t.Fatal(err)
		}
		mem.settle(r, 0)
	}
	if _, err := e.svc.MergeOrgs(ctx, e.sys, "acme", "beta", false); err != nil {
		t.Fatal(err)
	}
	led := mem.months[ledgerKey{e.adminB.OrgID, 0, monthKey(e.now)}]
	if led == nil || led.used != 500 {
		t.Fatalf("beta's month ledger after the merge: %+v, want 500 tokens used", led)
	}
	if mem.months[ledgerKey{e.adminA.OrgID, 0, monthKey(e.now)}] != nil {
		t.Fatal("acme's ledger stayed")
	}
}

// A new org starts from an existing one: its config (secrets only when
// asked for, audited in both), its assistants owned by the new admin.
func TestCreateOrgFromOrgTemplate(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	res, err := e.svc.CreateOrg(ctx, e.sys, CreateOrgInput{Slug: "chem", Name: "Chemistry", FromOrg: "acme",
		Admin: &NewAdmin{Email: "boss@chem.edu", Name: "Boss", SSHKey: keyLine()}})
	if err != nil {
		t.Fatal(err)
	}
	tm := res.Template
	if tm == nil || tm.From != "acme" || tm.SecretsCopied || !slices.Contains(tm.SecretsCleared, "setups.default.providers.openai.api_key") ||
		!tm.SignupDisabled || len(tm.Assistants) != 3 {
		t.Fatalf("template: %+v", tm)
	}
	var names []string
	for _, a := range tm.Assistants {
		names = append(names, a.Name)
		if a.Owner != "boss@chem.edu" || a.NewID == 0 || a.NewID == a.OldID {
			t.Errorf("assistant %+v", a)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Grader", "Tutor", "Tutor (2)"}) {
		t.Fatalf("names %v", names)
	}
	cfg, err := e.svc.OrgConfig(ctx, e.sys, "chem", true)
	if err != nil || cfg.Setups["default"].Providers["openai"].APIKey != "" || cfg.Setups["default"].Providers["openai"].BaseURL != "http://127.0.0.1:9/v1" {
		t.Fatalf("chem's config: %+v, %v", cfg, err)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM users WHERE organization_id = ?`, e.mustOrg(t, "chem").ID); n != 1 {
		t.Fatalf("the template's users came along: %d users", n)
	}

	// Asked for: the secrets come too, and acme's audit says where they went.
	if _, err := e.svc.CreateOrg(ctx, e.sys, CreateOrgInput{Slug: "bio", Name: "Biology", FromOrg: "acme", ConfigOnly: true, WithSecrets: true}); err != nil {
		t.Fatal(err)
	}
	cfg, _ = e.svc.OrgConfig(ctx, e.sys, "bio", true)
	if cfg.Setups["default"].Providers["openai"].APIKey != "sk-acme-secret-0123456789" {
		t.Fatal("secrets asked for were not copied")
	}
	if n := e.count(t, `SELECT COUNT(*) FROM assistants WHERE organization_id = ?`, e.mustOrg(t, "bio").ID); n != 0 {
		t.Fatalf("config only brought %d assistants", n)
	}
	if ev := e.lastAudit(t, "config.copy"); ev.OrganizationID != e.adminA.OrgID || ev.Target != "bio" {
		t.Fatalf("config.copy audit: %+v", ev)
	}

	before := e.dump(t)
	for name, in := range map[string]CreateOrgInput{
		"assistants need an owner": {Slug: "x1", Name: "X", FromOrg: "acme"},
		"both templates":           {Slug: "x2", Name: "X", FromOrg: "acme", From: &Export{}},
		"secrets of a file":        {Slug: "x3", Name: "X", WithSecrets: true},
		"config only of nothing":   {Slug: "x4", Name: "X", ConfigOnly: true},
		"and system providers":     {Slug: "x5", Name: "X", FromOrg: "acme", ConfigOnly: true, CopySystemProviders: true},
	} {
		if _, err := e.svc.CreateOrg(ctx, e.sys, in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.svc.CreateOrg(ctx, e.sys, CreateOrgInput{Slug: "x6", Name: "X", FromOrg: "nope", ConfigOnly: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown template org: %v", err)
	}
	if _, err := e.svc.CreateOrg(ctx, e.adminA, CreateOrgInput{Slug: "x7", Name: "X", FromOrg: "acme", ConfigOnly: true}); !errors.Is(err, ErrForbidden) {
		t.Errorf("org admin: %v", err)
	}
	if e.dump(t) != before {
		t.Fatal("a refused create changed the database")
	}
}

// A template from a file: its assistants' owners don't matter; the new
// org's limits count them.
func TestCreateOrgFromFileTemplate(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	ex, err := e.svc.ExportOrg(ctx, e.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	ex.Users = nil
	res, err := e.svc.CreateOrg(ctx, e.sys, CreateOrgInput{Slug: "geo", Name: "Geo", From: &ex,
		Admin: &NewAdmin{Email: "boss@geo.edu", Name: "Boss"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Template.Assistants) != 3 || res.AdminPassword == "" {
		t.Fatalf("file template: %+v", res)
	}
	var cfg config.Org
	if err := json.Unmarshal(ex.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Limits.MaxAssistantsPerUser = 2
	ex.Config = cfg.JSON()
	if _, err := e.svc.CreateOrg(ctx, e.sys, CreateOrgInput{Slug: "geo2", Name: "Geo", From: &ex,
		Admin: &NewAdmin{Email: "boss2@geo.edu", Name: "Boss"}}); !errors.Is(err, ErrLimit) {
		t.Fatalf("3 assistants for one admin, 2 allowed: %v", err)
	}
	if _, err := e.st.OrgBySlug(ctx, "geo2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused template left its org")
	}
}

// An org admin takes a template's settings into their org: their own
// secrets stay where the file has masks, their signup and ceiling stay,
// limits come down to the ceiling.
func TestImportOrgConfigKeepsOwnSecretsAndCeiling(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	if _, _, err := e.svc.UpdateCeiling(ctx, e.sys, "acme", func(l *config.Limits) { l.MaxUsers = 100 }); err != nil {
		t.Fatal(err)
	}
	// The template: beta's config with another model list, a knowledge
	// base whose token beta has and acme hasn't, big limits.
	token := "kb-beta-token"
	if err := e.svc.UpdateKnowledgeBase(ctx, e.sys, "beta", "default", "http://127.0.0.1:9", &token); err != nil {
		t.Fatal(err)
	}
	l := config.UnlimitedLimits()
	l.MaxUsers = 5000
	if err := e.svc.SetLimits(ctx, e.sys, "beta", l); err != nil {
		t.Fatal(err)
	}
	ex, err := e.svc.ExportOrg(ctx, e.sys, "beta", false)
	if err != nil {
		t.Fatal(err)
	}
	ex = ex.ConfigOnly()
	before := e.dump(t)
	dry, err := e.svc.ImportOrgConfig(ctx, e.adminA, "acme", ex, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || len(dry.Changed) == 0 || e.dump(t) != before {
		t.Fatalf("dry run: %+v", dry)
	}
	res, err := e.svc.ImportOrgConfig(ctx, e.adminA, "acme", ex, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.SecretsKept, "setups.default.providers.openai.api_key") ||
		!slices.Contains(res.SecretsCleared, "setups.default.knowledge_base.api_token") {
		t.Fatalf("secrets: %+v", res)
	}
	cfg, err := e.svc.OrgConfig(ctx, e.sys, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Setups["default"].Providers["openai"].APIKey != "sk-acme-secret-0123456789" || cfg.Setups["default"].KnowledgeBase == nil ||
		cfg.Setups["default"].KnowledgeBase.URL != "http://127.0.0.1:9" {
		t.Fatalf("acme's setup after the import: %+v", cfg.Setups["default"])
	}
	if !cfg.Features.SignupEnabled || cfg.CeilingLimits().MaxUsers != 100 || cfg.Limits.MaxUsers != 100 {
		t.Fatalf("signup %v, ceiling %+v, limits %+v", cfg.Features.SignupEnabled, cfg.CeilingLimits(), cfg.Limits)
	}
	if e.lastAudit(t, "config.import").OrganizationID != e.adminA.OrgID {
		t.Fatal("not audited in acme")
	}
	// Not into another org; not a member.
	if _, err := e.svc.ImportOrgConfig(ctx, e.adminB, "acme", ex, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("org admin of B into A: %v", err)
	}
	if _, err := e.svc.ImportOrgConfig(ctx, e.ana, "acme", ex, false); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member: %v", err)
	}
	ex.Version = 9
	if _, err := e.svc.ImportOrgConfig(ctx, e.adminA, "acme", ex, false); FieldOf(err) != "version" {
		t.Fatalf("bad version: %v", err)
	}
}

// K keys at once, each shown once and working; bounds on K.
func TestCreateAPIKeysInBulk(t *testing.T) {
	ctx := context.Background()
	e := newLifecycleEnv(t)
	keys, err := e.svc.CreateAPIKeys(ctx, e.adminA, NewAPIKeysInput{OrgSlug: "acme", Name: "course", Count: 25})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if k.Name != fmt.Sprintf("course-%d", i+1) || seen[k.Key] {
			t.Fatalf("key %d: %+v", i, k.APIKey)
		}
		seen[k.Key] = true
		if c, err := e.svc.Authenticate(ctx, k.Key); err != nil || c.OrgSlug != "acme" {
			t.Fatalf("key %d: %+v, %v", i, c, err)
		}
	}
	for _, n := range []int{0, -1, MaxAPIKeysAtOnce + 1} {
		if _, err := e.svc.CreateAPIKeys(ctx, e.adminA, NewAPIKeysInput{OrgSlug: "acme", Name: "c", Count: n}); FieldOf(err) != "count" {
			t.Errorf("count %d: %v", n, err)
		}
	}
	if _, err := e.svc.CreateAPIKeys(ctx, e.adminA, NewAPIKeysInput{OrgSlug: "beta", Name: "c", Count: 2}); !errors.Is(err, ErrNotFound) {
		t.Errorf("into another org: %v", err)
	}
	if _, err := e.svc.CreateAPIKeys(ctx, e.adminA, NewAPIKeysInput{OrgSlug: "acme", Name: strings.Repeat("n", 99), Count: 10}); FieldOf(err) != "name" {
		t.Errorf("a name too long with its number: %v", err)
	}
}
