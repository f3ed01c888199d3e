package member

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

// Usage shows tokens and requests this month: the user's own assistants
// ("My usage"), or the whole org for its admins, grouped by assistant,
// user or day.
type Usage struct {
	c      *tui.Common
	org    bool
	by     string
	report *service.UsageReport
	err    error
}

// NewUsage returns the usage screen; org reports the whole org.
func NewUsage(c *tui.Common, org bool) *Usage { return &Usage{c: c, org: org, by: "assistant"} }

type usageMsg struct {
	owner *Usage
	r     service.UsageReport
	err   error
}

var keyGroup = tui.Bind("b", "group by assistant/user/day")

func (m *Usage) Title() string {
	if m.org {
		return "Usage"
	}
	return "My usage"
}

func (m *Usage) SetSize(w, h int) {}
func (m *Usage) Capturing() bool  { return false }

func (m *Usage) Keys() []key.Binding { return []key.Binding{keyGroup, tui.KeyRefresh} }

func (m *Usage) Init() tea.Cmd {
	by, org := m.by, m.org
	return m.c.Do(func(ctx context.Context) tea.Msg {
		now := time.Now().UTC()
		since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		r, err := m.c.Svc.Usage(ctx, m.c.Actor, "", since, by, !org)
		return usageMsg{m, r, err}
	})
}

func (m *Usage) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		return m, m.Init()
	case usageMsg:
		if msg.owner == m {
			m.err = msg.err
			if msg.err == nil {
				m.report = &msg.r
			}
		}
	case tea.KeyMsg:
		switch {
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
	}
	return m, nil
}

func (m *Usage) View() string {
	st := m.c.Styles
	if m.err != nil {
		return " " + st.Error.Render(tui.ErrorText(m.err))
	}
	r := m.report
	if r == nil {
		return st.Muted.Render(" loading…")
	}
	var b strings.Builder
	who := "Your assistants"
	if m.org {
		who = "Organization " + r.OrgSlug
	}
	b.WriteString(" " + st.Title.Render(who+", this month") + st.Muted.Render(fmt.Sprintf("  (%s to %s, UTC; by %s)", r.From, r.To, r.By)) + "\n\n")
	head := fmt.Sprintf(" %-36s %10s %8s %14s %14s %14s", strings.ToUpper(r.By[:1])+r.By[1:], "Requests", "Errors", "Prompt tok.", "Compl. tok.", "Tokens")
	b.WriteString(st.TableHead.Render(head) + "\n")
	if len(r.Rows) == 0 {
		b.WriteString(" " + st.Muted.Render("no requests this month yet") + "\n")
	}
	line := func(row service.UsageRow) string {
		return fmt.Sprintf(" %-36s %10d %8d %14d %14d %14d", trunc(row.Key, 36), row.Requests, row.Errors, row.PromptTokens, row.CompletionTokens, row.Tokens)
	}
	for _, row := range r.Rows {
		b.WriteString(line(row) + "\n")
	}
	b.WriteString(st.Title.Render(line(r.Total)) + "\n")
	return b.String()
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
