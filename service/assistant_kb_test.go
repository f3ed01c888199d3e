package service

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"lamb/internal/fakekb"
)

// withKB gives acme's default setup a knowledge base.
func (e *memberEnv) withKB(t *testing.T) {
	t.Helper()
	tok := "kb-token-acme"
	if err := e.svc.UpdateKnowledgeBase(context.Background(), e.adminA, "acme", "default", "http://kb.acme.internal:9090", &tok); err != nil {
		t.Fatal(err)
	}
}

func TestAssistantKnowledgeBaseValidation(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	base := AssistantInput{Name: "Tutor", Provider: "openai", KnowledgeBase: &AssistantKB{Collections: []string{"1"}}}

	// Without a knowledge base in the setup, collections are refused.
	if _, err := e.svc.CreateAssistant(ctx, e.a1, base); FieldOf(err) != "knowledge_base.collections" {
		t.Fatalf("collections without a knowledge base: %v", err)
	}
	e.withKB(t)
	many := make([]string, 11)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	for _, c := range []struct {
		name  string
		kb    AssistantKB
		tmpl  string
		field string
	}{
		{"too many collections", AssistantKB{Collections: many}, "", "knowledge_base.collections"},
		{"a path in an id", AssistantKB{Collections: []string{"../admin"}}, "", "knowledge_base.collections"},
		{"top_k 0 is the default, 21 is too many", AssistantKB{Collections: []string{"1"}, TopK: 21}, "", "knowledge_base.top_k"},
		{"negative top_k", AssistantKB{Collections: []string{"1"}, TopK: -1}, "", "knowledge_base.top_k"},
		{"threshold above 1", AssistantKB{Collections: []string{"1"}, Threshold: 1.5}, "", "knowledge_base.threshold"},
		{"threshold NaN", AssistantKB{Collections: []string{"1"}, Threshold: math.NaN()}, "", "knowledge_base.threshold"},
		{"unknown on_error", AssistantKB{Collections: []string{"1"}, OnError: "ignore"}, "", "knowledge_base.on_error"},
		{"unknown placeholder", AssistantKB{Collections: []string{"1"}}, "{context} {question} {user_input}", "prompt_template"},
		{"no user_input", AssistantKB{Collections: []string{"1"}}, "Context: {context}", "prompt_template"},
		{"escape in template", AssistantKB{Collections: []string{"1"}}, "\x1b[2J{user_input}", "prompt_template"},
	} {
		in := base
		kb := c.kb
		in.KnowledgeBase, in.PromptTemplate = &kb, c.tmpl
		if _, err := e.svc.CreateAssistant(ctx, e.a1, in); FieldOf(err) != c.field {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.field)
		}
	}

	in := base
	in.KnowledgeBase = &AssistantKB{Collections: []string{" 1", "syllabus", "1", ""}}
	in.PromptTemplate = "Notes: {context}\nStudent: {user_input} {not a placeholder}"
	a, err := e.svc.CreateAssistant(ctx, e.a1, in)
	if err != nil {
		t.Fatal(err)
	}
	want := &AssistantKB{Collections: []string{"1", "syllabus"}, TopK: DefaultTopK, Threshold: 0, OnError: KBFail}
	if !reflect.DeepEqual(a.KnowledgeBase, want) || a.PromptTemplate != in.PromptTemplate {
		t.Errorf("created with %+v %q, want %+v", a.KnowledgeBase, a.PromptTemplate, want)
	}
	// Read back as stored.
	got, err := e.svc.GetAssistant(ctx, e.a1, a.ID)
	if err != nil || !reflect.DeepEqual(got.KnowledgeBase, want) {
		t.Errorf("read back %+v, %v", got.KnowledgeBase, err)
	}
	// Collections emptied: no retrieval at all.
	upd := AssistantInput{Name: a.Name, Provider: a.Provider, Model: a.LLM, Enabled: true, KnowledgeBase: &AssistantKB{TopK: 99}}
	if a, err = e.svc.UpdateAssistant(ctx, e.a1, a.ID, upd); err != nil || a.KnowledgeBase != nil {
		t.Errorf("update without collections: %+v, %v", a.KnowledgeBase, err)
	}
}

func TestRenderPrompt(t *testing.T) {
	got := renderPrompt("C: {context}\nQ: {user_input}", "facts {user_input}", "why {context}?")
	if got != "C: facts {user_input}\nQ: why {context}?" {
		t.Errorf("render = %q", got)
	}
	if got := renderPrompt("", "ctx", "q"); got == "" || !strings.Contains(got, "ctx") || !strings.Contains(got, "q") {
		t.Errorf("built-in template = %q", got)
	}
}

// Export and import carry an assistant's retrieval settings and template.
func TestExportImportKeepsKnowledgeBase(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	e.withKB(t)
	kb := &AssistantKB{Collections: []string{"7", "8"}, TopK: 5, Threshold: 0.2, OnError: KBContinue}
	if _, err := e.svc.CreateAssistant(ctx, e.a1, AssistantInput{Name: "Tutor", Provider: "openai", KnowledgeBase: kb,
		PromptTemplate: "{context}\n---\n{user_input}"}); err != nil {
		t.Fatal(err)
	}
	ex, err := e.svc.ExportOrg(ctx, e.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Assistants) != 1 || !reflect.DeepEqual(ex.Assistants[0].KnowledgeBase, kb) {
		t.Fatalf("exported %+v", ex.Assistants)
	}
	ex.Organization.Slug = "acme-copy"
	for i := range ex.Users {
		ex.Users[i].Email = "copy-" + ex.Users[i].Email
		ex.Users[i].SSHKeys = nil
	}
	for i := range ex.Assistants {
		ex.Assistants[i].Owner = "copy-" + ex.Assistants[i].Owner
	}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	page, err := e.svc.ListOrgAssistants(ctx, e.sys, "acme-copy", "", 0, 10)
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("imported %+v, %v", page, err)
	}
	if got := page.Items[0]; !reflect.DeepEqual(got.KnowledgeBase, kb) || got.PromptTemplate != "{context}\n---\n{user_input}" {
		t.Errorf("imported %+v %q", got.KnowledgeBase, got.PromptTemplate)
	}
	// A document whose settings are wrong names the assistant's field.
	ex.Organization.Slug = "acme-bad"
	for i := range ex.Users {
		ex.Users[i].Email = "bad-" + ex.Users[i].Email
	}
	ex.Assistants[0].Owner = "bad-" + ex.Assistants[0].Owner
	ex.Assistants[0].KnowledgeBase = &AssistantKB{Collections: []string{"7"}, TopK: 50}
	if _, err := e.svc.ImportOrg(ctx, e.sys, ex, ImportOptions{}); FieldOf(err) != "assistants[0].knowledge_base.top_k" {
		t.Errorf("bad import: %v", err)
	}
}

// The dashboard shows the active setup's knowledge base, its token's
// presence (never the token) and the last test.
func TestDashboardShowsTheKnowledgeBase(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	if d, err := e.svc.Dashboard(ctx, e.adminA, "acme"); err != nil || d.KnowledgeBase != nil {
		t.Fatalf("without a knowledge base: %+v, %v", d.KnowledgeBase, err)
	}
	kb := httptest.NewServer(fakekb.New("kb-token-acme"))
	defer kb.Close()
	tok := "kb-token-acme"
	if err := e.svc.UpdateKnowledgeBase(ctx, e.adminA, "acme", "default", kb.URL, &tok); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.TestKnowledgeBase(ctx, e.adminA, "acme", "default"); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Dashboard(ctx, e.adminA, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if s := d.KnowledgeBase; s == nil || s.URL != kb.URL || !s.HasToken || s.LastCheck == nil || !s.LastCheck.OK {
		t.Errorf("knowledge base status %+v", d.KnowledgeBase)
	}
}

// Members pick collections from their org's knowledge base; a failing one
// says so.
func TestKBChoicesForMembers(t *testing.T) {
	e := newMemberEnv(t)
	ctx := context.Background()
	fake := fakekb.New("kb-token-acme")
	fake.AddCollection("1", "Syllabus")
	kb := httptest.NewServer(fake)
	defer kb.Close()
	tok := "kb-token-acme"
	if err := e.svc.UpdateKnowledgeBase(ctx, e.adminA, "acme", "default", kb.URL, &tok); err != nil {
		t.Fatal(err)
	}
	cs, err := e.svc.KBChoices(ctx, e.a1)
	if err != nil || len(cs) != 1 || cs[0].ID != "1" || cs[0].Name != "Syllabus" {
		t.Fatalf("choices %+v, %v", cs, err)
	}
	kb.Close()
	// A member learns it failed and whom to ask; the org's admins also
	// learn where and how, which names the org's internal address.
	_, err = e.svc.KBChoices(ctx, e.a1)
	if !errors.Is(err, ErrKnowledgeBase) || !strings.Contains(err.Error(), "ask an admin") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unreachable, for a member: %v", err)
	}
	_, err = e.svc.KBChoices(ctx, e.adminA)
	if !errors.Is(err, ErrKnowledgeBase) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("unreachable, for an admin: %v", err)
	}
}
