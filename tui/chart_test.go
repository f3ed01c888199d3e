package tui

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

func chartStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor) // colors on: widths must not count escapes
	return NewStyles(r)
}

// The chart at 0, 1 and 90 days, at 60 columns and narrower and wider:
// no line is wider than the chart's width, the tallest column reaches the
// top row, the first and last day label the axis.
func TestChartFitsAtZeroOneAndNinetyDays(t *testing.T) {
	st := chartStyles()
	days := func(n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = int64((i*37)%11) * 1000
		}
		return v
	}
	for _, n := range []int{0, 1, 7, 30, 31, 90, 366} {
		for _, w := range []int{30, 40, 58, 60, 80, 120} {
			c := Chart{Values: days(n), First: "2026-09-01", Last: "2026-11-29", Width: w, Height: 6}
			if n == 1 {
				c.Values[0] = 4200
			}
			view := c.View(st)
			lines := strings.Split(view, "\n")
			for i, l := range lines {
				if got := ansi.StringWidth(l); got > w {
					t.Errorf("%d days at %d columns: line %d is %d cells: %q", n, w, i, got, ansi.Strip(l))
				}
			}
			if n == 0 {
				if !strings.Contains(view, "no days to show") {
					t.Errorf("no days: %q", view)
				}
				continue
			}
			if len(lines) != 6+2 {
				t.Errorf("%d days at %d: %d lines, want 6 rows, the axis and the labels", n, w, len(lines))
			}
			plain := ansi.Strip(view)
			if !strings.Contains(ansi.Strip(lines[0]), "█") {
				t.Errorf("%d days at %d: the tallest column doesn't reach the top:\n%s", n, w, plain)
			}
			if !strings.Contains(lines[len(lines)-1], "2026-09-01") {
				t.Errorf("%d days at %d: no first day under the axis:\n%s", n, w, plain)
			}
		}
	}
}

// One column per day while they fit: 90 days at 60 columns take two days
// a column; 30 days get a column each, with gaps; each column's height
// follows its value.
func TestChartColumns(t *testing.T) {
	st := chartStyles()
	c := Chart{Values: make([]int64, 90), Width: 60, Height: 4}
	if got := c.DaysPerColumn(); got != 2 {
		t.Errorf("90 days at 60 columns: %d days a column, want 2", got)
	}
	c.Values = make([]int64, 30)
	if got := c.DaysPerColumn(); got != 1 {
		t.Errorf("30 days at 60 columns: %d days a column", got)
	}
	// 4 days: 0, half, full, a sliver; rows of 8 eighths each. 14 cells
	// of plot for 4 days: bars of 2 cells with a gap.
	c = Chart{Values: []int64{0, 400, 800, 1}, Width: 20, Height: 2, First: "a", Last: "b"}
	lines := strings.Split(ansi.Strip(c.View(st)), "\n")
	label := func(l string) string { before, _, _ := strings.Cut(l, "┤"); return strings.TrimSpace(before) }
	bars := func(l string) []rune { _, after, _ := strings.Cut(l, "┤"); return []rune(after) }
	if label(lines[0]) != "800" || label(lines[1]) != "0" {
		t.Fatalf("axis labels:\n%s", strings.Join(lines, "\n"))
	}
	cell := func(row []rune, col int) string {
		if i := col*3 + 1; i < len(row) {
			return string(row[i])
		}
		return " "
	}
	bottom, top := bars(lines[1]), bars(lines[0])
	if cell(bottom, 0) != " " || cell(bottom, 1) != "█" || cell(bottom, 2) != "█" || cell(bottom, 3) != "▁" {
		t.Errorf("bottom row %q", string(bottom))
	}
	if cell(top, 1) != " " || cell(top, 2) != "█" || cell(top, 3) != " " {
		t.Errorf("top row %q: the half bar must stop at the first row, the full one fill both", string(top))
	}
	if !strings.Contains(lines[3], "a") || !strings.HasSuffix(strings.TrimRight(lines[3], " "), "b") {
		t.Errorf("labels %q", lines[3])
	}
}

// A range with no requests draws an empty chart, not a division by zero.
func TestChartOfNothing(t *testing.T) {
	st := chartStyles()
	view := ansi.Strip(Chart{Values: make([]int64, 7), Width: 60, Height: 3, First: "x"}.View(st))
	if strings.ContainsAny(view, "▁▂▃▄▅▆▇█") || !strings.Contains(view, "0 ┤") {
		t.Errorf("no requests:\n%s", view)
	}
}

func TestCompact(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 950: "950", 1000: "1k", 12_500: "12.5k", 99_960: "100k", 450_000: "450k",
		999_999: "1000k", 3_400_000: "3.4M", 1_200_000_000: "1.2B", 450_000_000_000: "450B"} {
		if got := Compact(n); got != want || len(got) > 5 {
			t.Errorf("Compact(%d) = %q, want %q", n, got, want)
		}
	}
}
