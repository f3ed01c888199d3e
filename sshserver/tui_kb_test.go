package sshserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/internal/fakekb"
	"lamb/service"
)

// Over a real terminal, a member picks the collections of a new assistant
// from the org's knowledge base and writes a template of two lines whose
// preview shows the sample question; the assistant is saved with both.
func TestTUIAssistantKnowledgeBaseOverSSH(t *testing.T) {
	ts := newTwoOrgs(t)
	ctx := context.Background()
	root := ts.adminActor(t)
	if err := ts.svc.UpdateProvider(ctx, root, "acme", "default", "openai", service.ProviderInput{Enabled: true,
		BaseURL: "http://127.0.0.1:9/v1", APIKey: new("sk-acme"), Models: []string{"gpt-a"}}); err != nil {
		t.Fatal(err)
	}
	fake := fakekb.New("kb-token")
	fake.AddCollection("1", "Syllabus")
	fake.AddCollection("2", "Lecture notes")
	kb := httptest.NewServer(fake)
	defer kb.Close()
	if err := ts.svc.UpdateKnowledgeBase(ctx, root, "acme", "default", kb.URL, new("kb-token")); err != nil {
		t.Fatal(err)
	}

	p := ts.openConsole(t, ts.acmeMember)
	p.out.waitFor(t, 0, "My assistants")
	mark := p.out.len()
	p.send(t, "n")
	p.out.waitFor(t, mark, "New assistant")
	p.send(t, "Tutor")
	mark = p.out.len()
	p.send(t, strings.Repeat("\t", 5)) // name, description, model, temperature, system prompt
	p.out.waitFor(t, mark, "0 of 2 collections chosen", "Lecture notes")
	mark = p.out.len()
	p.send(t, "\x1b[B ") // down, space
	p.out.waitFor(t, mark, "1 of 2 collections chosen")
	mark = p.out.len()
	p.send(t, "\t\t\t\t") // top k, threshold, on error, template
	p.send(t, "Notes: {context}\rQ: {user_input}")
	p.out.waitFor(t, mark, "Q: What is entropy?")
	mark = p.out.len()
	p.send(t, "\x13") // ctrl+s
	p.out.waitFor(t, mark, "created Tutor")

	list, err := ts.svc.ListOrgAssistants(ctx, root, "acme", "Tutor", 0, 10)
	if err != nil || list.Total != 1 {
		t.Fatalf("assistants: %+v, %v", list, err)
	}
	a := list.Items[0]
	if a.KnowledgeBase == nil || strings.Join(a.KnowledgeBase.Collections, ",") != "2" || a.PromptTemplate != "Notes: {context}\nQ: {user_input}" {
		t.Fatalf("saved %+v, template %q", a.KnowledgeBase, a.PromptTemplate)
	}
	p.send(t, "q")
	p.ended(t)
}
