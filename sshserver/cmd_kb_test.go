package sshserver

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/internal/fakekb"
	"lamb/service"
)

// withKB gives acme's default setup a fake knowledge base with one
// collection.
func (e *memberOrgs) withKB(t *testing.T) *fakekb.Server {
	t.Helper()
	kb := fakekb.New("kb-token-acme")
	kb.AddCollection("1", "Syllabus", fakekb.Chunk{Similarity: 0.8, Data: "Entropy measures disorder.", Metadata: map[string]any{"filename": "thermo.pdf"}})
	srv := httptest.NewServer(kb)
	t.Cleanup(srv.Close)
	tok := "kb-token-acme"
	if err := e.svc.UpdateKnowledgeBase(context.Background(), e.adminActor(t), "acme", "default", srv.URL, &tok); err != nil {
		t.Fatal(err)
	}
	return kb
}

func TestAssistantKnowledgeBaseFlags(t *testing.T) {
	e := newMemberOrgs(t)
	// Without a knowledge base in the setup, the flag's field is named.
	e.run(t, e.acmeMember, "", "assistant", "create", "--name", "Tutor", "--provider", "openai", "--kb-collections", "1").
		wantFail(t, 1, "knowledge_base.collections")
	e.withKB(t)
	a := e.createAssistant(t, e.acmeMember, "--name", "Tutor", "--provider", "openai", "--kb-collections", "1, 2",
		"--kb-top-k", "5", "--kb-threshold", "0.2", "--kb-on-error", "continue", "--prompt-template", "C: {context} Q: {user_input}")
	if kb := a.KnowledgeBase; kb == nil || strings.Join(kb.Collections, ",") != "1,2" || kb.TopK != 5 || kb.Threshold != 0.2 ||
		kb.OnError != "continue" || a.PromptTemplate != "C: {context} Q: {user_input}" {
		t.Fatalf("created %+v %q", a.KnowledgeBase, a.PromptTemplate)
	}
	// Update changes one setting and keeps the others.
	up := assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "update", a.Model, "--json", "--kb-top-k", "7").wantOK(t))
	if kb := up.KnowledgeBase; kb == nil || kb.TopK != 7 || strings.Join(kb.Collections, ",") != "1,2" || up.PromptTemplate != a.PromptTemplate {
		t.Errorf("updated %+v %q", up.KnowledgeBase, up.PromptTemplate)
	}
	// An unrelated update keeps them all.
	up = assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "update", a.Model, "--json", "--description", "x").wantOK(t))
	if up.KnowledgeBase == nil || up.KnowledgeBase.TopK != 7 || up.PromptTemplate == "" {
		t.Errorf("a description update lost the knowledge base: %+v", up)
	}
	e.run(t, e.acmeMember, "", "assistant", "update", a.Model, "--prompt-template", "{context} {answer}").
		wantFail(t, 1, "prompt_template", "{answer}")
	e.run(t, e.acmeMember, "", "assistant", "update", a.Model, "--kb-threshold", "2").wantFail(t, 1, "knowledge_base.threshold")
	out := e.run(t, e.acmeMember, "", "assistant", "show", a.Model).wantOK(t).stdout
	if !strings.Contains(out, "collections 1,2, top 7") || !strings.Contains(out, "C: {context} Q: {user_input}") {
		t.Errorf("show:\n%s", out)
	}
	// --kb-collections= removes retrieval.
	up = assistantJSON(t, e.run(t, e.acmeMember, "", "assistant", "update", a.Model, "--json", "--kb-collections=").wantOK(t))
	if up.KnowledgeBase != nil {
		t.Errorf("still %+v", up.KnowledgeBase)
	}
}

func TestKBCommands(t *testing.T) {
	e := newMemberOrgs(t)
	kb := e.withKB(t)
	out := e.run(t, e.acmeAdmin, "", "kb", "collections").wantOK(t).stdout
	if !strings.Contains(out, "Syllabus") {
		t.Errorf("collections:\n%s", out)
	}
	var list []service.KBCollection
	decode(t, e.run(t, e.admin, "", "kb", "collections", "--org", "acme", "--json").wantOK(t), &list)
	if len(list) != 1 || list[0].ID != "1" {
		t.Errorf("system admin's list %+v", list)
	}
	out = e.run(t, e.acmeAdmin, "", "kb", "query", "1", "What is entropy?").wantOK(t).stdout
	if !strings.Contains(out, "Entropy measures disorder.") || !strings.Contains(out, "thermo.pdf") {
		t.Errorf("query:\n%s", out)
	}
	if qs := kb.Queries(); len(qs) != 1 || qs[0].Token != "kb-token-acme" || qs[0].QueryText != "What is entropy?" {
		t.Errorf("queries %+v", qs)
	}
	// Members can't; another org's admin can't look into acme's.
	e.run(t, e.acmeMember, "", "kb", "collections").wantFail(t, 1, "permission denied")
	e.run(t, e.acmeMember, "", "kb", "query", "1", "x").wantFail(t, 1, "permission denied")
	e.run(t, e.globexAdmin, "", "kb", "collections", "--org", "acme").wantFail(t, 1)
	if len(kb.Queries()) != 1 {
		t.Errorf("a refused command reached the knowledge base")
	}
	// A failing knowledge base says so, without its token.
	kb.SetMode(fakekb.ServerError)
	r := e.run(t, e.acmeAdmin, "", "kb", "query", "1", "x").wantFail(t, 1, "knowledge base unavailable", "HTTP 500")
	if strings.Contains(r.stderr, "kb-token-acme") {
		t.Errorf("token in %q", r.stderr)
	}
}
