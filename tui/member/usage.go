package member

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Usage shows tokens and requests this month: the user's own assistants
// ("My usage"), or the whole org for its admins, grouped by assistant,
// user or day. A system admin picks the org (o), lamb first.
type Usage struct {
	c      *tui.Common
	org    bool
	pick   bool   // the actor chooses the org: a system admin
	slug   string // the org reported; "" is the actor's own
	by     string
	report *service.UsageReport
	err    error
	form   *tui.Form // choosing another org
	width  int
}

// NewUsage returns the usage screen; org reports the whole org, and lets a
// system admin choose which.
func NewUsage(c *tui.Common, org bool) *Usage {
	m := &Usage{c: c, org: org, by: "assistant"}
	if org && c.Actor.Role == service.RoleSystemAdmin {
		m.pick, m.slug = true, service.SystemSlug
	}
	return m
}

type usageMsg struct {
	owner  *Usage
	slug   string
	chosen bool // asked for by the org form, which the answer closes
	r      service.UsageReport
	err    error
}

var (
	keyGroup   = tui.Bind("b", "group by assistant/user/day")
	keyPickOrg = tui.Bind("o", "another organization")
)

func (m *Usage) Title() string {
	if m.org {
		return "Usage"
	}
	return "My usage"
}

func (m *Usage) SetSize(w, h int) {
	m.width = w
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Usage) Capturing() bool { return m.form != nil }

func (m *Usage) Keys() []key.Binding {
	if m.form != nil {
		return []key.Binding{tui.Bind("enter", "show"), tui.Bind("esc", "cancel")}
	}
	if m.pick {
		return []key.Binding{keyPickOrg, keyGroup, tui.KeyRefresh}
	}
	return []key.Binding{keyGroup, tui.KeyRefresh}
}

func (m *Usage) Init() tea.Cmd { return m.load(m.slug, false) }

func (m *Usage) load(slug string, chosen bool) tea.Cmd {
	by, mine, a := m.by, !m.org, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		now := time.Now().UTC()
		since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		r, err := m.c.Svc.Usage(ctx, a, service.UsageQuery{Org: slug, From: since, By: by, Mine: mine})
		return usageMsg{owner: m, slug: slug, chosen: chosen, r: r, err: err}
	})
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
		} else if msg.slug != m.slug {
			return m, nil // another org was chosen since
		}
		m.err = msg.err
		if msg.err == nil {
			m.report = &msg.r
		}
	case tea.KeyMsg:
		if m.form != nil {
			submit, cancel, cmd := m.form.Update(msg)
			switch {
			case cancel:
				m.form = nil
			case submit:
				return m, m.load(strings.TrimSpace(m.form.Value("org")), true)
			}
			return m, cmd
		}
		switch {
		case m.pick && key.Matches(msg, keyPickOrg):
			m.form = tui.NewForm(m.c, "Usage of another organization",
				tui.NewField(tui.TextField, "org", "Organization", "slug, e.g. "+service.SystemSlug).WithValue(m.slug))
			m.form.SetWidth(m.width)
			return m, nil
		case key.Matches(msg, keyGroup):
			order := []string{"assistant", "user", "day"}
			if !m.org {
				order = []string{"assistant", "day"}
			}
			for i, b := range order {
				if b == m.by {
					m.by = order[(i+1)%len(order)]
					break
				}
			}
			return m, m.Init()
		case key.Matches(msg, tui.KeyRefresh):
			return m, m.Init()
		}
	default:
		if m.form != nil {
			_, _, cmd := m.form.Update(msg)
			return m, cmd
		}
	}
	return m, nil
}

// Widths of the numeric columns; the key column gets what is left of the
// screen, so that the totals stay in view at 80 columns.
const (
	usageNumbers = 1 + 9 + 1 + 7 + 1 + 12 + 1 + 12 + 1 + 13 // " Requests Errors Prompt Compl. Tokens"
	minKeyWidth  = 12
	maxKeyWidth  = 36
)

func (m *Usage) View() string {
	st := m.c.Styles
	if m.form != nil {
		return m.form.View()
	}
	if m.err != nil {
		return " " + st.Error.Render(tui.ErrorText(m.err))
	}
	r := m.report
	if r == nil {
		return st.Muted.Render(" loading…")
	}
	w := m.width
	if w <= 0 {
		w = 80
	}
	var b strings.Builder
	who := "Your assistants"
	if m.org {
		who = "Organization " + safetext.Sanitize(r.OrgSlug)
	}
	heading := " " + st.Title.Render(who+", this month") + st.Muted.Render(fmt.Sprintf("  (%s to %s, UTC; by %s)", r.From, r.To, r.By))
	b.WriteString(ansi.Truncate(heading, w-1, "…") + "\n\n")
	kw := min(max(w-1-1-usageNumbers, minKeyWidth), maxKeyWidth) // a leading and a trailing column spare
	line := func(key string, cells ...any) string {
		// Keys are assistant names and emails: data.
		return fmt.Sprintf(" %-*s %9v %7v %12v %12v %13v", kw, trunc(safetext.Sanitize(key), kw), cells[0], cells[1], cells[2], cells[3], cells[4])
	}
	b.WriteString(st.TableHead.Render(line(strings.ToUpper(r.By[:1])+r.By[1:], "Requests", "Errors", "Prompt tok.", "Compl. tok.", "Tokens")) + "\n")
	if len(r.Rows) == 0 {
		b.WriteString(" " + st.Muted.Render("no requests this month yet") + "\n")
	}
	row := func(u service.UsageRow) string {
		return line(u.Key, u.Requests, u.Errors, u.PromptTokens, u.CompletionTokens, u.Tokens)
	}
	for _, u := range r.Rows {
		b.WriteString(row(u) + "\n")
		if u.Retrieval != nil {
			b.WriteString(st.Muted.Render(ansi.Truncate("   ↳ "+retrievalText(*u.Retrieval), w-1, "…")) + "\n")
		}
	}
	b.WriteString(st.Title.Render(row(r.Total)) + "\n")
	return b.String()
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

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
