package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// rows is a table of n numbered rows, fetched a page at a time. It records
// every fetch, so tests can see that a list never asks for more than a page.
type rows struct {
	mu      sync.Mutex
	n       int
	fetches []fetchCall
	fail    error
}

type fetchCall struct {
	query         string
	offset, limit int
}

func (r *rows) fetch(_ context.Context, q string, off, lim int) (Page, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetches = append(r.fetches, fetchCall{q, off, lim})
	if r.fail != nil {
		return Page{}, r.fail
	}
	var match []int
	if q == "" {
		// Don't build 100,000 rows to cut one page.
		p := Page{Total: r.n}
		for i := off; i < min(off+lim, r.n); i++ {
			p.Rows = append(p.Rows, []string{fmt.Sprintf("user-%06d", i), fmt.Sprintf("User %d", i)})
			p.Items = append(p.Items, i)
		}
		return p, nil
	}
	for i := range r.n {
		if strings.HasPrefix(fmt.Sprint(i), q) {
			match = append(match, i)
		}
	}
	p := Page{Total: len(match)}
	for _, i := range match[min(off, len(match)):min(off+lim, len(match))] {
		p.Rows = append(p.Rows, []string{fmt.Sprintf("user-%06d", i), fmt.Sprintf("User %d", i)})
		p.Items = append(p.Items, i)
	}
	return p, nil
}

func (r *rows) last() fetchCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches[len(r.fetches)-1]
}

// listDriver feeds a list its own results.
type listDriver struct {
	t *testing.T
	l *List
}

func newListDriver(t *testing.T, r *rows, height int) *listDriver {
	c := testCommon(100, height)
	l := NewList(c, []Column{{Title: "Email", Width: 14}, {Title: "Name", Width: 10, Flex: true}}, r.fetch)
	l.SetSize(100, height)
	d := &listDriver{t: t, l: l}
	d.run(l.Load())
	return d
}

func (d *listDriver) run(cmd tea.Cmd) {
	d.t.Helper()
	for range 10 {
		msgs := results(d.t, cmd)
		if len(msgs) == 0 {
			return
		}
		var next []tea.Cmd
		for _, m := range msgs {
			_, c := d.l.Update(m)
			next = append(next, c)
		}
		cmd = tea.Batch(next...)
	}
	d.t.Fatal("the list kept loading")
}

func (d *listDriver) key(msgs ...tea.KeyMsg) {
	d.t.Helper()
	for _, m := range msgs {
		_, cmd := d.l.Update(m)
		d.run(cmd)
	}
}

func (d *listDriver) want(texts ...string) {
	d.t.Helper()
	v := plain(d.l.View())
	for _, s := range texts {
		if !strings.Contains(v, s) {
			d.t.Fatalf("list lacks %q:\n%s", s, v)
		}
	}
}

func TestListPagesThroughManyRows(t *testing.T) {
	r := &rows{n: 100_000}
	d := newListDriver(t, r, 13) // 10 rows a page
	if got := r.last(); got.limit != 10 || got.offset != 0 {
		t.Fatalf("first fetch %+v, want 10 rows from 0", got)
	}
	d.want("Email", "user-000000", "user-000009", "1–10 of 100000")
	if strings.Contains(plain(d.l.View()), "user-000010") {
		t.Fatal("more than a page is shown")
	}
	if d.l.Selected() != 0 {
		t.Fatalf("selected %v", d.l.Selected())
	}

	// Down walks the page, then loads the next one.
	for range 9 {
		d.key(keyOf(tea.KeyDown))
	}
	if d.l.Selected() != 9 {
		t.Fatalf("selected %v after 9 downs", d.l.Selected())
	}
	d.key(keyOf(tea.KeyDown))
	d.want("11–20 of 100000", "user-000010")
	if d.l.Selected() != 10 {
		t.Fatalf("selected %v after crossing the page", d.l.Selected())
	}
	d.key(keyOf(tea.KeyUp))
	d.want("1–10 of 100000")
	if d.l.Selected() != 9 {
		t.Fatalf("selected %v after going back up", d.l.Selected())
	}

	d.key(keyRunes("G"))
	d.want("99991–100000 of 100000", "user-099999")
	if d.l.Selected() != 99_999 {
		t.Fatalf("selected %v at the end", d.l.Selected())
	}
	d.key(keyOf(tea.KeyPgUp))
	d.want("99981–99990 of 100000")
	d.key(keyRunes("g"))
	d.want("1–10 of 100000")
	d.key(keyOf(tea.KeyPgDown))
	d.want("11–20 of 100000")

	for _, f := range r.fetches {
		if f.limit > 10 {
			t.Fatalf("a fetch asked for %d rows: %+v", f.limit, f)
		}
	}
}

func TestListFilter(t *testing.T) {
	r := &rows{n: 300}
	d := newListDriver(t, r, 13)
	d.key(keyRunes("/"))
	if !d.l.Filtering() {
		t.Fatal("/ did not start filtering")
	}
	for _, ch := range "29" {
		d.key(keyRunes(string(ch)))
	}
	if got := r.last(); got.query != "29" || got.offset != 0 {
		t.Fatalf("last fetch %+v", got)
	}
	d.want("1–10 of 11", "user-000029", "user-000290", "/29")

	// Keys typed while filtering go to the filter, not the list.
	d.key(keyRunes("j"))
	d.want(`nothing matches "29j"`)
	d.key(keyOf(tea.KeyBackspace))
	d.want("1–10 of 11")

	d.key(keyOf(tea.KeyEnter))
	if d.l.Filtering() {
		t.Fatal("enter did not end typing")
	}
	d.want("filter: 29")
	d.key(keyOf(tea.KeyDown))
	if d.l.Selected() != 290 {
		t.Fatalf("selected %v", d.l.Selected())
	}
	d.key(keyOf(tea.KeyEsc))
	d.want("1–10 of 300", "user-000000")
	if r.last().query != "" {
		t.Fatalf("esc left the query %q", r.last().query)
	}
}

// A fetch answered after a newer one was asked for must not replace it:
// typing fast sends many.
func TestListIgnoresStaleResults(t *testing.T) {
	r := &rows{n: 300}
	d := newListDriver(t, r, 13)
	d.l.query = "12"
	old := d.l.Load()
	d.l.query = "29"
	newer := d.l.Load()
	d.run(newer)
	d.run(old)
	d.want("user-000290", "1–10 of 11")
	if strings.Contains(plain(d.l.View()), "user-000120") {
		t.Fatalf("a stale page replaced the newer one:\n%s", plain(d.l.View()))
	}
}

func TestListErrorAndRetry(t *testing.T) {
	r := &rows{n: 5, fail: errors.New("database is locked")}
	d := newListDriver(t, r, 13)
	d.want("database is locked", "r to retry")
	r.mu.Lock()
	r.fail = nil
	r.mu.Unlock()
	d.key(keyRunes("r"))
	d.want("user-000004", "1–5 of 5")

	empty := newListDriver(t, &rows{}, 13)
	empty.want("nothing here yet")
}

// When rows go away under a later page, the list goes back to the last page
// that has rows instead of showing an empty one.
func TestListPageBeyondTheEnd(t *testing.T) {
	r := &rows{n: 25}
	d := newListDriver(t, r, 13)
	d.key(keyRunes("G"))
	d.want("21–25 of 25")
	r.mu.Lock()
	r.n = 15
	r.mu.Unlock()
	d.key(keyRunes("r"))
	d.want("6–15 of 15", "user-000014")
}

// Messages of another list are not this list's.
func TestListKeepsToItsOwnResults(t *testing.T) {
	a := newListDriver(t, &rows{n: 3}, 13)
	b := newListDriver(t, &rows{n: 7}, 13)
	for _, m := range results(t, b.l.Load()) {
		if used, _ := a.l.Update(m); used {
			t.Fatal("list a used a page of list b")
		}
	}
	a.want("1–3 of 3")
}
