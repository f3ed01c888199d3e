package console

import (
	"net/http/httptest"
	"strings"
	"testing"

	"lamb/internal/fakekb"
	"lamb/service"
)

// Saving an assistant without touching the model picker keeps its
// provider, model and setup. The picker used to select its first option
// whenever the assistant's own wasn't listed exactly: an assistant pinned
// to the active setup by name, or using a model no list offers, silently
// changed model and lost its pin.
func TestConsoleEditAssistantKeepsItsModel(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	e.enableProvider("physics", "default", "openai", "gpt-a", "gpt-b")
	if err := e.svc.AddSetup(e.ctx, e.root(), "physics", "staging", ""); err != nil {
		t.Fatal(err)
	}
	e.enableProvider("physics", "staging", "ollama") // no list: any model, default none
	pinned := e.createAssistant(admin, service.AssistantInput{Name: "Pinned", Provider: "openai", Model: "gpt-b", Setup: "default"})
	custom := e.createAssistant(admin, service.AssistantInput{Name: "Custom", Provider: "ollama", Model: "llama-custom", Setup: "staging"})
	follows := e.createAssistant(admin, service.AssistantInput{Name: "Follows", Provider: "openai", Model: "gpt-b"})

	d := e.console(admin)
	d.tab("Assistants")
	for _, a := range []service.Assistant{pinned, custom, follows} {
		d.selectRow(a.Name)
		d.press("enter")
		d.want("Edit " + a.Name)
		d.press("ctrl+s")
		d.want("saved " + a.Name)
		got, err := e.svc.GetAssistant(e.ctx, admin, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Provider != a.Provider || got.LLM != a.LLM || got.Setup != a.Setup {
			t.Errorf("%s after a save: %s · %s (setup %q), was %s · %s (setup %q)", a.Name, got.Provider, got.LLM, got.Setup, a.Provider, a.LLM, a.Setup)
		}
	}

	// A model nobody offers any more is shown as current; saving it is
	// the service's call, with its reason, never a silent switch.
	e.enableProvider("physics", "default", "openai", "gpt-a")
	d.press("r") // reloads the models too
	d.selectRow("Pinned")
	d.press("enter")
	if l, _ := d.field("Model"); !strings.Contains(l, "(current) openai · gpt-b") {
		t.Fatalf("model field %q", l)
	}
	d.press("ctrl+s")
	d.want("gpt-b is not offered")
	if got, _ := e.svc.GetAssistant(e.ctx, admin, pinned.ID); got.LLM != "gpt-b" {
		t.Fatalf("Pinned's model %s", got.LLM)
	}
}

// When the active setup enables no provider, the models offered come from
// other setups and say so; a new assistant is pinned to the one picked.
func TestConsoleNewAssistantWhenTheActiveSetupHasNoProvider(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	if err := e.svc.AddSetup(e.ctx, e.root(), "physics", "staging", ""); err != nil {
		t.Fatal(err)
	}
	e.enableProvider("physics", "staging", "openai", "gpt-a")
	d := e.console(admin)
	d.tab("Assistants")
	d.press("n")
	if l, _ := d.field("Model"); !strings.Contains(l, "openai · gpt-a (setup staging)") {
		t.Fatalf("model field %q", l)
	}
	d.press("tab")
	d.typ("Tutor")
	d.press("ctrl+s")
	d.want("created Tutor")
	p, err := e.svc.ListOrgAssistants(e.ctx, admin, "physics", "", 0, 10)
	if err != nil || p.Total != 1 {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
	if a := p.Items[0]; a.Setup != "staging" || a.LLM != "gpt-a" {
		t.Fatalf("Tutor: %s (setup %q)", a.LLM, a.Setup)
	}
}

// "No provider is enabled" is said only when the org's models loaded and
// there are none, not while they load.
func TestConsoleNewAssistantWhileModelsLoad(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "ann@uni.example", "member", "")
	e.enableProvider("physics", "default", "openai", "gpt-a")
	m := New(e.common(e.actor(fp)), true, "")
	d := &driver{t: t, m: m}
	d.held = append(d.held, m.Init()) // a member's first screen, My assistants, is loading
	d.press("n")
	d.want("working…")
	d.wantNot("no provider is enabled", "New assistant")
	d.release() // the editor opens when the models are there
	d.want("New assistant", "openai · gpt-a")
}

// The form shows an assistant's knowledge-base settings and template, and
// saving it untouched keeps them, a template of several lines included.
func TestConsoleEditAssistantKeepsItsKnowledgeBase(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	e.enableProvider("physics", "default", "openai", "gpt-a")
	fake := fakekb.New("kb-token")
	fake.AddCollection("1", "Syllabus")
	fake.AddCollection("syllabus", "Old syllabus")
	kbSrv := httptest.NewServer(fake)
	defer kbSrv.Close()
	tok := "kb-token"
	if err := e.svc.UpdateKnowledgeBase(e.ctx, e.root(), "physics", "default", kbSrv.URL, &tok); err != nil {
		t.Fatal(err)
	}
	kb := &service.AssistantKB{Collections: []string{"1", "syllabus"}, TopK: 5, Threshold: 0.25, OnError: service.KBContinue}
	a := e.createAssistant(admin, service.AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-a",
		KnowledgeBase: kb, PromptTemplate: "Notes:\n{context}\n\nQ: {user_input}"})

	d := e.console(admin)
	d.tab("Assistants")
	d.selectRow("Tutor")
	d.press("enter")
	d.want("Edit Tutor")
	if l, _ := d.field("KB collections"); !strings.Contains(l, "1 · Syllabus, syllabus · Old syllabus") {
		t.Errorf("collections field %q", l)
	}
	if l, next := d.field("Prompt template"); !strings.Contains(l, "4 lines") || !strings.Contains(next, "│ Notes:") {
		t.Errorf("template field %q, %q", l, next)
	}
	d.press("shift+tab", "shift+tab") // from Name, back over Enabled to the template
	d.want("What the model receives for \"What is entropy?\"", "┆ Notes:", "┆ [a chunk found in the collections]", "┆ Q: What is entropy?")
	d.press("ctrl+s")
	d.want("saved Tutor")
	got, err := e.svc.GetAssistant(e.ctx, admin, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.KnowledgeBase; g == nil || strings.Join(g.Collections, ",") != "1,syllabus" || g.TopK != 5 || g.Threshold != 0.25 ||
		g.OnError != service.KBContinue || got.PromptTemplate != a.PromptTemplate {
		t.Errorf("after a save: %+v %q", got.KnowledgeBase, got.PromptTemplate)
	}
}

// An org admin tries retrieval from the Providers screen: the chunks of a
// collection most similar to a question, from the setup's knowledge base
// with its token.
func TestConsoleQueriesTheKnowledgeBase(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	fake := fakekb.New("kb-token")
	fake.AddCollection("1", "Syllabus", fakekb.Chunk{Similarity: 0.8, Data: "Entropy measures disorder.", Metadata: map[string]any{"filename": "thermo.pdf"}})
	kbSrv := httptest.NewServer(fake)
	defer kbSrv.Close()
	tok := "kb-token"
	if err := e.svc.UpdateKnowledgeBase(e.ctx, e.root(), "physics", "default", kbSrv.URL, &tok); err != nil {
		t.Fatal(err)
	}
	d := e.console(admin)
	d.tab("Providers")
	d.press("Q")
	d.want("Query the knowledge base of default")
	d.typ("1")
	d.press("tab")
	d.typ("What is entropy?")
	d.press("ctrl+s")
	d.want("1 chunk found", "0.800", "thermo.pdf", "Entropy measures disorder.")
	if q := fake.Queries(); len(q) != 1 || q[0].Token != "kb-token" || q[0].QueryText != "What is entropy?" {
		t.Errorf("queries %+v", q)
	}
	d.press("esc")
	d.wantNot("Entropy measures disorder.")
}

// An org admin enabled a provider while a member had My assistants open:
// `n` looks again before saying there is none, and the form opens
// without the list's old message.
func TestConsoleNewAssistantSeesAProviderEnabledMeanwhile(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "ann@uni.example", "member", "")
	m := New(e.common(e.actor(fp)), true, "")
	d := &driver{t: t, m: m}
	d.run(m.Init())
	d.press("n")
	d.want("no provider is enabled")
	e.enableProvider("physics", "default", "openai", "gpt-a")
	d.press("n")
	d.want("New assistant", "openai · gpt-a")
	d.wantNot("no provider is enabled")
}
