package sshserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

// memberOrgs is twoOrgs with a second member of acme, and acme's default
// setup offering OpenAI (gpt-4o-mini, gpt-4o) and Ollama (llama3.1);
// globex has no provider.
type memberOrgs struct {
	*twoOrgs
	acmeMember2 gossh.Signer
}

const acmeMember2Email = "cy@acme.example"

func newMemberOrgs(t *testing.T) *memberOrgs {
	t.Helper()
	e := &memberOrgs{twoOrgs: newTwoOrgs(t)}
	e.acmeMember2 = e.userWithKey(t, "acme", acmeMember2Email, "member")
	ctx := context.Background()
	admin := e.adminActor(t)
	for _, p := range []struct {
		name string
		in   service.ProviderInput
	}{
		{"openai", service.ProviderInput{Enabled: true, BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o-mini", "gpt-4o"}}},
		{"ollama", service.ProviderInput{Enabled: true, BaseURL: "http://ollama.acme.internal:11434", Models: []string{"llama3.1"}}},
	} {
		if err := e.svc.UpdateProvider(ctx, admin, "acme", "default", p.name, p.in); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// createAssistant runs assistant create --json as signer and returns the
// assistant.
func (e *memberOrgs) createAssistant(t *testing.T, signer gossh.Signer, args ...string) service.Assistant {
	t.Helper()
	var a service.Assistant
	decode(t, e.run(t, signer, "", append([]string{"assistant", "create", "--json"}, args...)...).wantOK(t), &a)
	if a.ID == 0 || a.Model != fmt.Sprintf("lamb_assistant.%d", a.ID) {
		t.Fatalf("created %+v", a)
	}
	return a
}

// assistantJSON decodes an assistant printed with --json (into a fresh
// value: fields left out, such as a cleared temperature, stay zero).
func assistantJSON(t *testing.T, r cmdResult) service.Assistant {
	t.Helper()
	var a service.Assistant
	decode(t, r, &a)
	return a
}

func (e *memberOrgs) assistantCount(t *testing.T) int {
	t.Helper()
	p, err := e.svc.ListOrgAssistants(context.Background(), e.adminActor(t), "acme", "", 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	return p.Total
}

func TestAssistantCreateShowList(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	r := e.run(t, e.acmeMember, "You tutor essays.\nBe kind.\n", "assistant", "create", "--name", "Essay tutor",
		"--provider", "openai", "--model", "gpt-4o", "--temperature", "0.3", "--description", "For first years",
		"--system-prompt-stdin").wantOK(t)
	m := regexp.MustCompile(`^Created assistant Essay tutor for ana@acme\.example: openai gpt-4o\.\nCallers use the model id (lamb_assistant\.(\d+))\.\n$`).
		FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("assistant create:\n%s", r.stdout)
	}
	model, id := m[1], m[2]

	// Both forms of the id; the system prompt whole, line by line.
	for _, ref := range []string{model, id} {
		r = e.run(t, e.acmeMember, "", "assistant", "show", ref).wantOK(t)
		for _, want := range []string{"model id:", model, "owner:", acmeMemberEmail, "temperature:", "0.3", "For first years",
			"setup:", "active setup", "status:", "enabled", "system prompt:\n  You tutor essays.\n  Be kind.\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("assistant show %s lacks %q:\n%s", ref, want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "\x1b") {
			t.Fatalf("raw escape in show output")
		}
	}
	var a service.Assistant
	decode(t, e.run(t, e.acmeMember, "", "assistant", "show", id, "--json").wantOK(t), &a)
	if a.Model != model || a.SystemPrompt != "You tutor essays.\nBe kind." || a.LLM != "gpt-4o" || *a.Temperature != 0.3 {
		t.Fatalf("show --json %+v", a)
	}

	// The provider's default model when --model is left out; the prompt
	// from the command line.
	b := e.createAssistant(t, e.acmeMember2, "--name", "Grader", "--provider", "openai", "--system-prompt", "Grade.")
	if b.LLM != "gpt-4o-mini" || b.Owner != acmeMember2Email || b.SystemPrompt != "Grade." {
		t.Fatalf("created %+v", b)
	}

	// Each member lists their own.
	r = e.run(t, e.acmeMember, "", "assistant", "list").wantOK(t)
	if !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(model)+`\s+Essay tutor\s+ana@acme\.example\s+openai\s+gpt-4o\s+\(active\)\s+enabled$`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, "Grader") {
		t.Fatalf("member's list:\n%s", r.stdout)
	}
	var page service.Page[service.Assistant]
	decode(t, e.run(t, e.acmeMember2, "", "assistant", "list", "--json").wantOK(t), &page)
	if page.Total != 1 || page.Items[0].ID != b.ID {
		t.Fatalf("member 2's list %+v", page)
	}
	// --all is for admins.
	e.run(t, e.acmeMember, "", "assistant", "list", "--all").wantFail(t, 1, "permission denied")
	r = e.run(t, e.acmeAdmin, "", "assistant", "list", "--all").wantOK(t)
	if !strings.Contains(r.stdout, "Essay tutor") || !strings.Contains(r.stdout, "Grader") {
		t.Fatalf("admin's --all:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "assistant", "list").wantOK(t)
	if strings.Contains(r.stdout, "Grader") || !strings.HasPrefix(r.stdout, "MODEL ID") {
		t.Fatalf("admin's own list:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "assistant", "list", "--all", "--filter", "grad", "--json").wantOK(t)
	decode(t, r, &page)
	if page.Total != 1 || page.Items[0].Name != "Grader" {
		t.Fatalf("admin's --all --filter grad: %+v", page)
	}
	e.run(t, e.admin, "", "assistant", "list", "--all").wantFail(t, 2, "--org SLUG is required for system admins")
	decode(t, e.run(t, e.admin, "", "assistant", "list", "--org", "acme", "--json").wantOK(t), &page)
	if page.Total != 2 {
		t.Fatalf("system admin's list of acme: %+v", page)
	}
	e.run(t, e.globexAdmin, "", "assistant", "list", "--org", "acme").wantFail(t, 1, `organization "acme" not found`)

	// Service validation is a failure (1) that names the field.
	e.run(t, e.acmeMember, "", "assistant", "create", "--name", "X", "--provider", "openai", "--model", "gpt-5").
		wantFail(t, 1, "model: gpt-5 is not offered by openai in setup default (offered: gpt-4o-mini, gpt-4o)")
	e.run(t, e.acmeMember, "", "assistant", "create", "--name", "Essay tutor", "--provider", "openai").
		wantFail(t, 1, `already has an assistant named "Essay tutor"`)
	e.run(t, e.acmeMember, "", "assistant", "create", "--name", "X", "--provider", "openai", "--temperature", "2.5").
		wantFail(t, 1, "temperature: must be between 0 and 2")
	e.run(t, e.globexAdmin, "", "assistant", "create", "--name", "X", "--provider", "openai").
		wantFail(t, 1, "no provider is enabled in setup default")
	if n := e.assistantCount(t); n != 2 {
		t.Fatalf("%d assistants, want 2", n)
	}
}

func TestAssistantCreateForOwner(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	a := e.createAssistant(t, e.acmeAdmin, "--name", "Tutor", "--provider", "ollama", "--owner", acmeMemberEmail)
	if a.Owner != acmeMemberEmail || a.LLM != "llama3.1" {
		t.Fatalf("created %+v", a)
	}
	// A member may name only themselves, and is told so (not that they
	// can't create assistants at all).
	r := e.run(t, e.acmeMember2, "", "assistant", "create", "--name", "Planted", "--provider", "openai", "--owner", acmeMemberEmail).
		wantFail(t, 1, "permission denied: only an organization's admins may create an assistant for someone else; leave out the owner to create one of your own")
	if strings.Contains(r.stderr, "can't run") {
		t.Fatalf("the refusal says the member can't create assistants: %s", r.stderr)
	}
	e.createAssistant(t, e.acmeMember2, "--name", "Mine", "--provider", "openai", "--owner", acmeMember2Email)
	// Another org's admin gets the answer for nobody.
	e.run(t, e.globexAdmin, "", "assistant", "create", "--name", "Planted", "--provider", "openai", "--owner", acmeMemberEmail).
		wantFail(t, 1, `user "ana@acme.example" not found`)
	if n := e.assistantCount(t); n != 2 {
		t.Fatalf("%d assistants, want 2", n)
	}
}

func TestAssistantUpdate(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	a := e.createAssistant(t, e.acmeMember, "--name", "Tutor", "--provider", "openai", "--model", "gpt-4o",
		"--system-prompt", "Be kind.", "--temperature", "0.7", "--description", "d")
	ref := a.Model

	// Only what is given changes.
	r := e.run(t, e.acmeMember, "", "assistant", "update", ref, "--model", "gpt-4o-mini").wantOK(t)
	if r.stdout != fmt.Sprintf("Updated assistant Tutor (%s): openai gpt-4o-mini, enabled.\n", ref) {
		t.Fatalf("update: %q", r.stdout)
	}
	var got service.Assistant
	got = assistantJSON(t, e.run(t, e.acmeMember, "New prompt\n", "assistant", "update", fmt.Sprint(a.ID), "--system-prompt-stdin", "--json").wantOK(t))
	if got.Name != "Tutor" || got.LLM != "gpt-4o-mini" || got.SystemPrompt != "New prompt" || *got.Temperature != 0.7 || got.Description != "d" {
		t.Fatalf("after updates %+v", got)
	}
	// An empty value clears; a new provider without --model takes its default.
	got = assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "update", ref, "--temperature=", "--description=",
		"--provider", "ollama", "--json").wantOK(t))
	if got.Temperature != nil || got.Description != "" || got.Provider != "ollama" || got.LLM != "llama3.1" || got.SystemPrompt != "New prompt" {
		t.Fatalf("after clearing %+v", got)
	}
	// A disabled assistant stays disabled through an update.
	e.run(t, e.acmeMember, "", "assistant", "disable", ref).wantOK(t)
	got = assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "update", ref, "--name", "Tutor 2", "--json").wantOK(t))
	if got.Enabled || got.Name != "Tutor 2" {
		t.Fatalf("after rename %+v", got)
	}
	e.run(t, e.acmeMember, "", "assistant", "update", ref, "--model", "gpt-5").wantFail(t, 1, "model: gpt-5 is not offered by ollama")

	// Others: the answer for an assistant that doesn't exist.
	e.run(t, e.acmeMember2, "", "assistant", "update", ref, "--name", "Mine").wantFail(t, 1, fmt.Sprintf("assistant %d not found", a.ID))
	e.run(t, e.globexAdmin, "", "assistant", "update", ref, "--name", "Mine").wantFail(t, 1, fmt.Sprintf("assistant %d not found", a.ID))
	// Its org's admin may.
	got = assistantJSON(t, e.run(t, e.acmeAdmin, "", "assistant", "update", ref, "--setup", "default", "--json").wantOK(t))
	if got.Setup != "default" || got.Owner != acmeMemberEmail || got.Name != "Tutor 2" {
		t.Fatalf("after the admin's update %+v", got)
	}
	got = assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "show", ref, "--json").wantOK(t))
	if got.Name != "Tutor 2" || got.Setup != "default" {
		t.Fatalf("refused updates changed it: %+v", got)
	}
}

func TestAssistantEnableDisableDelete(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	a := e.createAssistant(t, e.acmeMember, "--name", "Tutor", "--provider", "openai")
	ref := a.Model
	r := e.run(t, e.acmeMember, "", "assistant", "disable", ref).wantOK(t)
	if r.stdout != fmt.Sprintf("Assistant Tutor (%s) is disabled.\n", ref) {
		t.Fatalf("disable: %q", r.stdout)
	}
	var got service.Assistant
	decode(t, e.run(t, e.acmeMember, "", "assistant", "enable", fmt.Sprint(a.ID), "--json").wantOK(t), &got)
	if !got.Enabled {
		t.Fatalf("enable --json %+v", got)
	}
	notFound := fmt.Sprintf("assistant %d not found", a.ID)
	for _, verb := range []string{"enable", "disable", "show"} {
		e.run(t, e.acmeMember2, "", "assistant", verb, ref).wantFail(t, 1, notFound)
		e.run(t, e.globexAdmin, "", "assistant", verb, ref).wantFail(t, 1, notFound)
	}
	e.run(t, e.acmeMember2, "", "assistant", "delete", ref, "--yes").wantFail(t, 1, notFound)
	e.run(t, e.globexAdmin, "", "assistant", "delete", ref, "--yes").wantFail(t, 1, notFound)
	e.run(t, e.acmeMember2, "", "assistant", "delete", ref).wantFail(t, 1, notFound) // no hint for others
	e.run(t, e.acmeAdmin, "", "assistant", "disable", ref).wantOK(t)

	e.run(t, e.acmeMember, "", "assistant", "delete", ref).wantFail(t, 1, "not deleted: deleting Tutor ("+ref+")", "Re-run with --yes")
	if n := e.assistantCount(t); n != 1 {
		t.Fatalf("%d assistants after refused deletions", n)
	}
	r = e.run(t, e.acmeMember, "", "assistant", "delete", ref, "--yes", "--json").wantOK(t)
	if strings.TrimSpace(r.stdout) != `{
  "deleted": "`+ref+`"
}` {
		t.Fatalf("delete --json: %q", r.stdout)
	}
	e.run(t, e.acmeMember, "", "assistant", "show", ref).wantFail(t, 1, notFound)
	if n := e.assistantCount(t); n != 0 {
		t.Fatalf("%d assistants after deletion", n)
	}
}

func TestAssistantModels(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	r := e.run(t, e.acmeMember, "", "assistant", "models").wantOK(t)
	if !regexp.MustCompile(`(?m)^default\s+openai\s+gpt-4o-mini\s+gpt-4o-mini, gpt-4o$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^default\s+ollama\s+llama3\.1\s+llama3\.1$`).MatchString(r.stdout) {
		t.Fatalf("assistant models:\n%s", r.stdout)
	}
	var choices []service.ModelChoice
	decode(t, e.run(t, e.acmeMember, "", "assistant", "models", "--json").wantOK(t), &choices)
	if len(choices) != 2 || choices[0].Provider != "openai" || choices[0].DefaultModel != "gpt-4o-mini" {
		t.Fatalf("models --json %+v", choices)
	}
	r = e.run(t, e.globexAdmin, "", "assistant", "models").wantOK(t)
	if !strings.Contains(r.stderr, "No provider is enabled") {
		t.Fatalf("globex models: %q %q", r.stdout, r.stderr)
	}
	if r = e.run(t, e.globexAdmin, "", "assistant", "models", "--json").wantOK(t); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("globex models --json: %q", r.stdout)
	}
}

func TestAssistantLimitIsAFailure(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	ctx := context.Background()
	cfg, err := e.svc.OrgConfig(ctx, e.adminActor(t), "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	l.MaxAssistantsPerUser = 1
	if err := e.svc.SetLimits(ctx, e.adminActor(t), "acme", l); err != nil {
		t.Fatal(err)
	}
	e.createAssistant(t, e.acmeMember, "--name", "One", "--provider", "openai")
	e.run(t, e.acmeMember, "", "assistant", "create", "--name", "Two", "--provider", "openai").
		wantFail(t, 1, "ana@acme.example already has 1 assistants", "limits.max_assistants_per_user")
}

func TestAssistantBadArguments(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	a := e.createAssistant(t, e.acmeMember, "--name", "Tutor", "--provider", "openai")
	id := fmt.Sprint(a.ID)
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"assistant"}, `"assistant" needs a command`},
		{[]string{"assistant", "shwo", id}, `did you mean "show"?`},
		{[]string{"assistant", "show"}, "accepts 1 arg(s), received 0"},
		{[]string{"assistant", "show", "tutor"}, `assistant ID "tutor": want a number`},
		{[]string{"assistant", "show", "lamb_assistant."}, `assistant ID "lamb_assistant."`},
		{[]string{"assistant", "show", "0"}, `assistant ID "0"`},
		{[]string{"assistant", "show", "-3"}, "unknown shorthand flag"},
		{[]string{"assistant", "enable", id, id}, "accepts 1 arg(s), received 2"},
		{[]string{"assistant", "create", "--provider", "openai"}, `required flag(s) "name" not set`},
		{[]string{"assistant", "create", "--name", "X"}, `required flag(s) "provider" not set`},
		{[]string{"assistant", "create", "--name", "X", "--provider", "openai", "--temperature", "warm"}, `--temperature "warm"`},
		{[]string{"assistant", "create", "--name", "X", "--provider", "openai", "--system-prompt", "p", "--system-prompt-stdin"},
			"none of the others can be"},
		{[]string{"assistant", "update", id}, "nothing to change"},
		{[]string{"assistant", "update", id, "--owner", acmeMember2Email}, "unknown flag: --owner"},
		{[]string{"assistant", "delete"}, "accepts 1 arg(s)"},
		{[]string{"assistant", "list", "mine"}, `unknown command "mine"`},
		{[]string{"assistant", "list", "--limit", "0"}, "--limit must be 1-500"},
		{[]string{"assistant", "models", "openai"}, `unknown command "openai"`},
	}
	for _, c := range cases {
		r := e.run(t, e.acmeMember, "", c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.err) || !strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q and the usage", c.args, r.code, r.stdout, r.stderr, c.err)
		}
	}
	if got, err := e.svc.GetAssistant(context.Background(), e.adminActor(t), a.ID); err != nil || got.Name != "Tutor" {
		t.Fatalf("after bad arguments: %+v, %v", got, err)
	}
}

// An assistant an admin makes for someone is that person's: the admin's own
// list doesn't show it, and says where it is instead of looking empty.
func TestAssistantListSaysWhereOthersAre(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "assistant", "create", "--name", "Tutor", "--provider", "ollama", "--owner", acmeMemberEmail).wantOK(t)
	if !strings.Contains(r.stdout, "It is "+acmeMemberEmail+"'s: `assistant list` shows your own, `assistant list --all` the organization's.") {
		t.Fatalf("create for someone else printed:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "assistant", "list").wantOK(t)
	if !strings.Contains(r.stderr, "You own no assistants; acme has 1 assistant: `assistant list --all` lists them.") {
		t.Fatalf("an admin's empty list says nothing of the others: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	e.createAssistant(t, e.acmeAdmin, "--name", "Mine", "--provider", "ollama")
	r = e.run(t, e.acmeAdmin, "", "assistant", "list").wantOK(t)
	if !strings.Contains(r.stdout, "Mine") || !strings.Contains(r.stderr, "These are yours; acme has 1 assistant more: `assistant list --all` lists them all.") {
		t.Fatalf("an admin's list: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := e.run(t, e.acmeAdmin, "", "assistant", "list", "--all").wantOK(t); r.stderr != "" || !strings.Contains(r.stdout, "Tutor") {
		t.Fatalf("list --all: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// --json stays a document; members get no hint about others' assistants.
	if r := e.run(t, e.acmeAdmin, "", "assistant", "list", "--json").wantOK(t); r.stderr != "" {
		t.Fatalf("list --json wrote %q", r.stderr)
	}
	if r := e.run(t, e.acmeMember2, "", "assistant", "list").wantOK(t); r.stderr != "" {
		t.Fatalf("a member's list hints: %q", r.stderr)
	}
	// A system admin is pointed to --org.
	if r := e.run(t, e.admin, "", "assistant", "list").wantOK(t); !strings.Contains(r.stderr, "`assistant list --org SLUG`") {
		t.Fatalf("a system admin's empty list: %q", r.stderr)
	}
}
