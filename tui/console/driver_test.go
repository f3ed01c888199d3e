package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
	"lamb/tui"
)

// The test console has the size of a roomy terminal.
const (
	termWidth  = 120
	termHeight = 40
)

// env is a real service over a real SQLite store in a temp dir, with the
// system org synced and a bootstrap system admin.
type env struct {
	t       *testing.T
	ctx     context.Context
	svc     *service.Service
	st      *store.Store
	rootKey string // the system admin's authorized-key line
	rootFP  string
}

const rootEmail = "root@uni.example"

func newEnv(t *testing.T, opts ...func(*service.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	deps := service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&deps)
	}
	svc := service.New(deps)
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		t.Fatal(err)
	}
	line, fp := newKey(t)
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), []string{line}, rootEmail, "Root"); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, svc: svc, st: st, rootKey: line, rootFP: fp}
}

// newKey makes an ed25519 key and returns its authorized-key line and
// fingerprint.
func newKey(t *testing.T) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk))), gossh.FingerprintSHA256(pk)
}

// root is the bootstrap system admin as the service sees them.
func (e *env) root() service.Actor {
	e.t.Helper()
	return e.actor(e.rootFP)
}

func (e *env) actor(fp string) service.Actor {
	e.t.Helper()
	a, err := e.svc.ActorForSSHKey(e.ctx, fp)
	if err != nil {
		e.t.Fatalf("actor for %s: %v", fp, err)
	}
	return a
}

// createOrg creates an org as the system admin, without an admin.
func (e *env) createOrg(slug, name string) {
	e.t.Helper()
	if _, err := e.svc.CreateOrg(e.ctx, e.root(), service.CreateOrgInput{Slug: slug, Name: name}); err != nil {
		e.t.Fatalf("create org %s: %v", slug, err)
	}
}

// createUser creates a user with a password and an SSH key and returns the
// key's fingerprint.
func (e *env) createUser(org, email, role, password string) string {
	e.t.Helper()
	line, fp := newKey(e.t)
	_, err := e.svc.CreateUser(e.ctx, e.root(), service.CreateUserInput{
		OrgSlug: org, Email: email, Name: "User " + strings.Split(email, "@")[0], Role: role, Password: password, SSHKey: line})
	if err != nil {
		e.t.Fatalf("create user %s: %v", email, err)
	}
	return fp
}

// user returns a user as the system admin sees them.
func (e *env) user(email string) service.User {
	e.t.Helper()
	u, err := e.svc.GetUser(e.ctx, e.root(), email)
	if err != nil {
		e.t.Fatalf("get user %s: %v", email, err)
	}
	return u
}

// common returns the session state of a console for actor, with a
// renderer that keeps colors and attributes so the selected row (reverse
// video) can be found in the view.
func (e *env) common(a service.Actor) *tui.Common {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	r.SetHasDarkBackground(true)
	return &tui.Common{Ctx: e.ctx, Svc: e.svc, Actor: a, Styles: tui.NewStyles(r), Width: termWidth, Height: termHeight}
}

// console starts the console of a signed-in actor.
func (e *env) console(a service.Actor) *driver {
	e.t.Helper()
	return newDriver(e.t, New(e.common(a), true, ""))
}

// driver runs a Bubble Tea model without a terminal: it delivers messages
// to Update and executes the returned commands synchronously, feeding their
// messages back, until nothing is left to do.
type driver struct {
	t       *testing.T
	m       tea.Model
	quit    bool
	steps   int
	holding bool
	held    []tea.Cmd
}

// maxSteps bounds the commands one input may cause.
const maxSteps = 200

// cmdDeadline bounds one command (a service call).
const cmdDeadline = 20 * time.Second

// newDriver initializes m and sends it the terminal's size, as a program
// does at start.
func newDriver(t *testing.T, m tea.Model) *driver {
	t.Helper()
	d := &driver{t: t, m: m}
	d.run(m.Init())
	d.send(tea.WindowSizeMsg{Width: termWidth, Height: termHeight})
	return d
}

// send delivers msg and everything it causes.
func (d *driver) send(msg tea.Msg) {
	d.t.Helper()
	d.steps = 0
	if d.holding {
		var next tea.Cmd
		d.m, next = d.m.Update(msg)
		d.held = append(d.held, next)
		return
	}
	d.run(func() tea.Msg { return msg })
}

// hold delivers the inputs of fn but holds back the commands they cause,
// as a slow server would: their results arrive when release runs them.
// Tests act with a service call in flight this way.
func (d *driver) hold(fn func()) {
	d.t.Helper()
	d.holding = true
	defer func() { d.holding = false }()
	fn()
}

// release runs the commands hold kept back, and everything they cause.
func (d *driver) release() {
	d.t.Helper()
	held := d.held
	d.held = nil
	for _, c := range held {
		d.steps = 0
		d.run(c)
	}
}

// press sends keys by their names: "enter", "esc", "tab", "ctrl+s",
// "ctrl+b", "ctrl+end", "end", "up", "down", or runes ("n", "/").
func (d *driver) press(keys ...string) {
	d.t.Helper()
	for _, k := range keys {
		d.send(keyMsg(k))
	}
}

// typ types text one key at a time.
func (d *driver) typ(text string) {
	d.t.Helper()
	for _, r := range text {
		if r == ' ' {
			d.send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
			continue
		}
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

var namedKeys = map[string]tea.KeyType{
	"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
	"ctrl+s": tea.KeyCtrlS, "ctrl+b": tea.KeyCtrlB, "ctrl+c": tea.KeyCtrlC, "ctrl+o": tea.KeyCtrlO,
	"ctrl+end": tea.KeyCtrlEnd, "end": tea.KeyEnd, "home": tea.KeyHome,
	"up": tea.KeyUp, "down": tea.KeyDown, "backspace": tea.KeyBackspace,
}

func keyMsg(k string) tea.KeyMsg {
	if t, ok := namedKeys[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// run executes cmd and every command that follows from it.
func (d *driver) run(cmd tea.Cmd) {
	d.t.Helper()
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil || waits(c) {
			continue
		}
		d.steps++
		if d.steps > maxSteps {
			d.t.Fatalf("one input caused more than %d commands: a command loop?", maxSteps)
		}
		msg := d.exec(c)
		switch msg := msg.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		case tea.QuitMsg:
			d.quit = true
			continue
		}
		if cmds, ok := sequence(msg); ok {
			queue = append(queue, cmds...)
			continue
		}
		if strings.Contains(strings.ToLower(reflect.TypeOf(msg).String()), "blink") {
			continue
		}
		var next tea.Cmd
		d.m, next = d.m.Update(msg)
		if _, tick := msg.(spinner.TickMsg); tick {
			continue // the next tick only sleeps and spins
		}
		queue = append(queue, next)
	}
}

// exec runs one command with a deadline.
func (d *driver) exec(c tea.Cmd) tea.Msg {
	d.t.Helper()
	ch := make(chan tea.Msg, 1)
	go func() { ch <- c() }()
	select {
	case msg := <-ch:
		return msg
	case <-time.After(cmdDeadline):
		d.t.Fatalf("command %s did not return within %s", funcName(c), cmdDeadline)
		return nil
	}
}

// waits reports commands that only wait for time to pass: cursor blinks
// and ticks. A terminal-less test has no use for them.
func waits(c tea.Cmd) bool {
	name := funcName(c)
	return strings.Contains(name, "bubbles/cursor.") ||
		strings.Contains(name, "bubbletea.Tick.") ||
		strings.Contains(name, "bubbletea.Every.")
}

func funcName(c tea.Cmd) string {
	if f := runtime.FuncForPC(reflect.ValueOf(c).Pointer()); f != nil {
		return f.Name()
	}
	return "?"
}

// sequence unpacks tea.Sequence's unexported message (a []tea.Cmd).
func sequence(msg tea.Msg) ([]tea.Cmd, bool) {
	v := reflect.ValueOf(msg)
	if v.Kind() != reflect.Slice || v.Type().Elem() != reflect.TypeFor[tea.Cmd]() {
		return nil, false
	}
	cmds := make([]tea.Cmd, v.Len())
	for i := range cmds {
		cmds[i] = v.Index(i).Interface().(tea.Cmd)
	}
	return cmds, true
}

// view is the screen as text.
func (d *driver) view() string { return ansi.Strip(d.m.View()) }

// flat is the screen as one line of words, without box borders, so that a
// sentence wrapped inside a box can be found.
func (d *driver) flat() string { return flatten(d.view()) }

func flatten(s string) string {
	s = strings.NewReplacer("│", " ", "╭", " ", "╮", " ", "╰", " ", "╯", " ", "─", " ").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// reverse matches the SGR sequence that turns on reverse video, which
// only the selected row uses.
var reverse = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?7(?:;[0-9;]*)?m`)

// selected is the selected row as text, or "".
func (d *driver) selected() string {
	for _, line := range strings.Split(d.m.View(), "\n") {
		if reverse.MatchString(line) {
			return ansi.Strip(line)
		}
	}
	return ""
}

// selectRow moves the cursor down (from the top) until the selected row
// holds text.
func (d *driver) selectRow(text string) {
	d.t.Helper()
	d.press("home")
	for range 60 {
		if strings.Contains(d.selected(), text) {
			return
		}
		d.press("down")
	}
	d.t.Fatalf("no row with %q could be selected; screen:\n%s", text, d.view())
}

// tab switches to the screen titled title: with its key when the tab bar
// shows one (1-9, 0, m for My account), else with tab until it is the
// active one (the bar may be scrolled).
func (d *driver) tab(title string) {
	d.t.Helper()
	re := regexp.MustCompile(`(?:^|\s)([0-9m]) ` + regexp.QuoteMeta(title) + `(?:\s|$)`)
	if m := re.FindStringSubmatch(d.activeTabLine()); m != nil {
		d.press(m[1])
		if d.activeTab() != title {
			d.t.Fatalf("key %s opened %q, not %q", m[1], d.activeTab(), title)
		}
		return
	}
	// Start from the last numbered screen: screens that take text (a
	// form that always has focus) keep tab to themselves.
	if all := regexp.MustCompile(`(?:^|\s)([0-9]) `).FindAllStringSubmatch(d.activeTabLine(), -1); len(all) > 0 {
		d.press(all[len(all)-1][1])
	}
	for range 20 {
		if d.activeTab() == title {
			return
		}
		d.press("tab")
	}
	d.t.Fatalf("no screen %q; the tab bar shows %q", title, d.activeTabLine())
}

// sgr matches one SGR sequence and the text printed after it.
var sgr = regexp.MustCompile(`\x1b\[([0-9;]*)m([^\x1b]*)`)

// underlined returns the text of line printed with underline on: the
// active tab's title.
func underlined(line string) string {
	var b strings.Builder
	for _, m := range sgr.FindAllStringSubmatch(line, -1) {
		ps := strings.Split(m[1], ";")
		on := false
		for i := 0; i < len(ps); i++ {
			switch ps[i] {
			case "38", "48", "58": // extended color: skip its arguments
				if i+1 < len(ps) && ps[i+1] == "5" {
					i += 2
				} else if i+1 < len(ps) && ps[i+1] == "2" {
					i += 4
				}
			case "4":
				on = true
			}
		}
		if on {
			b.WriteString(m[2])
		}
	}
	return strings.TrimSpace(b.String())
}

// activeTabLine is the tab bar as text.
func (d *driver) activeTabLine() string {
	for _, l := range strings.Split(d.m.View(), "\n") {
		if underlined(l) != "" {
			return ansi.Strip(l)
		}
	}
	return ""
}

// activeTab is the title of the active screen, without its number.
func (d *driver) activeTab() string {
	for _, l := range strings.Split(d.m.View(), "\n") {
		if u := underlined(l); u != "" {
			if len(u) > 2 && (u[0] >= '0' && u[0] <= '9' || u[0] == 'm') && u[1] == ' ' {
				return u[2:]
			}
			return u
		}
	}
	return ""
}

// want fails unless the screen holds every one of texts.
func (d *driver) want(texts ...string) {
	d.t.Helper()
	v := d.view()
	for _, s := range texts {
		if !strings.Contains(v, s) && !strings.Contains(flatten(v), s) {
			d.t.Fatalf("screen lacks %q:\n%s", s, v)
		}
	}
}

// wantWhole fails unless the screen holds text, possibly wrapped over
// several lines and broken inside a word (a long address): spaces and line
// breaks are ignored on both sides.
func (d *driver) wantWhole(text string) {
	d.t.Helper()
	squash := strings.NewReplacer(" ", "", "\n", "", "│", "")
	if !strings.Contains(squash.Replace(d.view()), squash.Replace(text)) {
		d.t.Fatalf("screen lacks %q, even wrapped:\n%s", text, d.view())
	}
}

// wantNot fails if the screen holds any of texts.
func (d *driver) wantNot(texts ...string) {
	d.t.Helper()
	v := d.view()
	for _, s := range texts {
		if strings.Contains(v, s) {
			d.t.Fatalf("screen shows %q:\n%s", s, v)
		}
	}
}

// field returns the line of the form field labelled label and the line
// under it, where the field's error shows.
func (d *driver) field(label string) (string, string) {
	d.t.Helper()
	lines := strings.Split(d.view(), "\n")
	for i, l := range lines {
		rest := strings.TrimPrefix(strings.TrimSpace(l), "▸ ")
		if rest == label || strings.HasPrefix(rest, label+"  ") {
			next := ""
			if i+1 < len(lines) {
				next = lines[i+1]
			}
			return l, next
		}
	}
	d.t.Fatalf("no field %q:\n%s", label, d.view())
	return "", ""
}

// hasRow reports whether a table row starts with cell.
func (d *driver) hasRow(cell string) bool {
	for _, l := range strings.Split(d.view(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == cell {
			return true
		}
	}
	return false
}

// line returns the first line of the screen that holds text, and the
// line after it.
func (d *driver) line(text string) (string, string) {
	d.t.Helper()
	lines := strings.Split(d.view(), "\n")
	for i, l := range lines {
		if strings.Contains(l, text) {
			next := ""
			if i+1 < len(lines) {
				next = lines[i+1]
			}
			return l, next
		}
	}
	d.t.Fatalf("no line holds %q:\n%s", text, d.view())
	return "", ""
}

// enableProvider turns on provider in a setup of org, with models and a
// base URL nothing listens on (the console only needs the config).
func (e *env) enableProvider(org, setup, provider string, models ...string) {
	e.t.Helper()
	e.enableProviderAt(org, setup, provider, "http://127.0.0.1:9/v1", models...)
}

func (e *env) enableProviderAt(org, setup, provider, baseURL string, models ...string) {
	e.t.Helper()
	key := "sk-test"
	in := service.ProviderInput{Enabled: true, BaseURL: baseURL, Models: models}
	if provider == config.ProviderOpenAI {
		in.APIKey = &key
	}
	if err := e.svc.UpdateProvider(e.ctx, e.root(), org, setup, provider, in); err != nil {
		e.t.Fatalf("enable %s in %s/%s: %v", provider, org, setup, err)
	}
}

// createAssistant creates an assistant as a.
func (e *env) createAssistant(a service.Actor, in service.AssistantInput) service.Assistant {
	e.t.Helper()
	in.Enabled = true
	as, err := e.svc.CreateAssistant(e.ctx, a, in)
	if err != nil {
		e.t.Fatalf("create assistant %s: %v", in.Name, err)
	}
	return as
}
