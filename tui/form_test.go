package tui

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/service"
)

func newTestForm() *Form {
	f := NewForm(testCommon(100, 30), "New thing",
		NewField(TextField, "slug", "Slug", "e.g. acme").WithHint("2-40 characters"),
		NewField(PasswordField, "password", "Password", ""),
		NewField(ToggleField, "copy", "Copy providers", ""),
		Choice("role", "Role", "member", "admin"),
		NewField(TextField, "name", "Name", "full name"),
		NewField(TextField, "admin_name", "Admin name", "for a new admin"),
	)
	f.SetWidth(100)
	return f
}

// typeInto sends text to the form one key at a time.
func typeInto(f *Form, text string) {
	for _, r := range text {
		f.Update(keyRunes(string(r)))
	}
}

// focused is the label of the focused field.
func focused(t *testing.T, f *Form) string {
	t.Helper()
	for _, l := range strings.Split(plain(f.View()), "\n") {
		if i := strings.Index(l, "▸ "); i >= 0 {
			return strings.Fields(l[i+len("▸ "):])[0]
		}
	}
	t.Fatalf("no focused field:\n%s", plain(f.View()))
	return ""
}

func TestFormFieldsAndKeys(t *testing.T) {
	f := newTestForm()
	if got := focused(t, f); got != "Slug" {
		t.Fatalf("focused %q first", got)
	}
	if _, under := lineAfter(t, f.View(), "Slug"); !strings.Contains(under, "2-40 characters") {
		t.Fatalf("no hint under the focused field: %q", under)
	}
	typeInto(f, "physics")

	// tab, down and enter move on; shift+tab and up move back; the last
	// field wraps around to the first.
	f.Update(keyOf(tea.KeyTab))
	typeInto(f, "secret-pw")
	if v := plain(f.View()); strings.Contains(v, "secret-pw") {
		t.Fatalf("the password is shown:\n%s", v)
	}
	f.Update(keyOf(tea.KeyDown))
	if got := focused(t, f); got != "Copy" {
		t.Fatalf("focused %q after down", got)
	}
	f.Update(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
	f.Update(keyOf(tea.KeyEnter))
	f.Update(keyOf(tea.KeyRight))
	f.Update(keyOf(tea.KeyShiftTab))
	f.Update(keyOf(tea.KeyUp))
	if got := focused(t, f); got != "Password" {
		t.Fatalf("focused %q after shift+tab and up", got)
	}
	f.Update(keyOf(tea.KeyShiftTab))
	f.Update(keyOf(tea.KeyShiftTab))
	if got := focused(t, f); got != "Admin" {
		t.Fatalf("focused %q after wrapping back", got)
	}
	f.Update(keyOf(tea.KeyTab))
	if got := focused(t, f); got != "Slug" {
		t.Fatalf("focused %q after wrapping forward", got)
	}

	want := map[string]string{"slug": "physics", "password": "secret-pw", "copy": "true", "role": "admin", "name": "", "missing": ""}
	for k, v := range want {
		if got := f.Value(k); got != v {
			t.Errorf("value of %s = %q, want %q", k, got, v)
		}
	}
	if !f.Bool("copy") {
		t.Error("Bool(copy) is false")
	}
	if v := plain(f.View()); !strings.Contains(v, "[x]") || !strings.Contains(v, "(•) admin") {
		t.Errorf("toggle or choice not drawn:\n%s", v)
	}

	// enter submits only on the last field; ctrl+s anywhere; esc cancels.
	if submit, cancel, _ := f.Update(keyOf(tea.KeyEnter)); submit || cancel {
		t.Fatal("enter on the first field submitted")
	}
	if submit, _, _ := f.Update(keyOf(tea.KeyCtrlS)); !submit {
		t.Fatal("ctrl+s did not submit")
	}
	f.Update(keyOf(tea.KeyShiftTab))
	f.Update(keyOf(tea.KeyShiftTab))
	if submit, _, _ := f.Update(keyOf(tea.KeyEnter)); !submit {
		t.Fatalf("enter on the last field did not submit (focused %q)", focused(t, f))
	}
	if _, cancel, _ := f.Update(keyOf(tea.KeyEsc)); !cancel {
		t.Fatal("esc did not cancel")
	}
}

func TestFormErrors(t *testing.T) {
	f := newTestForm()
	f.Update(keyOf(tea.KeyTab))

	// A field error is shown under its field, which gets the focus.
	f.SetError(&service.InvalidError{Field: "slug", Message: "must be 2-40 characters"})
	if _, under := lineAfter(t, f.View(), "Slug"); !strings.Contains(under, "↳ must be 2-40 characters") {
		t.Fatalf("line under Slug: %q", under)
	}
	if got := focused(t, f); got != "Slug" {
		t.Fatalf("focused %q after the slug error", got)
	}
	// Typing into the field clears its error.
	typeInto(f, "x")
	if strings.Contains(plain(f.View()), "↳") {
		t.Fatalf("the error stayed after typing:\n%s", plain(f.View()))
	}

	// A nested field ("admin.password") finds its field by the last part.
	f.SetError(&service.InvalidError{Field: "admin.password", Message: "must be at least 8 characters"})
	if _, under := lineAfter(t, f.View(), "Password"); !strings.Contains(under, "↳ must be at least 8 characters") {
		t.Fatalf("line under Password: %q", under)
	}

	// Errors of no field, or of a field the form lacks, go on top.
	f.SetError(errors.New("database is locked"))
	if v := plain(f.View()); !strings.Contains(v, "✗ database is locked") || strings.Contains(v, "↳") {
		t.Fatalf("form error:\n%s", v)
	}
	f.SetError(&service.InvalidError{Field: "color", Message: "is not a color"})
	if v := plain(f.View()); !strings.Contains(v, "✗ color: is not a color") {
		t.Fatalf("error of an unknown field:\n%s", v)
	}
	f.SetError(service.ErrForbidden)
	if v := plain(f.View()); !strings.Contains(v, "permission denied") {
		t.Fatalf("forbidden:\n%s", v)
	}

	f.SetError(nil)
	if v := plain(f.View()); strings.Contains(v, "✗") || strings.Contains(v, "↳") {
		t.Fatalf("SetError(nil) left an error:\n%s", v)
	}
}

func TestFormNestedFieldPrefersItsOwnField(t *testing.T) {
	f := newTestForm()
	f.SetError(&service.InvalidError{Field: "admin.name", Message: "is required for a new user"})
	if _, under := lineAfter(t, f.View(), "Admin name"); !strings.Contains(under, "↳ is required") {
		if _, underName := lineAfter(t, f.View(), " Name "); strings.Contains(underName, "↳ is required") {
			t.Fatal(`BUG: tui/form.go Form.SetError takes the first field whose key is a "."-suffix of the error's field, so "admin.name" goes to "name" rather than "admin_name"`)
		}
		t.Fatalf("line under Admin name: %q\n%s", under, plain(f.View()))
	}
}

func TestConfirmAndNotice(t *testing.T) {
	c := testCommon(100, 30)
	cf := NewConfirm(c, "Delete acme?", "Lost for good: acme with 120 users, 14 assistants.",
		Option{Key: "D", Label: "delete users"}, Option{Key: "M", Label: "move users"})
	v := strings.Join(strings.Fields(plain(cf.View())), " ")
	for _, s := range []string{"Delete acme?", "120 users, 14 assistants", "D delete users", "M move users", "esc cancel"} {
		if !strings.Contains(v, s) {
			t.Fatalf("confirmation lacks %q: %s", s, v)
		}
	}
	for k, want := range map[string]string{"D": "D", "M": "M", "y": "", "d": "", "n": "esc"} {
		if got := cf.Update(keyRunes(k)); got != want {
			t.Errorf("key %s chose %q, want %q", k, got, want)
		}
	}
	if got := cf.Update(keyOf(tea.KeyEsc)); got != "esc" {
		t.Errorf("esc chose %q", got)
	}
	if got := NewConfirm(c, "Sure?", "").Update(keyRunes("y")); got != "y" {
		t.Errorf("default confirmation: y chose %q", got)
	}

	n := NewNotice(c, "Password reset", "One-time password: abc-def")
	if v := plain(n.View()); !strings.Contains(v, "abc-def") || !strings.Contains(v, "press enter to close") {
		t.Fatalf("notice:\n%s", v)
	}
}

// A form taller than its room scrolls to keep the focused field whole,
// says what is above and below, and lines stay within the width.
func TestFormScrollsToTheFocusedField(t *testing.T) {
	c := testCommon(60, 12)
	var fields []*Field
	for i := range 12 {
		fields = append(fields, NewField(TextField, "f"+strconv.Itoa(i), "Field "+strconv.Itoa(i), "a hint long enough to be wrapped under the field at sixty columns, since it is long").
			WithHint("a hint long enough to be wrapped under the field at sixty columns, since it is long"))
	}
	f := NewForm(c, "Tall", fields...)
	f.SetWidth(60)
	f.SetHeight(10)
	for i := range 12 {
		v := plain(f.View())
		lines := strings.Split(strings.TrimRight(v, "\n"), "\n")
		if len(lines) > 10 {
			t.Fatalf("field %d: %d lines in a room of 10:\n%s", i, len(lines), v)
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > 59 {
				t.Fatalf("field %d: a line of %d cells: %q", i, w, l)
			}
		}
		if got := focused(t, f); got != "Field" || !strings.Contains(v, "▸ Field "+strconv.Itoa(i)+" ") {
			t.Fatalf("field %d isn't in view:\n%s", i, v)
		}
		if _, under := lineAfter(t, v, "Field "+strconv.Itoa(i)+" "); !strings.Contains(under, "a hint long enough") {
			t.Fatalf("field %d: its hint isn't in view:\n%s", i, v)
		}
		if !strings.Contains(v, "Field 0 ") != strings.Contains(v, "more lines above") {
			t.Fatalf("field %d: what is above is said wrong:\n%s", i, v)
		}
		if !strings.Contains(v, "Field 11 ") != strings.Contains(v, "more lines below") {
			t.Fatalf("field %d: what is below is said wrong:\n%s", i, v)
		}
		if i == 11 && !strings.Contains(v, "more lines above") {
			t.Fatalf("the last field shows no scroll:\n%s", v)
		}
		f.Update(keyOf(tea.KeyTab))
	}
}

// widgetProbe records what a widget field receives.
type widgetProbe struct {
	keys    []string
	focused bool
}

func (w *widgetProbe) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyMsg); ok {
		w.keys = append(w.keys, km.String())
	}
	return nil
}
func (w *widgetProbe) Focus() tea.Cmd { w.focused = true; return nil }
func (w *widgetProbe) Blur()          { w.focused = false }
func (w *widgetProbe) Value() string  { return strings.Join(w.keys, " ") }
func (w *widgetProbe) View(width int, focused bool) (string, string) {
	return "inline", "block line 1\nblock line 2 " + strings.Repeat("x", 200)
}

// A widget field gets enter and the arrows (a new line, a move in a
// picker); tab, shift+tab, ctrl+s and esc stay the form's. An error naming
// it gives it the focus.
func TestFormWidgetField(t *testing.T) {
	probe := &widgetProbe{}
	f := NewForm(testCommon(80, 30), "Widget",
		NewField(TextField, "name", "Name", ""),
		NewWidgetField("body", "Body", probe),
		NewField(TextField, "after", "After", ""))
	f.SetWidth(80)
	f.Update(keyOf(tea.KeyTab))
	if !probe.focused {
		t.Fatal("tab didn't focus the widget")
	}
	for _, k := range []tea.KeyType{tea.KeyEnter, tea.KeyUp, tea.KeyDown} {
		if submit, cancel, _ := f.Update(keyOf(k)); submit || cancel {
			t.Fatalf("%v submitted or cancelled", k)
		}
	}
	if got := f.Value("body"); got != "enter up down" || focused(t, f) != "Body" {
		t.Fatalf("the widget got %q; focus on %s", got, focused(t, f))
	}
	v := plain(f.View())
	if !strings.Contains(v, "Body                   inline") || !strings.Contains(v, "   block line 1") {
		t.Fatalf("widget drawn as:\n%s", v)
	}
	for _, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > 79 {
			t.Fatalf("a widget's line overflows: %q", l)
		}
	}
	if submit, _, _ := f.Update(keyOf(tea.KeyCtrlS)); !submit {
		t.Fatal("ctrl+s in the widget didn't submit")
	}
	f.Update(keyOf(tea.KeyTab))
	if probe.focused || focused(t, f) != "After" {
		t.Fatal("tab didn't leave the widget")
	}
	f.SetError(&service.InvalidError{Field: "body", Message: "is wrong"})
	if !probe.focused || focused(t, f) != "Body" || !strings.Contains(plain(f.View()), "↳ is wrong") {
		t.Fatalf("an error naming the widget:\n%s", plain(f.View()))
	}
	if _, cancel, _ := f.Update(keyOf(tea.KeyEsc)); !cancel {
		t.Fatal("esc in the widget didn't cancel")
	}
}
