package tui

import (
	"context"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// testCommon is a session without a service: the parts tested here take
// their data from functions of the test.
func testCommon(width, height int) *Common {
	return &Common{Ctx: context.Background(), Styles: NewStyles(lipgloss.NewRenderer(io.Discard)), Width: width, Height: height}
}

// results runs cmd and returns the messages it and its batches produce,
// each service result unwrapped (and its spinner count settled, as the
// shell does). Commands that only wait (cursor blinks, ticks) are skipped.
func results(t *testing.T, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	var out []tea.Msg
	queue := []tea.Cmd{cmd}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 100 {
			t.Fatal("more than 100 commands")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil || waits(c) {
			continue
		}
		ch := make(chan tea.Msg, 1)
		go func() { ch <- c() }()
		var msg tea.Msg
		select {
		case msg = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("a command did not return within 10s")
		}
		switch m := msg.(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, m...)
		case resultMsg:
			m.c.pending--
			out = append(out, m.msg)
		default:
			out = append(out, msg)
		}
	}
	return out
}

func waits(c tea.Cmd) bool {
	name := runtime.FuncForPC(reflect.ValueOf(c).Pointer()).Name()
	return strings.Contains(name, "bubbles/cursor.") || strings.Contains(name, "bubbletea.Tick.")
}

func keyRunes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func keyOf(t tea.KeyType) tea.KeyMsg { return tea.KeyMsg{Type: t} }

func plain(s string) string { return ansi.Strip(s) }

// lineAfter returns the line of view that holds text and the one under it.
func lineAfter(t *testing.T, view, text string) (string, string) {
	t.Helper()
	lines := strings.Split(plain(view), "\n")
	for i, l := range lines {
		if strings.Contains(l, text) {
			if i+1 < len(lines) {
				return l, lines[i+1]
			}
			return l, ""
		}
	}
	t.Fatalf("no line holds %q:\n%s", text, plain(view))
	return "", ""
}
