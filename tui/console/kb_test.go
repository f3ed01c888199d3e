package console

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/fakekb"
	"lamb/internal/fakeopenai"
	"lamb/service"
	"lamb/store"
)

// kbOrg is org physics with an admin, a member, an enabled provider and a
// knowledge base served by a fake that lists collections.
type kbOrg struct {
	*env
	admin, member service.Actor
	kb            *fakekb.Server
	srv           *httptest.Server
}

func newKBOrg(t *testing.T, collections ...string) *kbOrg {
	t.Helper()
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	o := &kbOrg{env: e, admin: e.actor(e.createUser("physics", "prof@uni.example", "admin", "")),
		member: e.actor(e.createUser("physics", "ann@uni.example", "member", "")), kb: fakekb.New("kb-token")}
	e.enableProvider("physics", "default", "openai", "gpt-a")
	for i, name := range collections {
		o.kb.AddCollection(fmt.Sprint(i+1), name)
	}
	o.srv = httptest.NewServer(o.kb)
	t.Cleanup(o.srv.Close)
	tok := "kb-token"
	if err := e.svc.UpdateKnowledgeBase(e.ctx, e.root(), "physics", "default", o.srv.URL, &tok); err != nil {
		t.Fatal(err)
	}
	return o
}

// toField moves the focus with tab to the field labelled label, and
// fails if tab goes round the form without reaching it.
func (d *driver) toField(label string) {
	d.t.Helper()
	for range 20 {
		if d.focusedField() == label {
			return
		}
		d.press("tab")
	}
	d.t.Fatalf("tab never reached %s:\n%s", label, d.view())
}

// focusedField is the label of the form field with the focus, or "".
func (d *driver) focusedField() string {
	for _, l := range strings.Split(d.view(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "▸ "); ok {
			label, _, _ := strings.Cut(rest, "  ")
			return strings.TrimSpace(label)
		}
	}
	return ""
}

// The collections field is a picker over what the org's knowledge base
// lists: space and enter toggle, the arrows move, the choice is saved in
// the order picked, and a second edit shows it.
func TestConsoleCollectionsPicker(t *testing.T) {
	o := newKBOrg(t, "Syllabus", "Lecture notes", "Exam archive")
	d := o.console(o.member)
	d.press("n")
	d.want("New assistant")
	d.typ("Tutor")
	d.toField("KB collections")
	d.want("0 of 3 collections chosen (at most 10)", "› [ ] 1 · Syllabus", "[ ] 2 · Lecture notes", "[ ] 3 · Exam archive",
		"space or enter picks")
	d.press("down", "down", " ") // Exam archive first
	d.want("› [x] 3 · Exam archive", "1 of 3 collections chosen")
	d.press("up", "up", "enter")
	d.want("› [x] 1 · Syllabus", "2 of 3 collections chosen")
	d.press("down", " ", " ") // picked and unpicked
	d.want("[ ] 2 · Lecture notes", "2 of 3 collections chosen")
	d.press("tab")
	if l, _ := d.field("KB collections"); !strings.Contains(l, "3 · Exam archive, 1 · Syllabus") {
		t.Errorf("collections field, unfocused: %q", l)
	}
	d.press("ctrl+s")
	d.want("created Tutor")
	p, err := o.svc.ListMyAssistants(o.ctx, o.member, "", 0, 10)
	if err != nil || p.Total != 1 {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
	a := p.Items[0]
	if a.KnowledgeBase == nil || strings.Join(a.KnowledgeBase.Collections, ",") != "3,1" {
		t.Fatalf("saved knowledge base %+v", a.KnowledgeBase)
	}

	// The knowledge base stops listing one: it stays, marked, so that a
	// save doesn't drop it unseen.
	o.kb.AddCollection("3", "") // still there, now without a name…
	d.press("enter")
	d.want("Edit Tutor")
	d.toField("KB collections")
	d.want("[x] 1 · Syllabus", "[x] 3")
	d.press("esc")
}

// At most 10 collections: the eleventh is refused on the spot, saying
// what to do, and nothing past the limit is saved.
func TestConsoleCollectionsPickerLimit(t *testing.T) {
	names := make([]string, 12)
	for i := range names {
		names[i] = fmt.Sprintf("Chapter %d", i+1)
	}
	o := newKBOrg(t, names...)
	d := o.console(o.member)
	d.press("n")
	d.typ("Reader")
	d.toField("KB collections")
	for range 10 {
		d.press(" ", "down")
	}
	d.press(" ")
	d.want("10 of 12 collections chosen", "at most 10 collections: unpick one first")
	d.press("down")
	d.wantNot("unpick one first") // the note goes with the next key
	d.press("ctrl+s")
	d.want("created Reader")
	p, err := o.svc.ListMyAssistants(o.ctx, o.member, "", 0, 10)
	if err != nil || p.Total != 1 || p.Items[0].KnowledgeBase == nil || len(p.Items[0].KnowledgeBase.Collections) != 10 {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
}

// A knowledge base that doesn't answer leaves free entry of ids, with a
// line that says why (the details only to the org's admins) and that
// typing works; ctrl+r asks again, and the picker keeps what was typed.
func TestConsoleCollectionsFreeEntryWhenTheKnowledgeBaseIsDown(t *testing.T) {
	o := newKBOrg(t, "Syllabus", "Lecture notes")
	o.srv.Close()

	d := o.console(o.admin)
	d.tab("Assistants")
	d.press("n")
	d.toField("KB collections")
	d.want("the knowledge base didn't answer", "unreachable", "type collection ids, comma-separated", "ctrl+r to ask it again")
	d.press("esc")

	d = o.console(o.member)
	d.press("n")
	d.typ("Tutor")
	d.toField("KB collections")
	d.want("the knowledge base didn't answer (ask an admin of your organization to check it)", "type collection ids")
	d.wantNot("127.0.0.1", "unreachable")
	d.typ("2, syllabus-old")

	// Back again: ctrl+r turns the field into the picker, what was typed
	// chosen.
	srv := httptest.NewServer(o.kb)
	defer srv.Close()
	tok := "kb-token"
	if err := o.svc.UpdateKnowledgeBase(o.ctx, o.root(), "physics", "default", srv.URL, &tok); err != nil {
		t.Fatal(err)
	}
	d.press("ctrl+r")
	d.want("2 of 3 collections chosen", "[ ] 1 · Syllabus", "[x] 2 · Lecture notes", "[x] syllabus-old · (not listed by the knowledge base)")
	d.press("ctrl+s")
	d.want("created Tutor")
	p, err := o.svc.ListMyAssistants(o.ctx, o.member, "", 0, 10)
	if err != nil || p.Total != 1 || p.Items[0].KnowledgeBase == nil || strings.Join(p.Items[0].KnowledgeBase.Collections, ",") != "2,syllabus-old" {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
}

// Free entry also serves an org whose active setup has no knowledge base,
// saying so; the service refuses collections there, and the form marks
// the field.
func TestConsoleCollectionsWithoutAKnowledgeBase(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	member := e.actor(e.createUser("physics", "ann@uni.example", "member", ""))
	e.enableProvider("physics", "default", "openai", "gpt-a")
	d := e.console(member)
	d.press("n")
	d.typ("Tutor")
	d.toField("KB collections")
	d.want("the active setup has no knowledge base", "Providers screen")
	d.typ("1")
	d.press("tab", "ctrl+s")
	if l, _ := d.field("KB collections"); !strings.Contains(l, "▸") {
		t.Fatalf("the refused field hasn't the focus:\n%s", d.view())
	}
	d.want("↳ setup default of the organization has no knowledge base")
}

// The prompt template is an editor of several lines with a preview of
// what the model receives for a sample question, checked as it is typed;
// the template saved is the lines typed.
func TestConsoleTemplatePreview(t *testing.T) {
	o := newKBOrg(t, "Syllabus")
	d := o.console(o.member)
	d.press("n")
	d.typ("Tutor")
	d.toField("KB collections")
	d.press(" ")
	d.toField("Prompt template")
	// Empty: the built-in template.
	d.want("What the model receives for \"What is entropy?\":", "┆ Use the following context", "┆ [a chunk found in the collections]",
		"┆ Question: What is entropy?")
	d.typ("Notes:")
	d.press("enter")
	d.typ("{context}")
	d.press("enter")
	d.typ("Q: {question}")
	d.want("┆ Notes:", "┆ [a chunk found in the collections]", "┆ Q: {question}",
		"✗ prompt_template: unknown placeholder {question}")
	for range len("{question}") {
		d.press("backspace")
	}
	d.typ("{user_input}")
	d.want("┆ Q: What is entropy?")
	d.wantNot("unknown placeholder")
	d.press("ctrl+s")
	d.want("created Tutor")
	p, err := o.svc.ListMyAssistants(o.ctx, o.member, "", 0, 10)
	if err != nil || p.Total != 1 || p.Items[0].PromptTemplate != "Notes:\n{context}\nQ: {user_input}" {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
}

// After a rejected save the marked field has the focus, so what is typed
// next goes there: the text fields, the system prompt's editor and the
// template's. Tab walks the fields in the order they are drawn, the
// editors of several lines included, and wraps; shift+tab goes back.
func TestConsoleAssistantFormFocusFollowsTheError(t *testing.T) {
	o := newKBOrg(t, "Syllabus")
	o.createAssistant(o.admin, service.AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-a"})
	d := o.console(o.admin)
	d.tab("Assistants")
	d.press("n")
	order := []string{"Owner", "Name", "Description", "Model", "Temperature", "System prompt", "KB collections",
		"KB top k", "KB threshold", "KB on error", "Prompt template", "Enabled"}
	focused := d.focusedField
	for i := range len(order) + 1 {
		if got, want := focused(), order[i%len(order)]; got != want {
			t.Fatalf("after %d tabs the focus is on %q, want %q", i, got, want)
		}
		d.press("tab")
	}
	for i := range len(order) + 1 { // from Name back round to Owner
		d.press("shift+tab")
		if got, want := focused(), order[(2*len(order)-i)%len(order)]; got != want {
			t.Fatalf("shift+tab %d times from Name: the focus is on %q, want %q", i+1, got, want)
		}
	}

	// A taken name, typed in the system prompt's editor before saving.
	d.toField("Name")
	d.typ("Tutor")
	d.toField("System prompt")
	d.typ("Be brief.")
	d.press("ctrl+s")
	if focused() != "Name" {
		t.Fatalf("after a taken name the focus is on %q:\n%s", focused(), d.view())
	}
	d.want("already has an assistant named")
	d.typ(" 2")
	if l, _ := d.field("Name"); !strings.Contains(l, "Tutor 2") {
		t.Fatalf("typing after the error: name field %q", l)
	}

	// Not a number, caught before the service.
	d.toField("Temperature")
	d.typ("warm")
	d.toField("System prompt")
	d.press("ctrl+s")
	if focused() != "Temperature" {
		t.Fatalf("after a bad temperature the focus is on %q", focused())
	}
	for range len("warm") {
		d.press("backspace")
	}

	// A template the service refuses: the focus goes into its editor.
	d.toField("KB collections")
	d.press(" ")
	d.toField("Prompt template")
	d.typ("{context}")
	d.toField("Name")
	d.press("ctrl+s")
	if focused() != "Prompt template" {
		t.Fatalf("after a refused template the focus is on %q:\n%s", focused(), d.view())
	}
	d.want("↳ must contain {user_input}")
	d.typ(" {user_input}")
	d.press("ctrl+s")
	d.want("created Tutor 2")
	p, err := o.svc.ListOrgAssistants(o.ctx, o.admin, "physics", "Tutor 2", 0, 10)
	if err != nil || p.Total != 1 || p.Items[0].PromptTemplate != "{context} {user_input}" || p.Items[0].SystemPrompt != "Be brief." {
		t.Fatalf("assistants: %+v, %v", p, err)
	}
}

// The form fits a terminal of 80×24 whichever field has the focus: it
// scrolls to keep the focused one whole.
func TestConsoleAssistantFormFits80x24(t *testing.T) {
	o := newKBOrg(t, "Syllabus", "Lecture notes", "Exam archive", "Lab manual", "Textbook", "FAQ", "Glossary")
	d := o.console(o.admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Assistants")
	d.press("n")
	for range 13 {
		d.fits(80, 24)
		d.press("tab")
	}
	d.toField("Prompt template")
	d.want("┆ Question: What is entropy?", "↑", "more lines above")
	d.toField("KB collections")
	d.want("› [ ] 1 · Syllabus", "1-6 of 7")
}

// Usage by assistant shows, for an assistant with collections, what
// retrieval costs a request: its time and the chunks it adds.
func TestConsoleUsageShowsRetrieval(t *testing.T) {
	o := newKBOrg(t, "Syllabus")
	tutor := o.createAssistant(o.member, service.AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-a",
		KnowledgeBase: &service.AssistantKB{Collections: []string{"1"}}})
	plain := o.createAssistant(o.member, service.AssistantInput{Name: "Plain", Provider: "openai", Model: "gpt-a"})
	now := time.Now()
	var events []store.UsageEvent
	for i, ms := range []int64{30, 50} {
		events = append(events, store.UsageEvent{OrganizationID: o.member.OrgID, AssistantID: tutor.ID, UserID: o.member.UserID,
			Status: "ok", HTTPStatus: 200, Retrieved: true, KBMS: ms, KBChunks: int64(2 + i), CreatedAt: now})
	}
	events = append(events, store.UsageEvent{OrganizationID: o.member.OrgID, AssistantID: plain.ID, UserID: o.member.UserID,
		Status: "ok", HTTPStatus: 200, CreatedAt: now})
	if err := o.st.InTx(o.ctx, func(tx *store.Tx) error { return tx.InsertUsage(o.ctx, events) }); err != nil {
		t.Fatal(err)
	}
	want := "↳ knowledge base: 40 ms and 2.5 chunks per request (2 requests)"
	for _, who := range []service.Actor{o.member, o.admin} {
		d := o.console(who)
		d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
		d.tab(map[bool]string{true: "My usage", false: "Usage"}[who == o.member])
		row, next := d.scrollTo("By assistant", "Tutor (#")
		if !strings.Contains(next, want) {
			t.Errorf("%s: under %q: %q, want %q", who.Email, row, next, want)
		}
		if _, next := d.scrollTo("By assistant", "Plain (#"); strings.Contains(next, "knowledge base") {
			t.Errorf("%s: an assistant without collections shows retrieval: %q", who.Email, next)
		}
		d.fits(80, 24)
	}
}

// The dashboard shows the knowledge base's last test beside the
// providers', remembered across sessions, and t tests them all from
// there.
func TestConsoleDashboardKnowledgeBaseStatus(t *testing.T) {
	o := newKBOrg(t, "Syllabus")
	fake := fakeopenai.New()
	provider := httptest.NewServer(fake)
	defer provider.Close()
	o.enableProviderAt("physics", "default", "openai", provider.URL+"/v1", "gpt-a")

	d := o.console(o.admin)
	d.tab("Dashboard")
	kbLine := func() (string, string) {
		d.t.Helper()
		return d.line("knowledge base     ")
	}
	if l, next := kbLine(); !strings.Contains(l, o.srv.URL) || !strings.Contains(l, "token set") || !strings.Contains(next, "not tested yet: t tests it") {
		t.Fatalf("before a test: %q / %q", l, next)
	}
	d.press("t")
	d.want("connections tested: all answered")
	if _, next := kbLine(); !strings.Contains(next, "test ok just now") {
		t.Fatalf("after a test: %q", next)
	}
	if _, next := d.line("openai             enabled"); !strings.Contains(next, "test ok just now") {
		t.Fatalf("provider after a test: %q", next)
	}

	o.srv.Close()
	d.press("t")
	d.want("test failed: knowledge base; the reason is on its line")
	if _, next := kbLine(); !strings.Contains(next, "test failed just now") || !strings.Contains(next, "knowledge base at") {
		t.Fatalf("after a failed test: %q", next)
	}

	// Remembered: a new session shows the last result.
	d = o.console(o.admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Dashboard")
	if _, next := kbLine(); !strings.Contains(next, "test failed") {
		t.Fatalf("in a new session: %q", next)
	}
	d.fits(80, 24)

	// Nothing to test says where to set things up.
	o.createOrg("chem", "Chemistry")
	chem := o.console(o.actor(o.createUser("chem", "cho@uni.example", "admin", "")))
	chem.tab("Dashboard")
	chem.press("t")
	chem.want("setup default has no knowledge base and no enabled provider to test; set them up on the Providers screen")

	// Members have no dashboard.
	m := o.console(o.member)
	if strings.Contains(m.activeTabLine(), "Dashboard") {
		t.Fatalf("a member's tabs: %q", m.activeTabLine())
	}
}
