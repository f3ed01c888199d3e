package member

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

type keysMode int

const (
	keysListing keysMode = iota
	keysCreating
	keysConfirmRevoke
	keysShowing
)

// APIKeys lists and creates API keys: the user's own personal keys, or (for
// admins) every key of the org, where new keys are org keys.
type APIKeys struct {
	c        *tui.Common
	org      bool
	personal bool // the key being created is personal
	list     *tui.List
	mode     keysMode
	form     *tui.Form
	confirm  *tui.Confirm
	revoking service.APIKey // the key the open confirmation names
	notice   *tui.Notice
	width    int
}

// NewAPIKeys returns the API keys screen; org lists the whole org's keys.
func NewAPIKeys(c *tui.Common, org bool) *APIKeys {
	m := &APIKeys{c: c, org: org}
	// A narrow terminal hides the rightmost columns first: Status stays
	// next to the name, the dates come last.
	cols := []tui.Column{{Title: "ID", Width: 5}, {Title: "Name", Width: 18, Flex: true}, {Title: "Status", Width: 8}}
	if org {
		cols = append(cols, tui.Column{Title: "Owner", Width: 22, Flex: true})
	}
	cols = append(cols, tui.Column{Title: "Prefix", Width: 10}, tui.Column{Title: "Expires", Width: 10},
		tui.Column{Title: "Last used", Width: 10}, tui.Column{Title: "Created", Width: 10})
	m.list = tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.ListAPIKeys(ctx, c.Actor, "", !org, off, lim)
		if err != nil {
			return tui.Page{}, err
		}
		out := tui.Page{Total: p.Total}
		now := time.Now()
		for _, k := range p.Items {
			status := "active"
			switch {
			case !k.RevokedAt.IsZero():
				status = "revoked"
			case !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(now):
				status = "expired"
			}
			row := []string{strconv.FormatInt(k.ID, 10), k.Name, status}
			if org {
				owner := k.Owner
				if owner == "" {
					owner = "(org key)"
				}
				row = append(row, owner)
			}
			expires := "never"
			if !k.ExpiresAt.IsZero() {
				expires = k.ExpiresAt.Format("2006-01-02")
			}
			row = append(row, k.Prefix+"…", expires, tui.Ago(k.LastUsedAt), k.CreatedAt.Format("2006-01-02"))
			out.Rows = append(out.Rows, row)
			out.Items = append(out.Items, k)
		}
		return out, nil
	})
	m.list.Empty = "no API keys yet: press n to create one"
	return m
}

type keyCreatedMsg struct {
	owner *APIKeys
	key   service.NewAPIKey
	err   error
}

type keyRevokedMsg struct {
	owner *APIKeys
	name  string
	err   error
}

func (m *APIKeys) Title() string {
	if m.org {
		return "API keys"
	}
	return "My API keys"
}

func (m *APIKeys) Init() tea.Cmd { return m.list.Load() }

func (m *APIKeys) SetSize(w, h int) {
	m.width = w
	m.list.SetSize(w, h)
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *APIKeys) Capturing() bool {
	return m.mode == keysCreating || (m.mode == keysListing && m.list.Filtering())
}

// Modal is true while a revocation is being confirmed or a new key is
// shown (once: a stray tab must not lose it).
func (m *APIKeys) Modal() bool { return m.mode == keysConfirmRevoke || m.mode == keysShowing }

var (
	keyNewKey      = tui.Bind("n", "new key")
	keyNewPersonal = tui.Bind("p", "new personal key")
	keyRevokeKey   = tui.Bind("x", "revoke")
)

func (m *APIKeys) Keys() []key.Binding {
	switch m.mode {
	case keysCreating:
		return tui.FormKeys
	case keysConfirmRevoke:
		return m.confirm.Keys()
	case keysShowing:
		return []key.Binding{tui.Bind("enter", "I stored it; close")}
	}
	ks := []key.Binding{keyNewKey}
	if m.org {
		ks[0] = tui.Bind("n", "new org key")
		ks = append(ks, keyNewPersonal)
	}
	return append(append(ks, keyRevokeKey), m.list.Keys()...)
}

func (m *APIKeys) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case keyCreatedMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			m.form.SetError(msg.err)
			return m, nil
		}
		k := msg.key
		kind := "a personal key: it calls your own assistants"
		if k.Owner == "" {
			kind = "an org key: it calls every assistant of " + k.OrgSlug
		}
		m.notice = tui.NewNotice(m.c, "API key "+k.Name+" created",
			k.Key+"\n\nCopy it now (select it with your mouse): it is shown once and never again.\n"+
				"It is "+kind+".\nUse it as a Bearer token with any OpenAI client: base URL "+m.c.Svc.APIBase()+", model lamb_assistant.<id>.")
		m.mode = keysShowing
		return m, m.list.Load()
	case keyRevokedMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			return m, tui.Error(msg.err)
		}
		return m, tea.Batch(tui.Status(msg.name+" revoked: it stops working at once"), m.list.Load())
	}
	if _, isKey := msg.(tea.KeyMsg); !isKey || m.mode == keysListing {
		if used, cmd := m.list.Update(msg); used {
			return m, cmd
		}
	}
	km, isKey := msg.(tea.KeyMsg)
	switch m.mode {
	case keysCreating:
		submit, cancel, cmd := m.form.Update(msg)
		switch {
		case cancel:
			m.mode = keysListing
		case submit:
			return m, m.create()
		}
		return m, cmd
	case keysConfirmRevoke:
		switch m.confirm.Update(msg) {
		case "esc":
			m.mode = keysListing
		case "y":
			// The key the question named, not the row selected now: the
			// list may have reloaded under the dialog.
			m.mode = keysListing
			k, a := m.revoking, m.c.Actor
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				return keyRevokedMsg{m, k.Name, m.c.Svc.RevokeAPIKey(ctx, a, k.ID)}
			})
		}
		return m, nil
	case keysShowing:
		if isKey && (km.String() == "enter" || km.String() == "esc") {
			m.mode = keysListing
		}
		return m, nil
	}
	if !isKey {
		return m, nil
	}
	switch {
	case key.Matches(km, keyNewKey) || (m.org && key.Matches(km, keyNewPersonal)):
		m.personal = !m.org || key.Matches(km, keyNewPersonal)
		m.form = tui.NewForm(m.c, "New API key",
			tui.NewField(tui.TextField, "name", "Name", "what uses it, e.g. Moodle course PHY101"),
			tui.NewField(tui.TextField, "expires", "Expires in days", "optional; empty = never"))
		if !m.personal {
			m.form.Intro = "An org key calls every assistant of the organization."
		} else {
			m.form.Intro = "A personal key calls only your own assistants."
		}
		m.form.SetWidth(m.width)
		m.mode = keysCreating
	case key.Matches(km, keyRevokeKey):
		k, ok := m.list.Selected().(service.APIKey)
		if !ok || !k.RevokedAt.IsZero() {
			return m, nil
		}
		m.revoking = k
		m.confirm = tui.NewConfirm(m.c, "Revoke "+k.Name+" ("+k.Prefix+"…)?", "Everything that uses this key gets 401 from now on. This can't be undone; create a new key instead.")
		m.mode = keysConfirmRevoke
	}
	return m, nil
}

func (m *APIKeys) create() tea.Cmd {
	name := m.form.Value("name")
	var expires time.Time
	if d := strings.TrimSpace(m.form.Value("expires")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 3650 {
			m.form.SetError(&service.InvalidError{Field: "expires", Message: fmt.Sprintf("%q: give a number of days from 1 to 3650, or leave it empty", d)})
			return nil
		}
		expires = time.Now().Add(time.Duration(n) * 24 * time.Hour)
	}
	personal, a := m.personal, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		k, err := m.c.Svc.CreateAPIKey(ctx, a, "", name, personal, expires)
		return keyCreatedMsg{m, k, err}
	})
}

func (m *APIKeys) View() string {
	switch m.mode {
	case keysCreating:
		return m.form.View()
	case keysConfirmRevoke:
		return m.confirm.View()
	case keysShowing:
		return m.notice.View()
	}
	return m.list.View()
}
