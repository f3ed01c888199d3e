package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Ago renders a time as "3m ago", "2d ago", or "never".
func Ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.Format("2006-01-02")
}

// YesNo renders a bool for a table cell.
func YesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// Wrap breaks text into lines of at most w cells, at spaces where it can
// and inside long words (a URL, a fingerprint) where it must.
func Wrap(text string, w int) []string {
	if w < 1 {
		w = 1
	}
	var out []string
	for _, para := range strings.Split(text, "\n") {
		out = append(out, strings.Split(ansi.Wrap(para, w, ",/=&"), "\n")...)
	}
	return out
}

// Truncate cuts a (possibly styled) line to w cells, ending it with "…"
// when it was longer.
func Truncate(s string, w int) string { return truncate(s, w) }
