package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// Chart is a bar chart of one value per day, oldest first, drawn with
// block characters in a fixed box: a day per column (bars widen when few
// days leave room), several days summed per column when many days don't
// fit the width, eighths of a row for the bars' tops.
type Chart struct {
	Values []int64
	// First and Last label the x axis (the first and last day).
	First, Last string
	Width       int // cells, the axis included; every line fits it
	Height      int // rows of bars, without the axis and labels
}

// eighths are the block characters of a bar's top, by eighths filled.
var eighths = []string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// DaysPerColumn is how many days a column sums: 1 when every day gets a
// column of its own.
func (c Chart) DaysPerColumn() int {
	_, per := c.layout()
	return per
}

// labelW is the width of the value labels: Compact's widest.
const labelW = 5

// layout is the width of the plot and the days each column sums.
func (c Chart) layout() (plot, per int) {
	plot = max(c.Width-labelW-2, 1)
	per = max((len(c.Values)+plot-1)/plot, 1)
	return plot, per
}

// columns sums the values of each column.
func (c Chart) columns(per int) []int64 {
	var cols []int64
	for i := 0; i < len(c.Values); i += per {
		var sum int64
		for _, v := range c.Values[i:min(i+per, len(c.Values))] {
			sum += v
		}
		cols = append(cols, sum)
	}
	return cols
}

// View draws the chart with st's colors: Height rows of bars with the
// largest column's value at the top of the axis, then the axis and the
// first and last day under it. No line is wider than Width.
func (c Chart) View(st *Styles) string {
	if len(c.Values) == 0 {
		return st.Muted.Render(" no days to show")
	}
	height := max(c.Height, 1)
	plot, per := c.layout()
	cols := c.columns(per)
	var top int64
	for _, v := range cols {
		top = max(top, v)
	}
	slot := max(plot/max(len(cols), 1), 1)
	barW, gap := 1, 0
	if slot >= 2 {
		barW, gap = min(slot-1, 4), 1
	}
	bar := st.Title // the accent color
	axis := st.Muted
	var b strings.Builder
	for r := range height {
		label := ""
		switch r {
		case 0:
			label = Compact(top)
		case height - 1:
			if height > 1 {
				label = "0"
			}
		}
		b.WriteString(axis.Render(fmt.Sprintf("%*s ┤", labelW, label)))
		var row strings.Builder
		base := int64(height-1-r) * 8
		for _, v := range cols {
			var units int64
			if top > 0 && v > 0 {
				units = max(v*int64(height)*8/top, 1) // a day with requests always shows
			}
			fill := min(max(units-base, 0), 8)
			row.WriteString(strings.Repeat(eighths[fill], barW) + strings.Repeat(" ", gap))
		}
		b.WriteString(bar.Render(strings.TrimRight(row.String(), " ")) + "\n")
	}
	used := min(len(cols)*(barW+gap), plot)
	b.WriteString(axis.Render(strings.Repeat(" ", labelW) + " └" + strings.Repeat("─", max(used-gap, 1))))
	b.WriteString("\n" + axis.Render(c.xLabels(labelW+2, max(used-gap, 1))))
	return b.String()
}

// xLabels puts the first day under the first bar and the last under the
// last, or only the first when both don't fit.
func (c Chart) xLabels(indent, w int) string {
	first, last := c.First, c.Last
	line := strings.Repeat(" ", indent) + first
	if last != "" && last != first {
		if pad := indent + w - lipgloss.Width(line) - lipgloss.Width(last); pad >= 1 {
			line += strings.Repeat(" ", pad) + last
		}
	}
	return Truncate(line, c.Width)
}

// Compact writes a count in at most 5 cells: 950, 12.5k, 3.4M, 1.2B.
func Compact(n int64) string {
	f := float64(n)
	switch {
	case n < 1000:
		return fmt.Sprint(n)
	case n < 100_000:
		return trimZero(fmt.Sprintf("%.1fk", f/1e3))
	case n < 1_000_000:
		return fmt.Sprintf("%.0fk", f/1e3)
	case n < 100_000_000:
		return trimZero(fmt.Sprintf("%.1fM", f/1e6))
	case n < 1_000_000_000:
		return fmt.Sprintf("%.0fM", f/1e6)
	case n < 100_000_000_000:
		return trimZero(fmt.Sprintf("%.1fB", f/1e9))
	}
	return fmt.Sprintf("%.0fB", f/1e9)
}

func trimZero(s string) string { return strings.Replace(s, ".0", "", 1) }
