package sshserver

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"lamb/service"
)

// user import: the one-time passwords alone on stdout as CSV, the summary
// on stderr; a bad list names each bad row on a line of its own.
func TestUserImportCommand(t *testing.T) {
	ts := newTwoOrgs(t)
	_, key := newTestSigner(t)
	list := "email,name,role,ssh_key\n" +
		"ana2@acme.example,Ana Two,member,\n" +
		"ben@acme.example,Ben,admin," + key + "\n" +
		"cy@acme.example,\"Cy, Jr.\",,\n"
	dry := ts.run(t, ts.acmeAdmin, list, "user", "import", "--dry-run").wantOK(t)
	if !strings.Contains(dry.stdout, "Would import 3 users into acme (dry run, nothing stored): 1 with an SSH key, 2 would get a one-time password.") {
		t.Fatalf("dry run printed %q", dry.stdout)
	}
	r := ts.run(t, ts.acmeAdmin, list, "user", "import").wantOK(t)
	if !strings.Contains(r.stderr, "Imported 3 users into acme: 1 with an SSH key, 2 with a one-time password.") {
		t.Fatalf("summary on stderr: %q", r.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "email,name,one_time_password" ||
		rows[1][0] != "ana2@acme.example" || rows[2][1] != "Cy, Jr." || len(rows[2][2]) != 19 {
		t.Fatalf("stdout is not the codes' CSV: %q (%v)", r.stdout, err)
	}
	// The new admin signs in with the key of the list.
	page, err := ts.svc.ListUsers(context.Background(), ts.adminActor(t), service.UserQuery{Org: "acme", Query: "ben@"}, 0, 10)
	if err != nil || page.Total != 1 || page.Items[0].Role != "admin" {
		t.Fatalf("ben: %+v, %v", page, err)
	}

	bad := "email,name\nok@acme.example,Ok\nnope,Nope\nana2@acme.example,Again\n"
	f := ts.run(t, ts.acmeAdmin, bad, "user", "import").wantFail(t, 1,
		"2 rows can't be imported, so nothing was; fix them and send the whole list again:\n",
		"\nline 3: email: ", "\nline 4: email: ana2@acme.example is already registered\n")
	if f.stdout != "" {
		t.Fatalf("a refused list printed %q", f.stdout)
	}
	// Another org's admin can't import into acme; a member can't import.
	ts.run(t, ts.globexAdmin, "email,name\nx@acme.example,X\n", "user", "import", "--org", "acme").wantFail(t, 1, "not found")
	ts.run(t, ts.acmeMember, "email,name\nx@acme.example,X\n", "user", "import").wantFail(t, 1, "permission denied")
	ts.run(t, ts.admin, "email,name\nx@acme.example,X\n", "user", "import").wantFail(t, 2, "--org SLUG is required")
	ts.run(t, ts.acmeAdmin, "", "user", "import").wantFail(t, 1, "the list is empty")

	var res service.UserImportResult
	out := ts.run(t, ts.admin, "{\"email\":\"dee@globex.example\",\"name\":\"Dee\"}\n", "user", "import", "--org", "globex", "--json").wantOK(t).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Format != "jsonl" || len(res.Users) != 1 || res.Users[0].OneTimePassword == "" {
		t.Fatalf("--json: %v %q", err, out)
	}
}

// org import --as with --on-conflict: the copy beside the original.
func TestOrgImportAsCopyCommand(t *testing.T) {
	ts := newTwoOrgs(t)
	doc := ts.run(t, ts.admin, "", "org", "export", "acme").wantOK(t).stdout
	ts.run(t, ts.admin, doc, "org", "import", "--as", "acme-test").wantFail(t, 1,
		"these emails already have an account", acmeAdminEmail, acmeMemberEmail, "--on-conflict skip")
	out := ts.run(t, ts.admin, doc, "org", "import", "--as", "acme-test", "--on-conflict", "rename", "--name", "Acme (test)").wantOK(t).stdout
	for _, want := range []string{"Imported acme-test: 2 users, 0 SSH keys, 0 assistants.", "2 users of the file already had an account",
		"renamed ana+acme-test@acme.example"} {
		if !strings.Contains(out, want) {
			t.Fatalf("import printed no %q:\n%s", want, out)
		}
	}
	d, err := ts.svc.GetOrg(context.Background(), ts.adminActor(t), "acme-test")
	if err != nil || d.Name != "Acme (test)" || d.Counts.Users != 2 {
		t.Fatalf("the copy: %+v, %v", d, err)
	}
	var res service.ImportResult
	js := ts.run(t, ts.admin, doc, "org", "import", "--as", "acme-skip", "--on-conflict", "skip", "--json").wantOK(t).stdout
	if err := json.Unmarshal([]byte(js), &res); err != nil || len(res.Conflicts) != 2 || res.Conflicts[0].Action != "skipped" || res.Users != 0 {
		t.Fatalf("--json: %v %s", err, js)
	}
	ts.run(t, ts.admin, doc, "org", "import", "--as", "x", "--org", "acme", "--config-only").wantFail(t, 2, "give one of them")
	ts.run(t, ts.admin, doc, "org", "import", "--org", "acme").wantFail(t, 2, "--org is for --config-only")
	ts.run(t, ts.acmeAdmin, doc, "org", "import", "--as", "mine").wantFail(t, 1, "only system admins create organizations", "--config-only")
}

// An org admin takes a template's settings into their own org, never into
// another.
func TestOrgImportConfigOnlyByOrgAdmin(t *testing.T) {
	ts := newTwoOrgs(t)
	tmpl := ts.run(t, ts.admin, "", "org", "export", "globex", "--config-only").wantOK(t).stdout
	var ex service.Export
	if err := json.Unmarshal([]byte(tmpl), &ex); err != nil || len(ex.Users) != 0 {
		t.Fatalf("template: %v, %+v", err, ex)
	}
	var doc service.Export
	_ = json.Unmarshal([]byte(tmpl), &doc)
	var c map[string]any
	_ = json.Unmarshal(doc.Config, &c)
	c["limits"].(map[string]any)["max_users"] = 40
	doc.Config, _ = json.Marshal(c)
	data, _ := json.Marshal(doc)
	dry := ts.run(t, ts.acmeAdmin, string(data), "org", "import", "--config-only", "--dry-run").wantOK(t).stdout
	if !strings.Contains(dry, "Would take (dry run, nothing stored) the document's settings into acme: 1 field changed.") ||
		!strings.Contains(dry, "limits.max_users") {
		t.Fatalf("dry run printed %q", dry)
	}
	ts.run(t, ts.acmeAdmin, string(data), "org", "import", "--config-only").wantOK(t)
	if d, _ := ts.svc.GetOrg(context.Background(), ts.adminActor(t), "acme"); d.Limits.MaxUsers != 40 {
		t.Fatalf("acme's max_users %d", d.Limits.MaxUsers)
	}
	ts.run(t, ts.acmeAdmin, string(data), "org", "import", "--config-only", "--org", "globex").wantFail(t, 1, "not found")
	ts.run(t, ts.acmeMember, string(data), "org", "import", "--config-only").wantFail(t, 1, "permission denied")
}

// org create from a template org, and from a file on stdin; apikey create
// --count; the documented setup of a department in two commands.
func TestOrgCreateFromTemplateAndBulkKeys(t *testing.T) {
	ts := newTwoOrgs(t)
	ctx := context.Background()
	root := ts.adminActor(t)
	key := "sk-template-0123456789"
	if err := ts.svc.UpdateProvider(ctx, root, "acme", "default", "openai", service.ProviderInput{Enabled: true, APIKey: &key,
		BaseURL: "http://127.0.0.1:9/v1", Models: []string{"gpt-4o-mini"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Tutor", "Grader"} {
		if _, err := ts.svc.CreateAssistant(ctx, root, service.AssistantInput{Owner: acmeAdminEmail, Name: name, Provider: "openai"}); err != nil {
			t.Fatal(err)
		}
	}
	_, adminKey := newTestSigner(t)
	out := ts.run(t, ts.admin, "", "org", "create", "dept-1", "--name", "Department 1", "--admin-email", "head@dept-1.example",
		"--admin-name", "Head", "--admin-ssh-key", adminKey, "--from-org", "acme").wantOK(t).stdout
	for _, want := range []string{"Started from acme: its config and 2 assistants.", "setups.default.providers.openai.api_key", "head@dept-1.example"} {
		if !strings.Contains(out, want) {
			t.Fatalf("org create printed no %q:\n%s", want, out)
		}
	}
	keys := ts.run(t, ts.admin, "", "apikey", "create", "--name", "course", "--count", "10", "--org", "dept-1").wantOK(t)
	if !strings.Contains(keys.stderr, "Created 10 keys in dept-1; each is shown once") {
		t.Fatalf("stderr %q", keys.stderr)
	}
	lines := strings.Split(strings.TrimSpace(keys.stdout), "\n")
	if len(lines) != 11 || !strings.Contains(lines[10], "course-10") || !strings.Contains(lines[10], "lamb_") {
		t.Fatalf("keys printed %q", keys.stdout)
	}
	if c, err := ts.svc.Authenticate(ctx, strings.Fields(lines[10])[2]); err != nil || c.OrgSlug != "dept-1" {
		t.Fatalf("a printed key: %+v, %v", c, err)
	}
	var js []service.NewAPIKey
	if err := json.Unmarshal([]byte(ts.run(t, ts.admin, "", "apikey", "create", "--name", "c", "--count", "3", "--org", "dept-1", "--json").wantOK(t).stdout), &js); err != nil || len(js) != 3 {
		t.Fatalf("--json: %v %+v", err, js)
	}
	ts.run(t, ts.admin, "", "apikey", "create", "--name", "c", "--count", "0", "--org", "dept-1").wantFail(t, 1, "count: must be 1-1000")
	ts.run(t, ts.acmeAdmin, "", "apikey", "create", "--name", "c", "--count", "2", "--org", "globex").wantFail(t, 1, "not found")

	// From a file: the server reads it from stdin.
	doc := ts.run(t, ts.admin, "", "org", "export", "acme", "--config-only").wantOK(t).stdout
	ts.run(t, ts.admin, doc, "org", "create", "dept-2", "--name", "Department 2", "--from", "-").wantOK(t)
	ts.run(t, ts.admin, doc, "org", "create", "dept-3", "--name", "Department 3", "--from", "template.json").wantFail(t, 2, "--from - < template.json")
	ts.run(t, ts.admin, "", "org", "create", "dept-4", "--name", "D4", "--from-org", "acme").wantFail(t, 1, "name the admin")
	ts.run(t, ts.acmeAdmin, "", "org", "create", "dept-5", "--name", "D5", "--from-org", "acme", "--config-only").wantFail(t, 1, "permission denied")
}

// user move and org merge, and who may run them.
func TestUserMoveAndOrgMergeCommands(t *testing.T) {
	ts := newTwoOrgs(t)
	ctx := context.Background()
	root := ts.adminActor(t)
	ts.run(t, ts.acmeMember, "", "apikey", "create", "--name", "laptop", "--personal").wantOK(t)
	ts.run(t, ts.acmeAdmin, "", "user", "move", acmeMemberEmail, "--to", "globex").wantFail(t, 1, "permission denied")
	out := ts.run(t, ts.admin, "", "user", "move", acmeMemberEmail, "--to", "globex").wantOK(t).stdout
	for _, want := range []string{"Moved ana@acme.example from acme to globex, as member.", "Personal API keys revoked", "laptop",
		"Their usage history stays with acme."} {
		if !strings.Contains(out, want) {
			t.Fatalf("user move printed no %q:\n%s", want, out)
		}
	}
	// The moved member's session now acts in globex.
	if r := ts.run(t, ts.acmeMember, "", "whoami"); !strings.Contains(r.stdout, "globex") {
		t.Fatalf("whoami after the move: %+v", r)
	}
	ts.run(t, ts.admin, "", "user", "move", acmeAdminEmail, "--to", "globex").wantFail(t, 1, "last enabled admin of acme")

	plan := ts.run(t, ts.admin, "", "org", "merge", "globex", "--into", "acme").wantOK(t).stdout
	if !strings.Contains(plan, "Would merge (nothing changed yet) globex into acme: 2 users and 0 assistants join acme") ||
		!strings.Contains(plan, "Re-run with --yes") {
		t.Fatalf("merge without --yes printed %q", plan)
	}
	if _, err := ts.svc.GetOrg(ctx, root, "globex"); err != nil {
		t.Fatal("merge without --yes deleted globex")
	}
	ts.run(t, ts.globexAdmin, "", "org", "merge", "globex", "--into", "acme", "--yes").wantFail(t, 1, "permission denied")
	done := ts.run(t, ts.admin, "", "org", "merge", "globex", "--into", "acme", "--yes").wantOK(t).stdout
	if !strings.Contains(done, "Merged globex into acme") || !strings.Contains(done, globexAdminEmail) {
		t.Fatalf("merge printed %q", done)
	}
	var res service.MergeResult
	ts.createOrg(t, "initech")
	js := ts.run(t, ts.admin, "", "org", "merge", "initech", "--into", "acme", "--json").wantOK(t).stdout
	if err := json.Unmarshal([]byte(js), &res); err != nil || !res.DryRun || res.From != "initech" {
		t.Fatalf("--json: %v %s", err, js)
	}
	ts.run(t, ts.admin, "", "org", "merge", "lamb", "--into", "acme", "--yes").wantFail(t, 1, fmt.Sprintf("the system organization %s can't be merged away", service.SystemSlug))
}
