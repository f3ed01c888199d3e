package service

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// memberEnv is the fixture of the member's console: lamb with a system
// admin; acme (A) with an admin and two members, its default setup offering
// OpenAI (gpt-4o-mini, gpt-4o) and a second setup "lab" offering Ollama;
// beta (B) with an admin and no provider yet.
type memberEnv struct {
	*testEnv
	sys, adminA, adminB, a1, a2 Actor
}

const (
	emailAdminA = "admin@acme.edu"
	emailAdminB = "admin@beta.edu"
	emailA1     = "ana@acme.edu"
	emailA2     = "bo@acme.edu"
)

func newMemberEnv(t *testing.T) *memberEnv {
	t.Helper()
	e := &memberEnv{testEnv: newTestEnv(t)}
	mustSync(t, e.testEnv, config.System{})
	e.sys = sysAdmin(t, e.testEnv, "root@lamb.local")
	e.adminA = orgWithAdmin(t, e.testEnv, e.sys, "acme", emailAdminA)
	e.adminB = orgWithAdmin(t, e.testEnv, e.sys, "beta", emailAdminB)
	e.a1, _ = userWithKey(t, e.testEnv, e.adminA, "acme", emailA1, "member", "")
	e.a2, _ = userWithKey(t, e.testEnv, e.adminA, "acme", emailA2, "member", "")
	e.enableOpenAI(t, e.adminA, "acme")
	ctx := context.Background()
	if err := e.svc.AddSetup(ctx, e.adminA, "acme", "lab", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UpdateProvider(ctx, e.adminA, "acme", "lab", "ollama", ProviderInput{Enabled: true,
		BaseURL: "http://ollama.acme.internal:11434", Models: []string{"llama3.1"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// orgWithAdmin creates an org with an admin who has an SSH key, and returns
// the admin's actor.
func orgWithAdmin(t *testing.T, e *testEnv, sys Actor, slug, email string) Actor {
	t.Helper()
	ctx := context.Background()
	line, fp := newKey(t, email)
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: strings.ToUpper(slug),
		Admin: &NewAdmin{Email: email, Name: "Admin " + slug, SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// enableOpenAI enables OpenAI in the default setup of org slug (as admin).
func (e *memberEnv) enableOpenAI(t *testing.T, admin Actor, slug string) {
	t.Helper()
	if err := e.svc.UpdateProvider(context.Background(), admin, slug, "default", "openai", ProviderInput{Enabled: true,
		BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o-mini", "gpt-4o"}, DefaultModel: "gpt-4o-mini"}); err != nil {
		t.Fatal(err)
	}
}

// assistant creates an assistant as a, failing the test on error.
func (e *memberEnv) assistant(t *testing.T, a Actor, in AssistantInput) Assistant {
	t.Helper()
	if in.Provider == "" {
		in.Provider = "openai"
	}
	as, err := e.svc.CreateAssistant(context.Background(), a, in)
	if err != nil {
		t.Fatalf("create assistant %q as %s: %v", in.Name, a.Email, err)
	}
	return as
}

// row reads an assistant's row straight from the store.
func (e *memberEnv) row(t *testing.T, id int64) store.Assistant {
	t.Helper()
	as, err := e.st.AssistantByID(context.Background(), id)
	if err != nil {
		t.Fatalf("assistant %d: %v", id, err)
	}
	return as
}

func (e *memberEnv) assistantCount(t *testing.T) int {
	t.Helper()
	return e.count(t, `SELECT COUNT(*) FROM assistants`)
}

// wantInvalidSays fails unless err is an InvalidError of field whose
// message holds every one of msgs.
func wantInvalidSays(t *testing.T, err error, field string, msgs ...string) {
	t.Helper()
	wantInvalid(t, err, field)
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("%q doesn't say %q", err, m)
		}
	}
}

func floatp(f float64) *float64 { return &f }

func TestCreateAssistantValidation(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	ok := AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o"}
	with := func(f func(in *AssistantInput)) AssistantInput {
		in := ok
		f(&in)
		return in
	}
	cases := []struct {
		name  string
		in    AssistantInput
		field string
		msgs  []string
	}{
		{"empty name", with(func(in *AssistantInput) { in.Name = "  " }), "name", []string{"1-100 characters"}},
		{"name too long", with(func(in *AssistantInput) { in.Name = strings.Repeat("n", 101) }), "name", []string{"1-100 characters"}},
		{"control character in name", with(func(in *AssistantInput) { in.Name = "Tu\x1b[2Jtor" }), "name", []string{"control characters"}},
		{"temperature below 0", with(func(in *AssistantInput) { in.Temperature = floatp(-0.1) }), "temperature", []string{"between 0 and 2"}},
		{"temperature above 2", with(func(in *AssistantInput) { in.Temperature = floatp(2.1) }), "temperature", []string{"between 0 and 2"}},
		// NaN compares false with everything: a range check written as
		// "t < 0 || t > 2" lets it through, and SQLite stores it as NULL.
		{"temperature NaN", with(func(in *AssistantInput) { in.Temperature = floatp(math.NaN()) }), "temperature", []string{"between 0 and 2"}},
		{"temperature +Inf", with(func(in *AssistantInput) { in.Temperature = floatp(math.Inf(1)) }), "temperature", []string{"between 0 and 2"}},
		{"unknown provider", with(func(in *AssistantInput) { in.Provider = "anthropic" }), "provider", []string{`unknown provider "anthropic"`, "openai, ollama"}},
		{"empty provider", with(func(in *AssistantInput) { in.Provider = "" }), "provider", []string{"unknown provider"}},
		{"provider not enabled", with(func(in *AssistantInput) { in.Provider = "ollama" }), "provider",
			[]string{"ollama is not enabled in setup default", "(enabled: openai)"}},
		{"provider not enabled in the pinned setup", with(func(in *AssistantInput) { in.Setup = "lab" }), "provider",
			[]string{"openai is not enabled in setup lab", "(enabled: ollama)"}},
		{"model not offered", with(func(in *AssistantInput) { in.Model = "gpt-5" }), "model",
			[]string{"gpt-5 is not offered by openai in setup default", "(offered: gpt-4o-mini, gpt-4o)"}},
		{"setup missing", with(func(in *AssistantInput) { in.Setup = "prod" }), "setup", []string{`setup "prod" does not exist`, "default, lab"}},
		{"description too long", with(func(in *AssistantInput) { in.Description = strings.Repeat("d", maxDescription+1) }), "description", []string{"2000"}},
		{"system prompt too long", with(func(in *AssistantInput) { in.SystemPrompt = strings.Repeat("p", 100_001) }), "system_prompt", []string{"100000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.CreateAssistant(ctx, e.a1, c.in)
			wantInvalidSays(t, err, c.field, c.msgs...)
		})
	}
	if n := e.assistantCount(t); n != 0 {
		t.Fatalf("%d assistants created by invalid input", n)
	}

	// At the limits, and with the model left to the provider's default.
	as, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: " " + strings.Repeat("ñ", 100) + " ", Provider: "openai",
		Temperature: floatp(2), SystemPrompt: strings.Repeat("p", 100_000), Description: strings.Repeat("d", maxDescription)})
	if err != nil {
		t.Fatal(err)
	}
	if as.Name != strings.Repeat("ñ", 100) || as.LLM != "gpt-4o-mini" || *as.Temperature != 2 || as.Owner != emailA1 ||
		as.OrgSlug != "acme" || !as.Enabled || as.Model != ModelPrefix+itoa(as.ID) {
		t.Fatalf("created %+v", as)
	}
	as, err = e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Lab", Provider: "ollama", Setup: "lab", Temperature: floatp(0)})
	if err != nil {
		t.Fatal(err)
	}
	if row := e.row(t, as.ID); row.Model != "llama3.1" || row.Setup != "lab" || row.Temperature == nil || *row.Temperature != 0 {
		t.Fatalf("stored %+v", row)
	}
	ev := e.lastAudit(t, "assistant.create")
	if ev.Target != "Lab" || !strings.Contains(ev.Details, emailA1) || !strings.Contains(ev.Details, "llama3.1") {
		t.Fatalf("audit %+v", ev)
	}
}

func TestCreateAssistantNoProviderEnabled(t *testing.T) {
	e := newMemberEnv(t)
	_, err := e.svc.CreateAssistant(context.Background(), e.adminB, AssistantInput{Name: "Tutor", Provider: "openai"})
	wantInvalidSays(t, err, "provider", "no provider is enabled in setup default", "ask an admin")
}

func TestUpdateAssistantValidatesAndKeepsOwner(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	as := e.assistant(t, e.a1, AssistantInput{Name: "Tutor"})
	e.assistant(t, e.a1, AssistantInput{Name: "Grader"})
	before := e.row(t, as.ID)
	_, err := e.svc.UpdateAssistant(ctx, e.a1, as.ID, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-5"})
	wantInvalidSays(t, err, "model", "offered: gpt-4o-mini, gpt-4o")
	_, err = e.svc.UpdateAssistant(ctx, e.a1, as.ID, AssistantInput{Name: "Grader", Provider: "openai"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"Grader"`) {
		t.Fatalf("rename onto another assistant: %v", err)
	}
	if after := e.row(t, as.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused update changed the row: %+v", after)
	}
	// Owner in the input is ignored: an update can't hand an assistant over.
	up, err := e.svc.UpdateAssistant(ctx, e.a1, as.ID, AssistantInput{Owner: emailA2, Name: "Tutor 2", Provider: "ollama",
		Setup: "lab", Description: "d", SystemPrompt: "Be kind.", Temperature: floatp(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	row := e.row(t, as.ID)
	if up.Owner != emailA1 || row.OwnerUserID != e.a1.UserID || row.Name != "Tutor 2" || row.Model != "llama3.1" ||
		row.Setup != "lab" || row.Enabled || row.SystemPrompt != "Be kind." || *row.Temperature != 0.5 {
		t.Fatalf("updated %+v, row %+v", up, row)
	}
}

func TestAssistantLimits(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	l := config.UnlimitedLimits()
	l.MaxAssistantsPerUser = 2
	l.MaxAssistants = 3
	if err := e.svc.SetLimits(ctx, e.adminA, "acme", l); err != nil {
		t.Fatal(err)
	}
	e.assistant(t, e.a1, AssistantInput{Name: "One"})
	e.assistant(t, e.a1, AssistantInput{Name: "Two"})
	_, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Three", Provider: "openai"})
	var le *LimitError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &le) || le.Limit != "max_assistants_per_user" ||
		!strings.Contains(err.Error(), "limits.max_assistants_per_user") || !strings.Contains(err.Error(), emailA1) {
		t.Fatalf("third assistant of one user: %v", err)
	}
	// An admin creating for the member meets the member's limit too.
	_, err = e.svc.CreateAssistant(ctx, e.adminA, AssistantInput{Owner: emailA1, Name: "Three", Provider: "openai"})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("admin creating a third for the member: %v", err)
	}
	e.assistant(t, e.a2, AssistantInput{Name: "One"}) // same name, another owner: fine
	_, err = e.svc.CreateAssistant(ctx, e.a2, AssistantInput{Name: "Two", Provider: "openai"})
	if !errors.Is(err, ErrLimit) || !errors.As(err, &le) || le.Limit != "max_assistants" ||
		!strings.Contains(err.Error(), "limit of 3 assistants") || !strings.HasSuffix(err.Error(), "limits.max_assistants") {
		t.Fatalf("fourth assistant of the org: %v", err)
	}
	if n := e.assistantCount(t); n != 3 {
		t.Fatalf("%d assistants, want 3", n)
	}
	// Another org's assistants don't count against A.
	e.enableOpenAI(t, e.adminB, "beta")
	e.assistant(t, e.adminB, AssistantInput{Name: "One"})

	// 0 means none allowed.
	l.MaxAssistants = 0
	if err := e.svc.SetLimits(ctx, e.adminB, "beta", l); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateAssistant(ctx, e.adminB, AssistantInput{Name: "Two", Provider: "openai"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("max_assistants 0: %v", err)
	}
}

func TestAssistantNamesUniquePerOwner(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	e.assistant(t, e.a1, AssistantInput{Name: "Tutor"})
	_, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: " Tutor ", Provider: "openai"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), emailA1) || !strings.Contains(err.Error(), `"Tutor"`) {
		t.Fatalf("duplicate name: %v", err)
	}
	// The admin creating it for the member gets the same answer.
	_, err = e.svc.CreateAssistant(ctx, e.adminA, AssistantInput{Owner: emailA1, Name: "Tutor", Provider: "openai"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name by the admin: %v", err)
	}
	e.assistant(t, e.a2, AssistantInput{Name: "Tutor"})
	e.assistant(t, e.adminA, AssistantInput{Name: "Tutor"})
	if n := e.assistantCount(t); n != 3 {
		t.Fatalf("%d assistants, want 3", n)
	}
	if n := e.auditCount(t, "assistant.create"); n != 3 {
		t.Fatalf("%d assistant.create events, want 3", n)
	}
}

// A member who knows (or guesses) the id of another member's assistant can
// neither read nor change it: the answer is the one for an id that doesn't
// exist, so ids can't be probed either.
func TestMemberCannotTouchAnotherMembersAssistant(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	theirs := e.assistant(t, e.a2, AssistantInput{Name: "Private", SystemPrompt: "secret sauce"})
	missing := theirs.ID + 1000
	before := e.dump(t)

	sameAsMissing := func(op string, got, gotMissing error) {
		t.Helper()
		if !errors.Is(got, ErrNotFound) || errors.Is(got, ErrForbidden) {
			t.Fatalf("%s: %v, want ErrNotFound", op, got)
		}
		if want := strings.ReplaceAll(gotMissing.Error(), itoa(missing), itoa(theirs.ID)); got.Error() != want {
			t.Fatalf("%s: %q, but a missing assistant answers %q", op, got, gotMissing)
		}
	}
	_, err := e.svc.GetAssistant(ctx, e.a1, theirs.ID)
	_, errMissing := e.svc.GetAssistant(ctx, e.a1, missing)
	sameAsMissing("GetAssistant", err, errMissing)
	_, err = e.svc.UpdateAssistant(ctx, e.a1, theirs.ID, AssistantInput{Name: "Mine now", Provider: "openai"})
	_, errMissing = e.svc.UpdateAssistant(ctx, e.a1, missing, AssistantInput{Name: "Mine now", Provider: "openai"})
	sameAsMissing("UpdateAssistant", err, errMissing)
	sameAsMissing("SetMyAssistantEnabled", e.svc.SetMyAssistantEnabled(ctx, e.a1, theirs.ID, false),
		e.svc.SetMyAssistantEnabled(ctx, e.a1, missing, false))
	sameAsMissing("DeleteAssistant", e.svc.DeleteAssistant(ctx, e.a1, theirs.ID), e.svc.DeleteAssistant(ctx, e.a1, missing))
	// Admin-only toggles stay admin-only.
	if err := e.svc.SetAssistantEnabled(ctx, e.a1, theirs.ID, false); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member SetAssistantEnabled: %v", err)
	}
	if _, err := e.svc.ListOrgAssistants(ctx, e.a1, "acme", "", 0, 0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member ListOrgAssistants: %v", err)
	}
	p, err := e.svc.ListMyAssistants(ctx, e.a1, "", 0, 0)
	if err != nil || p.Total != 0 || len(p.Items) != 0 {
		t.Fatalf("a1 lists %+v, %v", p, err)
	}
	if after := e.dump(t); after != before {
		t.Fatalf("refused operations changed the database:\n%s\n%s", before, after)
	}
}

func TestOrgAdminManagesMembersAssistants(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	// Created by the admin for a member: the member owns it.
	as, err := e.svc.CreateAssistant(ctx, e.adminA, AssistantInput{Owner: strings.ToUpper(emailA1), Name: "Tutor", Provider: "openai"})
	if err != nil {
		t.Fatal(err)
	}
	if as.Owner != emailA1 || e.row(t, as.ID).OwnerUserID != e.a1.UserID {
		t.Fatalf("owner %s", as.Owner)
	}
	if ev := e.lastAudit(t, "assistant.create"); ev.Actor != emailAdminA || !strings.Contains(ev.Details, emailA1) {
		t.Fatalf("audit %+v", ev)
	}
	p, err := e.svc.ListMyAssistants(ctx, e.a1, "", 0, 0)
	if err != nil || p.Total != 1 || p.Items[0].ID != as.ID {
		t.Fatalf("member lists %+v, %v", p, err)
	}
	if p, _ := e.svc.ListMyAssistants(ctx, e.adminA, "", 0, 0); p.Total != 0 {
		t.Fatalf("admin's own list holds the member's assistant: %+v", p)
	}
	got, err := e.svc.GetAssistant(ctx, e.adminA, as.ID)
	if err != nil || got.Owner != emailA1 {
		t.Fatalf("admin get: %+v, %v", got, err)
	}
	if _, err := e.svc.UpdateAssistant(ctx, e.adminA, as.ID, AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-4o", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetMyAssistantEnabled(ctx, e.adminA, as.ID, false); err != nil {
		t.Fatal(err)
	}
	if row := e.row(t, as.ID); row.Enabled || row.Model != "gpt-4o" || row.OwnerUserID != e.a1.UserID {
		t.Fatalf("row %+v", row)
	}
	// Setting the same state again writes nothing.
	n := e.auditCount(t, "assistant.disable")
	if err := e.svc.SetMyAssistantEnabled(ctx, e.adminA, as.ID, false); err != nil || e.auditCount(t, "assistant.disable") != n {
		t.Fatalf("disable twice: %v, %d events", err, e.auditCount(t, "assistant.disable"))
	}
	// The system admin too.
	if _, err := e.svc.GetAssistant(ctx, e.sys, as.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteAssistant(ctx, e.adminA, as.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetAssistant(ctx, e.a1, as.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted assistant: %v", err)
	}
	if ev := e.lastAudit(t, "assistant.delete"); ev.Target != "Tutor" {
		t.Fatalf("audit %+v", ev)
	}
	// A system admin creating for a member of A uses A's providers.
	as, err = e.svc.CreateAssistant(ctx, e.sys, AssistantInput{Owner: emailA2, Name: "Sys made", Provider: "openai"})
	if err != nil || as.OrgSlug != "acme" || as.Owner != emailA2 {
		t.Fatalf("system admin creates for a member: %+v, %v", as, err)
	}
}

func TestOtherOrgsAdminCannotReachAssistants(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	as := e.assistant(t, e.a1, AssistantInput{Name: "Tutor"})
	before := e.dump(t)
	if _, err := e.svc.GetAssistant(ctx, e.adminB, as.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := e.svc.UpdateAssistant(ctx, e.adminB, as.ID, AssistantInput{Name: "X", Provider: "openai"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update: %v", err)
	}
	if err := e.svc.SetMyAssistantEnabled(ctx, e.adminB, as.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable: %v", err)
	}
	if err := e.svc.SetAssistantEnabled(ctx, e.adminB, as.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("admin disable: %v", err)
	}
	if err := e.svc.DeleteAssistant(ctx, e.adminB, as.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete: %v", err)
	}
	// Naming A's member as the owner: the answer for nobody.
	_, err := e.svc.CreateAssistant(ctx, e.adminB, AssistantInput{Owner: emailA1, Name: "Planted", Provider: "openai"})
	_, errNobody := e.svc.CreateAssistant(ctx, e.adminB, AssistantInput{Owner: "nobody@acme.edu", Name: "Planted", Provider: "openai"})
	if !errors.Is(err, ErrNotFound) || strings.ReplaceAll(err.Error(), emailA1, "nobody@acme.edu") != errNobody.Error() {
		t.Fatalf("create for A's member: %v (nobody: %v)", err, errNobody)
	}
	// An admin of A can't name a user of lamb either.
	if _, err := e.svc.CreateAssistant(ctx, e.adminA, AssistantInput{Owner: "root@lamb.local", Name: "Planted", Provider: "openai"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("A's admin creating for a lamb user: %v", err)
	}
	if after := e.dump(t); after != before {
		t.Fatalf("refused operations changed the database")
	}
}

// A member may name themselves as the owner, nobody else: the answer is
// ErrForbidden (members administer nobody) and nothing is created.
func TestMemberCannotCreateForSomeoneElse(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	for _, owner := range []string{emailA2, emailAdminA, emailAdminB, "nobody@acme.edu"} {
		if _, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Owner: owner, Name: "Planted", Provider: "openai"}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("member naming %s: %v, want ErrForbidden", owner, err)
		}
	}
	if n := e.assistantCount(t); n != 0 {
		t.Fatalf("%d assistants created", n)
	}
	as, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Owner: " ANA@acme.edu ", Name: "Mine", Provider: "openai"})
	if err != nil || as.Owner != emailA1 {
		t.Fatalf("member naming themselves: %+v, %v", as, err)
	}
}

func TestModelChoices(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	got, err := e.svc.ModelChoices(ctx, e.a1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Setup != "default" || got[0].Provider != "openai" || got[0].DefaultModel != "gpt-4o-mini" ||
		strings.Join(got[0].Models, ",") != "gpt-4o-mini,gpt-4o" || got[1].Setup != "lab" || got[1].Provider != "ollama" {
		t.Fatalf("choices %+v", got)
	}
	// Nothing enabled: an empty list (JSON []), not an error.
	got, err = e.svc.ModelChoices(ctx, e.adminB)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("beta's choices %#v, %v", got, err)
	}
	for _, a := range []Actor{{}, {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", UserID: e.a1.UserID, Personal: true}} {
		if _, err := e.svc.ModelChoices(ctx, a); !errors.Is(err, ErrForbidden) {
			t.Fatalf("%v: %v", a, err)
		}
	}
}

// A system admin working in an org through "open as org admin" must not
// create things in their home org by accident.
func TestActingSystemAdminMustNameOwner(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	line, fp := newKey(t, "")
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{line}, "root@lamb.local", "Root"); err != nil {
		t.Fatal(err)
	}
	root, _ := e.svc.ActorForSSHKey(ctx, fp)
	if _, err := e.svc.CreateOrg(ctx, root, CreateOrgInput{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	acting, err := e.svc.OpenAsOrgAdmin(ctx, root, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateAssistant(ctx, acting, AssistantInput{Name: "X", Provider: "openai", Model: "m"}); FieldOf(err) != "owner" {
		t.Fatalf("assistant without owner while acting: %v", err)
	}
	if _, err := e.svc.CreateAPIKey(ctx, acting, "", "k", true, time.Time{}); FieldOf(err) != "personal" {
		t.Fatalf("personal key while acting: %v", err)
	}
	if k, err := e.svc.CreateAPIKey(ctx, acting, "", "k", false, time.Time{}); err != nil || k.OrgSlug != "acme" {
		t.Fatalf("org key while acting: %+v %v", k, err)
	}
}
