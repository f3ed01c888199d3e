package orgadmin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

type provMode int

const (
	provViewing provMode = iota
	provEditing
	provEditingKB
	provPicking // models from a test connection
	provSetupForm
	provConfirmDelete
	provConfirmActivate
	provQueryKB   // the form of a trial query of the knowledge base
	provKBResults // its results
)

// items of the providers screen, in order.
var provItems = []string{config.ProviderOpenAI, config.ProviderOllama, "knowledge_base"}

// Providers edits the provider settings of each setup of an org, tests the
// connection live, and manages the setups.
type Providers struct {
	c        *tui.Common
	slug     string
	cfg      *config.Org // secrets masked
	managed  map[string]string
	setup    string
	item     int
	mode     provMode
	form     *tui.Form
	confirm  *tui.Confirm
	target   string // the setup the open confirmation names
	check    *service.ProviderCheck
	checkOf  string // the item tested
	checkIn  string // the setup it was tested in, where the picked models go
	picked   map[string]bool
	pickAt   int
	renaming bool
	results  []service.KBResult // of the last trial query
	asked    string             // its question
	err      error
	width    int
	height   int
}

// NewProviders returns the providers screen of org slug.
func NewProviders(c *tui.Common, slug string) *Providers { return &Providers{c: c, slug: slug} }

type provLoadedMsg struct {
	owner   *Providers
	cfg     *config.Org
	managed map[string]string
	err     error
}

type provDoneMsg struct {
	owner *Providers
	text  string
	setup string // show this setup after success
	err   error
}

type provCheckMsg struct {
	owner *Providers
	setup string // the setup tested
	item  string
	check service.ProviderCheck
	err   error
}

var (
	keyEdit       = tui.Bind("enter", "edit")
	keyTest       = tui.Bind("t", "test connection")
	keyPrevSetup  = tui.Bind("[", "previous setup")
	keyNextSetup  = tui.Bind("]", "next setup")
	keyNewSetup   = tui.Bind("n", "new setup")
	keyRenSetup   = tui.Bind("R", "rename setup")
	keyDelSetup   = tui.Bind("D", "delete setup")
	keyActivate   = tui.Bind("a", "make setup active")
	keyPickToggle = tui.Bind("space", "enable/disable model")
	keyQueryKB    = tui.Bind("Q", "query knowledge base")
)

type provKBResultsMsg struct {
	owner   *Providers
	asked   string
	results []service.KBResult
	err     error
}

func (m *Providers) Title() string { return "Providers" }

func (m *Providers) Init() tea.Cmd {
	a, slug := m.c.Actor, m.slug
	return m.c.Do(func(ctx context.Context) tea.Msg {
		cfg, err := m.c.Svc.OrgConfig(ctx, a, slug, false)
		var managed map[string]string
		if err == nil {
			d, derr := m.c.Svc.GetOrg(ctx, a, slug)
			err, managed = derr, d.Managed
		}
		return provLoadedMsg{m, cfg, managed, err}
	})
}

func (m *Providers) SetSize(w, h int) {
	m.width, m.height = w, h
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Providers) Capturing() bool {
	return m.mode == provEditing || m.mode == provEditingKB || m.mode == provSetupForm || m.mode == provPicking ||
		m.mode == provQueryKB || m.mode == provKBResults
}

// Modal is true while a setup's deletion or activation is being confirmed.
func (m *Providers) Modal() bool { return m.mode == provConfirmDelete || m.mode == provConfirmActivate }

func (m *Providers) Keys() []key.Binding {
	switch m.mode {
	case provEditing, provEditingKB, provSetupForm, provQueryKB:
		return tui.FormKeys
	case provKBResults:
		return []key.Binding{tui.Bind("esc", "close")}
	case provPicking:
		return []key.Binding{tui.KeyUp, tui.KeyDown, keyPickToggle, tui.Bind("enter", "save models"), tui.Bind("esc", "close")}
	case provConfirmDelete, provConfirmActivate:
		return m.confirm.Keys()
	}
	return []key.Binding{tui.KeyUp, tui.KeyDown, keyEdit, keyTest, keyPrevSetup, keyNextSetup, keyNewSetup, keyRenSetup, keyDelSetup, keyActivate, keyQueryKB, tui.KeyRefresh}
}

func (m *Providers) currentSetup() *config.Setup { return m.setupNamed(m.setup) }

// setupNamed returns a setup of the loaded config, or nil.
func (m *Providers) setupNamed(name string) *config.Setup {
	if m.cfg == nil {
		return nil
	}
	s, _ := m.cfg.Setup(name)
	return s
}

func (m *Providers) do(text string, fn func(ctx context.Context) error) tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg {
		return provDoneMsg{owner: m, text: text, err: fn(ctx)}
	})
}

func (m *Providers) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		if m.mode == provViewing {
			return m, m.Init()
		}
		return m, nil
	case provLoadedMsg:
		if msg.owner != m {
			return m, nil
		}
		m.err = msg.err
		if msg.err == nil {
			m.cfg, m.managed = msg.cfg, msg.managed
			if _, ok := m.cfg.Setups[m.setup]; !ok {
				m.setup = m.cfg.ActiveSetup
			}
		}
		return m, nil
	case provDoneMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			if m.form != nil && m.mode != provViewing {
				m.form.SetError(msg.err)
				return m, nil
			}
			return m, tui.Error(msg.err)
		}
		m.mode, m.form = provViewing, nil
		if msg.setup != "" {
			m.setup = msg.setup
		}
		return m, tea.Batch(tui.Status(msg.text), m.Init())
	case provKBResultsMsg:
		if msg.owner != m || m.mode != provQueryKB {
			return m, nil
		}
		if msg.err != nil {
			m.form.SetError(msg.err)
			return m, nil
		}
		m.results, m.asked, m.mode, m.form = msg.results, msg.asked, provKBResults, nil
		return m, tui.Status(plural.N(len(msg.results), "chunk", "chunks") + " found")
	case provCheckMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			return m, tui.Error(msg.err)
		}
		// A test answers for the setup it ran in. If another setup is
		// showing now, or a form is open, its models are not offered: they
		// would be saved to the wrong setup.
		if msg.setup != m.setup || m.mode != provViewing {
			return m, tui.Status(fmt.Sprintf("the test of %s in setup %s finished after you moved on; press t to test again", msg.item, msg.setup))
		}
		m.check, m.checkOf, m.checkIn = &msg.check, msg.item, msg.setup
		if !msg.check.OK {
			return m, tui.Error(fmt.Errorf("%s", msg.check.Error))
		}
		if msg.item == "knowledge_base" {
			return m, tui.Status("knowledge base answered /health")
		}
		m.picked = map[string]bool{}
		if st := m.setupNamed(msg.setup); st != nil && st.Providers[msg.item] != nil {
			for _, mod := range st.Providers[msg.item].Models {
				m.picked[mod] = true
			}
		}
		m.pickAt, m.mode = 0, provPicking
		text := fmt.Sprintf("connected: %d models; pick the ones assistants may use", len(msg.check.Models))
		if n := msg.check.Refused; n > 0 {
			text += fmt.Sprintf(" (%d more left out: their ids hold control characters)", n)
		}
		return m, tui.Status(text)
	case tea.KeyMsg:
		return m.key(msg)
	}
	if m.form != nil && m.Capturing() {
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Providers) key(msg tea.KeyMsg) (tui.Screen, tea.Cmd) {
	a, slug, setup := m.c.Actor, m.slug, m.setup
	switch m.mode {
	case provKBResults:
		if msg.String() == "esc" {
			m.mode, m.results = provViewing, nil
		}
		return m, nil
	case provEditing, provEditingKB, provSetupForm, provQueryKB:
		submit, cancel, cmd := m.form.Update(msg)
		if cancel {
			m.mode, m.form = provViewing, nil
			return m, nil
		}
		if submit {
			return m, m.submit()
		}
		return m, cmd
	case provConfirmDelete, provConfirmActivate:
		mode, target := m.mode, m.target
		switch m.confirm.Update(msg) {
		case "esc":
			m.mode = provViewing
		case "y":
			m.mode = provViewing
			if mode == provConfirmActivate {
				return m, m.do(target+" is now the active setup", func(ctx context.Context) error {
					return m.c.Svc.SetActiveSetup(ctx, a, slug, target)
				})
			}
			return m, m.do("setup "+target+" deleted", func(ctx context.Context) error {
				return m.c.Svc.DeleteSetup(ctx, a, slug, target)
			})
		}
		return m, nil
	case provPicking:
		models := m.check.Models
		switch msg.String() {
		case "esc":
			m.mode = provViewing
		case "up", "k":
			m.pickAt = max(m.pickAt-1, 0)
		case "down", "j":
			m.pickAt = min(m.pickAt+1, max(len(models)-1, 0))
		case " ", "x":
			if len(models) > 0 {
				m.picked[models[m.pickAt]] = !m.picked[models[m.pickAt]]
			}
		case "enter":
			// The models go to the setup that was tested, whichever
			// shows now.
			name, tested := m.checkOf, m.checkIn
			m.mode = provViewing
			st := m.setupNamed(tested)
			if st == nil || st.Providers[name] == nil {
				return m, tui.Error(fmt.Errorf("%s is no longer set up in setup %s; nothing saved", name, tested))
			}
			p := st.Providers[name]
			var chosen []string
			for _, mod := range models {
				if m.picked[mod] {
					chosen = append(chosen, mod)
				}
			}
			in := service.ProviderInput{Enabled: p.Enabled, BaseURL: p.BaseURL, Models: chosen}
			if slices.Contains(chosen, p.DefaultModel) {
				in.DefaultModel = p.DefaultModel
			}
			return m, m.do(fmt.Sprintf("%s of setup %s: %d models enabled", name, tested, len(chosen)), func(ctx context.Context) error {
				return m.c.Svc.UpdateProvider(ctx, a, slug, tested, name, in)
			})
		}
		return m, nil
	}
	if m.cfg == nil {
		if key.Matches(msg, tui.KeyRefresh) {
			return m, m.Init()
		}
		return m, nil
	}
	names := m.cfg.SetupNames()
	at := slices.Index(names, m.setup)
	item := provItems[m.item]
	switch {
	case key.Matches(msg, tui.KeyRefresh):
		return m, m.Init()
	case key.Matches(msg, tui.KeyUp):
		m.item = max(m.item-1, 0)
	case key.Matches(msg, tui.KeyDown):
		m.item = min(m.item+1, len(provItems)-1)
	case key.Matches(msg, keyPrevSetup):
		m.setup = names[(at+len(names)-1)%len(names)]
	case key.Matches(msg, keyNextSetup):
		m.setup = names[(at+1)%len(names)]
	case key.Matches(msg, keyActivate):
		if setup == m.cfg.ActiveSetup {
			return m, tui.Status(setup + " is already the active setup")
		}
		m.target = setup
		m.confirm = tui.NewConfirm(m.c, "Make "+setup+" the active setup?",
			"Every assistant that isn't pinned to a setup answers with the providers of "+setup+" from its next request on, instead of "+m.cfg.ActiveSetup+". Assistants pinned to a setup keep theirs.")
		m.mode = provConfirmActivate
	case key.Matches(msg, keyNewSetup):
		m.renaming = false
		m.form = tui.NewForm(m.c, "New setup",
			tui.NewField(tui.TextField, "setup", "Name", "e.g. staging"),
			tui.NewField(tui.ToggleField, "copy", "Copy "+setup, "").WithHint("Start from a copy of "+setup+" (keys included) instead of empty."))
		m.form.SetWidth(m.width)
		m.mode = provSetupForm
	case key.Matches(msg, keyRenSetup):
		m.renaming = true
		m.form = tui.NewForm(m.c, "Rename setup "+setup, tui.NewField(tui.TextField, "setup", "New name", "").WithValue(setup))
		m.form.SetWidth(m.width)
		m.mode = provSetupForm
	case key.Matches(msg, keyDelSetup):
		if setup == m.cfg.ActiveSetup {
			return m, tui.Error(fmt.Errorf("%s is the active setup; make another setup active first (a)", setup))
		}
		m.target = setup
		m.confirm = tui.NewConfirm(m.c, "Delete setup "+setup+"?",
			"Its provider settings and keys are lost. Assistants pinned to it fall back to the active setup.")
		m.mode = provConfirmDelete
	case key.Matches(msg, keyQueryKB):
		m.form = tui.NewForm(m.c, "Query the knowledge base of "+setup,
			tui.NewField(tui.TextField, "collection", "Collection", "a collection id, e.g. 1"),
			tui.NewField(tui.TextField, "text", "Question", "what a student would ask"),
			tui.NewField(tui.TextField, "top_k", "Top k", "chunks to show, 1-20").WithValue(fmt.Sprint(service.DefaultTopK)))
		m.form.Intro = "Retrieval as an assistant of this setup does it, with the setup's URL and token."
		m.form.SetWidth(m.width)
		m.mode = provQueryKB
	case key.Matches(msg, keyTest):
		if item == "knowledge_base" {
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				c, err := m.c.Svc.TestKnowledgeBase(ctx, a, slug, setup)
				return provCheckMsg{m, setup, item, c, err}
			})
		}
		return m, m.c.Do(func(ctx context.Context) tea.Msg {
			c, err := m.c.Svc.TestProvider(ctx, a, slug, setup, item)
			return provCheckMsg{m, setup, item, c, err}
		})
	case key.Matches(msg, keyEdit) || msg.String() == "e":
		m.editForm(item)
	}
	return m, nil
}

func (m *Providers) editForm(item string) {
	st := m.currentSetup()
	if st == nil {
		return
	}
	if item == "knowledge_base" {
		kb := st.KnowledgeBase
		if kb == nil {
			kb = &config.KnowledgeBase{}
		}
		m.form = tui.NewForm(m.c, "Knowledge base of "+m.setup,
			tui.NewField(tui.TextField, "knowledge_base.url", "URL", "http://kb:9090").WithValue(kb.URL),
			tui.NewField(tui.PasswordField, "api_token", "Token", keepHint(kb.APIToken)),
			tui.NewField(tui.ToggleField, "clear", "Clear the token", ""))
		m.form.SetWidth(m.width)
		m.mode = provEditingKB
		return
	}
	p := st.Providers[item]
	if p == nil {
		p = &config.Provider{}
		if item == config.ProviderOpenAI {
			p.BaseURL = config.DefaultOpenAIBaseURL
		} else {
			p.BaseURL = config.DefaultOllamaBaseURL
		}
	}
	fields := []*tui.Field{
		tui.NewField(tui.ToggleField, "enabled", "Enabled", "").WithValue(fmt.Sprint(p.Enabled)),
		tui.NewField(tui.TextField, "base_url", "Base URL", "").WithValue(p.BaseURL),
	}
	if item == config.ProviderOpenAI {
		fields = append(fields,
			tui.NewField(tui.PasswordField, "api_key", "API key", keepHint(p.APIKey)),
			tui.NewField(tui.ToggleField, "clear", "Clear the API key", ""))
	}
	fields = append(fields,
		tui.NewField(tui.TextField, "models", "Models", "comma list, or use t (test connection) to pick").WithValue(strings.Join(p.Models, ", ")),
		tui.NewField(tui.TextField, "default_model", "Default model", "one of the models").WithValue(p.DefaultModel))
	m.form = tui.NewForm(m.c, fmt.Sprintf("%s in setup %s", item, m.setup), fields...)
	m.form.Intro = "The whole configuration is validated before it is saved."
	m.form.SetWidth(m.width)
	m.mode = provEditing
}

// resultsView lists what a trial query found, most similar first.
func (m *Providers) resultsView() string {
	st := m.c.Styles
	var b strings.Builder
	b.WriteString(" " + st.Title.Render("Knowledge base of "+safetext.Sanitize(m.setup)) + st.Muted.Render("  "+safetext.Sanitize(m.asked)) + "\n\n")
	if len(m.results) == 0 {
		b.WriteString(" " + st.Muted.Render("nothing found") + "\n")
	}
	width := max(m.width-8, 20)
	for i, r := range m.results {
		b.WriteString(fmt.Sprintf(" %d. %s %s %s\n", i+1, st.Label.Render(fmt.Sprintf("%.3f", r.Similarity)),
			safetext.Sanitize(r.Collection+" · "+r.Title), st.Muted.Render(safetext.Sanitize(r.URL))))
		text := []rune(strings.Join(strings.Fields(safetext.SanitizeLines(r.Data)), " "))
		if len(text) > 2*width {
			text = append(text[:2*width], '…')
		}
		b.WriteString("    " + string(text) + "\n")
	}
	b.WriteString("\n " + st.Muted.Render("esc closes") + "\n")
	return b.String()
}

func keepHint(secret string) string {
	if secret == "" {
		return "not set"
	}
	return "leave empty to keep " + secret
}

func (m *Providers) submit() tea.Cmd {
	a, slug, setup := m.c.Actor, m.slug, m.setup
	f := m.form
	switch m.mode {
	case provSetupForm:
		name := strings.TrimSpace(f.Value("setup"))
		if m.renaming {
			return m.c.Do(func(ctx context.Context) tea.Msg {
				err := m.c.Svc.RenameSetup(ctx, a, slug, setup, name)
				return provDoneMsg{owner: m, text: "setup renamed to " + name, setup: name, err: err}
			})
		}
		from := ""
		if f.Bool("copy") {
			from = setup
		}
		return m.c.Do(func(ctx context.Context) tea.Msg {
			err := m.c.Svc.AddSetup(ctx, a, slug, name, from)
			return provDoneMsg{owner: m, text: "setup " + name + " added", setup: name, err: err}
		})
	case provQueryKB:
		coll, text := f.Value("collection"), f.Value("text")
		topK, err := strconv.Atoi(strings.TrimSpace(f.Value("top_k")))
		if err != nil {
			f.SetError(&service.InvalidError{Field: "top_k", Message: "must be a whole number between 1 and 20"})
			return nil
		}
		return m.c.Do(func(ctx context.Context) tea.Msg {
			rs, err := m.c.Svc.KBQuery(ctx, a, slug, setup, coll, text, topK)
			return provKBResultsMsg{m, text, rs, err}
		})
	case provEditingKB:
		var token *string
		if t := f.Value("api_token"); t != "" || f.Bool("clear") {
			token = &t
		}
		u := f.Value("knowledge_base.url")
		return m.do("knowledge base saved", func(ctx context.Context) error {
			return m.c.Svc.UpdateKnowledgeBase(ctx, a, slug, setup, u, token)
		})
	}
	item := provItems[m.item]
	in := service.ProviderInput{
		Enabled: f.Bool("enabled"), BaseURL: f.Value("base_url"),
		Models: strings.Split(f.Value("models"), ","), DefaultModel: f.Value("default_model"),
	}
	if k := f.Value("api_key"); k != "" || f.Bool("clear") {
		in.APIKey = &k
	}
	return m.do(item+" saved", func(ctx context.Context) error {
		return m.c.Svc.UpdateProvider(ctx, a, slug, setup, item, in)
	})
}

func (m *Providers) View() string {
	st := m.c.Styles
	switch m.mode {
	case provEditing, provEditingKB, provSetupForm, provQueryKB:
		return m.form.View()
	case provKBResults:
		return m.resultsView()
	case provConfirmDelete, provConfirmActivate:
		return m.confirm.View()
	case provPicking:
		return m.pickView()
	}
	if m.err != nil {
		return " " + st.Error.Render(tui.ErrorText(m.err)) + "\n " + st.Muted.Render("r to retry")
	}
	if m.cfg == nil {
		return st.Muted.Render(" loading…")
	}
	var b strings.Builder
	var tabs []string
	for _, n := range m.cfg.SetupNames() {
		label := safetext.Sanitize(n)
		if n == m.cfg.ActiveSetup {
			label += " (active)"
		}
		if n == m.setup {
			tabs = append(tabs, st.ActiveTab.Render(label))
		} else {
			tabs = append(tabs, st.Tab.Render(label))
		}
	}
	b.WriteString(" " + st.Label.Render("Setups ") + strings.Join(tabs, " ") + st.Muted.Render("   [ ] switch") + "\n\n")
	s := m.currentSetup()
	if s == nil { // a setup just added or renamed: the reload is on its way
		return b.String() + st.Muted.Render(" loading…")
	}
	for i, item := range provItems {
		marker := "  "
		if i == m.item {
			marker = st.Focused.Render("▸ ")
		}
		b.WriteString(" " + marker + m.itemView(s, item) + "\n\n")
	}
	if m.check != nil && m.checkOf != "" && m.checkIn == m.setup {
		if m.check.OK {
			b.WriteString(" " + st.Success.Render(fmt.Sprintf("last test of %s: ok, %d models, %s", m.checkOf, len(m.check.Models), tui.Ago(m.check.At))) + "\n")
		} else {
			// The provider's explanation is long: wrapped, not cut.
			for _, l := range tui.Wrap("last test of "+m.checkOf+": "+safetext.Sanitize(m.check.Error), max(m.width-2, 20)) {
				b.WriteString(" " + st.Error.Render(l) + "\n")
			}
		}
	}
	return b.String()
}

func (m *Providers) managedMark(path string) string {
	if v, ok := m.managed[path]; ok && m.setup == config.DefaultSetupName {
		return m.c.Styles.Warning.Render(" (.env: " + safetext.Sanitize(v) + ")")
	}
	return ""
}

func (m *Providers) itemView(s *config.Setup, item string) string {
	st := m.c.Styles
	// Values are data (URLs, model names, the masked end of a key); what
	// follows them (managedMark) is drawn already.
	line := func(l, v, mark string) string {
		return "\n     " + st.Label.Render(pad(l, 14)) + " " + safetext.Sanitize(v) + mark
	}
	base := "setups." + m.setup + "."
	if item == "knowledge_base" {
		out := st.Title.Render("Knowledge base")
		kb := s.KnowledgeBase
		if kb == nil || kb.URL == "" {
			return out + st.Muted.Render("  not configured (enter to set)")
		}
		return out + line("URL", kb.URL, m.managedMark(base+"knowledge_base.url")) +
			line("Token", orDash(kb.APIToken), platformMark(st, kb.APITokenSource)+m.managedMark(base+"knowledge_base.api_token"))
	}
	title := map[string]string{config.ProviderOpenAI: "OpenAI", config.ProviderOllama: "Ollama"}[item]
	p := s.Providers[item]
	if p == nil {
		return st.Title.Render(title) + st.Muted.Render("  not configured (enter to set up)")
	}
	state := tui.YesNo(p.Enabled, st.Success.Render("enabled"), st.Muted.Render("disabled"))
	if s.DefaultProvider == item {
		state += st.Muted.Render(" · default provider")
	}
	pp := base + "providers." + item + "."
	out := st.Title.Render(title) + "  " + state +
		line("Base URL", p.BaseURL, m.managedMark(pp+"base_url"))
	if item == config.ProviderOpenAI {
		out += line("API key", orDash(p.APIKey), platformMark(st, p.APIKeySource)+m.managedMark(pp+"api_key"))
	}
	return out + line("Models", orDash(strings.Join(p.Models, ", ")), m.managedMark(pp+"models")) +
		line("Default model", orDash(p.DefaultModel), m.managedMark(pp+"default_model"))
}

// platformMark notes a credential the platform handed the org: it can be
// used, not read, and changing the URL needs a key of the org's own.
func platformMark(st *tui.Styles, source string) string {
	if source != config.SourceSystem {
		return ""
	}
	return st.Muted.Render(" (the platform's: usable, not readable; set your own to change the URL)")
}

func (m *Providers) pickView() string {
	st := m.c.Styles
	var b strings.Builder
	b.WriteString(" " + st.Title.Render(safetext.Sanitize("Models served by "+m.checkOf+" in setup "+m.checkIn)) + st.Muted.Render("  (space toggles, enter saves)") + "\n\n")
	models := m.check.Models
	if len(models) == 0 {
		b.WriteString(" " + st.Muted.Render("the provider lists no models") + "\n")
	}
	top := max(0, m.pickAt-(m.height-6))
	for i := top; i < len(models) && i < top+max(m.height-4, 3); i++ {
		box := "[ ]"
		if m.picked[models[i]] {
			box = st.Success.Render("[x]")
		}
		line := box + " " + safetext.Sanitize(models[i]) // ids a network peer sent
		if i == m.pickAt {
			line = st.Focused.Render("▸ ") + line
		} else {
			line = "  " + line
		}
		b.WriteString(" " + line + "\n")
	}
	return b.String()
}
