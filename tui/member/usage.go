package member

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Usage shows usage over a range of days: totals with error rate,
// latency and the estimated share, the month's budget, a chart of every
// day, the top assistants, users, keys (and orgs), and a table grouped by
// assistant, user, key or day. Members see their own assistants ("My
// usage"); org admins their org; a system admin every org or the one
// picked with o. The screen scrolls when it is taller than the terminal.
type Usage struct {
	c       *tui.Common
	org     bool                  // the whole org, not the actor's own assistants
	pick    bool                  // the actor chooses the org: a system admin
	slug    string                // the org reported; "" is the actor's own, or every org when pick
	rng     int                   // index in service.UsageRanges
	by      string                // the table's grouping
	tokens  bool                  // the chart shows tokens (else requests)
	summary *service.UsageSummary // with the table by the screen's grouping
	err     error
	form    *tui.Form // choosing another org
	top     int       // the first line shown
	width   int
	height  int
}

// NewUsage returns the usage screen; org reports the whole org, and lets a
// system admin choose which, every organization first.
func NewUsage(c *tui.Common, org bool) *Usage {
	m := &Usage{c: c, org: org, by: "assistant", rng: 3, tokens: true} // this month, as budgets count
	m.pick = org && c.Actor.Role == service.RoleSystemAdmin
	return m
}

type usageMsg struct {
	owner   *Usage
	slug    string
	chosen  bool // asked for by the org form, which the answer closes
	summary service.UsageSummary
	err     error
}

var (
	keyRange     = tui.Bind("t", "range")
	keyRangeBack = tui.Bind("T", "range back")
	keyChart     = tui.Bind("c", "tokens/requests")
	keyGroup     = tui.Bind("b", "group by")
	keyPickOrg   = tui.Bind("o", "another organization")
	keyScroll    = key.NewBinding(key.WithKeys("up", "k", "down", "j"), key.WithHelp("↑/↓", "scroll"))
)

func (m *Usage) Title() string {
	if m.org {
		return "Usage"
	}
	return "My usage"
}

func (m *Usage) SetSize(w, h int) {
	m.width, m.height = w, h
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Usage) Capturing() bool { return m.form != nil }

func (m *Usage) Keys() []key.Binding {
	if m.form != nil {
		return []key.Binding{tui.Bind("enter", "show"), tui.Bind("esc", "cancel")}
	}
	var ks []key.Binding
	if m.pick {
		ks = append(ks, keyPickOrg)
	}
	return append(ks, keyRange, keyRangeBack, keyChart, keyGroup, keyScroll, tui.KeyPgDown, tui.KeyRefresh)
}

func (m *Usage) Init() tea.Cmd { return m.load(m.slug, false) }

// query is the service query of the screen's state for org slug.
func (m *Usage) query(slug string) service.UsageQuery {
	// A named range is read by the server at each load: a console left
	// open overnight shows the new day.
	q := service.UsageQuery{Org: slug, Mine: !m.org, By: m.by, Range: service.UsageRanges[m.rng]}
	if m.pick && slug == "" {
		q.AllOrgs = true
	}
	return q
}

func (m *Usage) load(slug string, chosen bool) tea.Cmd {
	q, a := m.query(slug), m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		msg := usageMsg{owner: m, slug: slug, chosen: chosen}
		msg.summary, msg.err = m.c.Svc.UsageSummary(ctx, a, q)
		return msg
	})
}

// groupings are the table's groupings for the screen's reader.
func (m *Usage) groupings() []string {
	switch {
	case !m.org:
		return []string{"assistant", "key", "day"}
	case m.pick && m.slug == "":
		// Across every organization the table ranks orgs (or days): one
		// of them shows its assistants, users and keys.
		return []string{"org", "day"}
	}
	return []string{"assistant", "user", "key", "day"}
}

func (m *Usage) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		if m.form == nil {
			return m, m.Init()
		}
	case usageMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.chosen {
			if m.form == nil {
				return m, nil // the form was cancelled
			}
			if msg.err != nil {
				m.form.SetError(msg.err)
				return m, nil
			}
			m.form, m.slug = nil, msg.slug
			if !contains(m.groupings(), m.by) {
				m.by = "assistant"
				return m, m.Init()
			}
		} else if msg.slug != m.slug {
			return m, nil // another org was chosen since
		}
		m.err = msg.err
		if msg.err == nil {
			m.summary = &msg.summary
		}
	case tea.KeyMsg:
		if m.form != nil {
			submit, cancel, cmd := m.form.Update(msg)
			switch {
			case cancel:
				m.form = nil
			case submit:
				return m, m.load(strings.ToLower(strings.TrimSpace(m.form.Value("org"))), true)
			}
			return m, cmd
		}
		return m.key(msg)
	default:
		if m.form != nil {
			_, _, cmd := m.form.Update(msg)
			return m, cmd
		}
	}
	return m, nil
}

func (m *Usage) key(msg tea.KeyMsg) (tui.Screen, tea.Cmd) {
	switch {
	case m.pick && key.Matches(msg, keyPickOrg):
		m.form = tui.NewForm(m.c, "Usage of another organization",
			tui.NewField(tui.TextField, "org", "Organization", "a slug; empty: every organization").WithValue(m.slug))
		m.form.SetWidth(m.width)
	case key.Matches(msg, keyRange):
		m.rng = (m.rng + 1) % len(service.UsageRanges)
		return m, m.Init()
	case key.Matches(msg, keyRangeBack):
		m.rng = (m.rng + len(service.UsageRanges) - 1) % len(service.UsageRanges)
		return m, m.Init()
	case key.Matches(msg, keyChart):
		m.tokens = !m.tokens
	case key.Matches(msg, keyGroup):
		order := m.groupings()
		next := order[0]
		for i, b := range order {
			if b == m.by {
				next = order[(i+1)%len(order)]
			}
		}
		m.by = next
		return m, m.Init()
	case key.Matches(msg, tui.KeyUp):
		m.top = max(m.top-1, 0)
	case key.Matches(msg, tui.KeyDown):
		m.top++ // View keeps it in range
	case key.Matches(msg, tui.KeyPgDown):
		m.top += max(m.height-2, 1)
	case key.Matches(msg, tui.KeyPgUp):
		m.top = max(m.top-max(m.height-2, 1), 0)
	case msg.String() == "home" || msg.String() == "g":
		m.top = 0
	case key.Matches(msg, tui.KeyRefresh):
		return m, m.Init()
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (m *Usage) View() string {
	st := m.c.Styles
	if m.form != nil {
		return m.form.View()
	}
	w := m.width
	if w <= 0 {
		w = 80
	}
	lines := m.lines(w)
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w-1, "…")
	}
	h := max(m.height, 3)
	if len(lines) <= h {
		m.top = 0
		return strings.Join(lines, "\n")
	}
	// The last line says what is below, so the rest is never out of reach.
	page := h - 1
	m.top = min(m.top, len(lines)-page)
	below := len(lines) - m.top - page
	shown := append([]string(nil), lines[m.top:m.top+page]...)
	more := fmt.Sprintf(" ↓ %s more (↓/j, pgdn)", plural.N(below, "line", "lines"))
	if below == 0 {
		more = " ↑ top: g (or ↑/k)"
	}
	return strings.Join(shown, "\n") + "\n" + st.Muted.Render(ansi.Truncate(more, w-1, "…"))
}

// lines draws the whole screen, each line to be cut at w-1 cells.
func (m *Usage) lines(w int) []string {
	st := m.c.Styles
	var out []string
	add := func(l ...string) { out = append(out, l...) }
	add(" "+st.Title.Render(m.heading()), m.rangeBar())
	switch {
	case m.err != nil:
		return append(out, "", " "+st.Error.Render(tui.ErrorText(m.err)),
			" "+st.Muted.Render("r retries; t changes the range"))
	case m.summary == nil:
		return append(out, "", st.Muted.Render(" loading…"))
	}
	s := m.summary
	days := len(s.Days)
	add(st.Muted.Render(fmt.Sprintf(" %s to %s, UTC (%s)", s.From, s.To, plural.N(days, "day", "days"))), "")
	add(m.totals(s)...)
	add(m.budget(s.Budget, w)...)
	add("")
	add(m.chart(s, w)...)
	if s.AllOrgs {
		add("")
		add(m.topTable("Top organizations", s.TopOrgs, w)...)
		add(" " + st.Muted.Render("o picks one: its top assistants, users and API keys"))
	} else {
		add("")
		add(m.topTable("Top assistants", s.TopAssistants, w)...)
		if s.TopUsers != nil {
			add("")
			add(m.topTable("Top users", s.TopUsers, w)...)
		}
		add("")
		add(m.topTable("Top API keys", s.TopKeys, w)...)
	}
	add("")
	add(m.table(s, w)...)
	return out
}

func (m *Usage) heading() string {
	switch {
	case !m.org:
		return "Your assistants"
	case m.summary != nil && m.summary.AllOrgs, m.summary == nil && m.pick && m.slug == "":
		return "Every organization"
	case m.summary != nil:
		return "Organization " + safetext.Sanitize(m.summary.OrgSlug)
	}
	return "Organization " + safetext.Sanitize(m.slug)
}

// rangeBar shows the ranges with the one shown marked.
func (m *Usage) rangeBar() string {
	st := m.c.Styles
	var parts []string
	for i, r := range service.UsageRanges {
		label := r
		if !strings.HasSuffix(r, "d") {
			label = service.UsageRangeLabel(r)
		}
		if i == m.rng {
			parts = append(parts, st.Key.Render("["+label+"]"))
		} else {
			parts = append(parts, st.Muted.Render(label))
		}
	}
	return st.Muted.Render(" t: ") + strings.Join(parts, st.Muted.Render(" · "))
}

func (m *Usage) totals(s *service.UsageSummary) []string {
	st := m.c.Styles
	t := s.Total
	label := func(l string) string { return " " + st.Label.Render(fmt.Sprintf("%-9s", l)) }
	out := []string{
		label("Requests") + " " + grouped(t.Requests) + st.Muted.Render(fmt.Sprintf("   errors %s · refused %s", percent(t.ErrorRate()), percent(t.RefusedRate()))),
		label("Tokens") + " " + grouped(t.Tokens) + st.Muted.Render(fmt.Sprintf("   estimated %s (%s)", percent(t.EstimatedShare()),
			plural.N(int(t.Estimated), "request", "requests"))),
	}
	lat := st.Muted.Render("no request reached a provider in these days")
	if t.P50MS != nil {
		lat = "p50 " + latency(t.P50MS) + "  p95 " + latency(t.P95MS) + st.Muted.Render("  (provider answers)")
	}
	return append(out, label("Latency")+" "+lat)
}

// budget draws the month's budget: a gauge, and what the pace means.
func (m *Usage) budget(b *service.Budget, w int) []string {
	if b == nil {
		return nil
	}
	st := m.c.Styles
	lead := " " + st.Label.Render(fmt.Sprintf("%-9s", "Budget")) + " "
	pad := strings.Repeat(" ", 11)
	what := "tokens_per_month"
	if b.Scope == "user" {
		what = "user_tokens_per_month"
	}
	if !b.Limited() {
		return []string{lead + st.Muted.Render("none ("+what+" is unlimited)")}
	}
	share := b.Share()
	filled := min(int(share*20+0.5), 20)
	gauge := strings.Repeat("█", filled) + strings.Repeat("░", 20-filled)
	line := lead + gauge + fmt.Sprintf(" %s of %s tokens (%s) in %s", grouped(b.Used), grouped(b.Limit), percent(share), b.Month)
	var next string
	style := st.Muted
	switch {
	case b.Spent:
		fix := "an org admin can raise " + what
		if m.org && m.c.Actor.Role != service.RoleMember {
			fix = "raise " + what + " on the Limits screen"
		}
		next, style = fmt.Sprintf("spent: requests are refused until %s; %s", b.ResetsOn, fix), st.Error
	case b.RunsOut != "":
		next, style = fmt.Sprintf("at this pace (%s a day) it runs out on %s; it resets on %s", grouped(int64(b.PerDay)), b.RunsOut, b.ResetsOn), st.Warning
	default:
		next = fmt.Sprintf("at this pace (%s a day) it lasts the month; it resets on %s", grouped(int64(b.PerDay)), b.ResetsOn)
	}
	out := []string{line}
	for _, l := range tui.Wrap(next, w-1-len(pad)) {
		out = append(out, pad+style.Render(l))
	}
	return out
}

func (m *Usage) chart(s *service.UsageSummary, w int) []string {
	st := m.c.Styles
	values := make([]int64, len(s.Days))
	for i, d := range s.Days {
		values[i] = d.Requests
		if m.tokens {
			values[i] = d.Tokens
		}
	}
	c := tui.Chart{Values: values, Width: w - 2, Height: 6}
	if len(s.Days) > 0 {
		c.First, c.Last = s.Days[0].Day, s.Days[len(s.Days)-1].Day
	}
	what, other := "Tokens", "requests"
	if !m.tokens {
		what, other = "Requests", "tokens"
	}
	per := "per day"
	if n := c.DaysPerColumn(); n > 1 {
		per = fmt.Sprintf("per %d days", n)
	}
	out := []string{" " + st.Title.Render(what+" "+per) + st.Muted.Render(" (c: "+other+")")}
	var any bool
	for _, v := range values {
		any = any || v > 0
	}
	if !any {
		return append(out, " "+st.Muted.Render("no "+strings.ToLower(what)+" in these days"))
	}
	for _, l := range strings.Split(c.View(st), "\n") {
		out = append(out, " "+l)
	}
	return out
}

// topTable lists a summary's top rows: name, requests, tokens, p95.
func (m *Usage) topTable(title string, rows []service.UsageRow, w int) []string {
	st := m.c.Styles
	kw := max(min(w-2-1-9-1-12-1-8, 40), 10)
	line := func(k string, req, tok, p95 string) string {
		return fmt.Sprintf(" %-*s %9s %12s %8s", kw, trunc(safetext.Sanitize(k), kw), req, tok, p95)
	}
	out := []string{st.TableHead.Render(line(title, "Requests", "Tokens", "p95"))}
	if len(rows) == 0 {
		return append(out, " "+st.Muted.Render("none in these days"))
	}
	for _, r := range rows {
		out = append(out, line(r.Key, grouped(r.Requests), grouped(r.Tokens), latency(r.P95MS)))
	}
	return out
}

// Widths of the table's numeric columns; the key column gets what is left
// of the screen, so that a 60-column terminal shows every column.
const (
	usageNumbers = 1 + 9 + 1 + 6 + 1 + 10 + 1 + 8 + 1 + 8 // " Requests Errors Tokens p50 p95"
	minKeyWidth  = 10
	maxKeyWidth  = 40
)

// table is the report grouped by the screen's grouping, with retrieval
// under assistants with collections.
func (m *Usage) table(r *service.UsageSummary, w int) []string {
	st := m.c.Styles
	if r.By == "" {
		return nil
	}
	var next []string
	for _, g := range m.groupings() {
		if g != r.By {
			next = append(next, g)
		}
	}
	out := []string{" " + st.Title.Render("By "+r.By) + st.Muted.Render(" (b: "+strings.Join(next, ", ")+")")}
	kw := min(max(w-1-1-usageNumbers, minKeyWidth), maxKeyWidth)
	line := func(k string, cells ...string) string {
		// Keys are assistant names and emails: data.
		return fmt.Sprintf(" %-*s %9s %6s %10s %8s %8s", kw, trunc(safetext.Sanitize(k), kw), cells[0], cells[1], cells[2], cells[3], cells[4])
	}
	out = append(out, st.TableHead.Render(line(strings.ToUpper(r.By[:1])+r.By[1:], "Requests", "Errors", "Tokens", "p50", "p95")))
	if len(r.Rows) == 0 {
		out = append(out, " "+st.Muted.Render("no requests in these days"))
	}
	row := func(u service.UsageRow) string {
		return line(u.Key, grouped(u.Requests), grouped(u.Errors), grouped(u.Tokens), latency(u.P50MS), latency(u.P95MS))
	}
	for _, u := range r.Rows {
		out = append(out, row(u))
		if u.Retrieval != nil {
			out = append(out, st.Muted.Render("   ↳ "+retrievalText(*u.Retrieval)))
		}
	}
	return append(out, st.Title.Render(row(r.Total)))
}

// retrievalText describes an assistant's knowledge-base step in a usage
// report: what one request spends on retrieval, and over which requests.
func retrievalText(f service.RetrievalFigures) string {
	if f.Retrieved == 0 {
		return "knowledge base: no retrieval in these requests"
	}
	over := plural.N(int(f.Retrieved), "request", "requests")
	if f.Sampled >= service.RetrievalSample {
		over = fmt.Sprintf("%d of the latest %d requests", f.Retrieved, f.Sampled)
	}
	return fmt.Sprintf("knowledge base: %.0f ms and %.1f chunks per request (%s)", f.AvgMS, f.AvgChunks, over)
}

// grouped writes n with thousands separated: 1,234,567.
func grouped(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + grouped(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// percent writes a share (0–1) as "2.1 %".
func percent(f float64) string {
	switch {
	case f == 0:
		return "0 %"
	case f < 0.001:
		return "<0.1 %"
	}
	return fmt.Sprintf("%.1f %%", f*100)
}

// latency writes milliseconds as "420 ms" or "2.1 s"; "—" without any.
func latency(ms *int64) string {
	switch {
	case ms == nil:
		return "—"
	case *ms < 1000:
		return fmt.Sprintf("%d ms", *ms)
	}
	return fmt.Sprintf("%.1f s", float64(*ms)/1000)
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
