package tui

import "github.com/charmbracelet/lipgloss"

// Styles are built per session from its renderer, so that each terminal
// gets colors it can show and no global state is shared.
type Styles struct {
	R          *lipgloss.Renderer
	Header     lipgloss.Style
	Brand      lipgloss.Style
	Role       lipgloss.Style
	Tab        lipgloss.Style
	ActiveTab  lipgloss.Style
	Title      lipgloss.Style
	Label      lipgloss.Style
	Muted      lipgloss.Style
	Value      lipgloss.Style
	Status     lipgloss.Style
	Error      lipgloss.Style
	Success    lipgloss.Style
	Warning    lipgloss.Style
	Selected   lipgloss.Style
	TableHead  lipgloss.Style
	Cell       lipgloss.Style
	Box        lipgloss.Style
	Focused    lipgloss.Style
	Key        lipgloss.Style
	FieldError lipgloss.Style
}

// NewStyles returns the console's styles for one renderer.
func NewStyles(r *lipgloss.Renderer) *Styles {
	accent := lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#A78BFA"}
	muted := lipgloss.AdaptiveColor{Light: "#6B7280", Dark: "#9CA3AF"}
	red := lipgloss.AdaptiveColor{Light: "#B91C1C", Dark: "#F87171"}
	green := lipgloss.AdaptiveColor{Light: "#047857", Dark: "#34D399"}
	yellow := lipgloss.AdaptiveColor{Light: "#B45309", Dark: "#FBBF24"}
	return &Styles{
		R:          r,
		Header:     r.NewStyle().Padding(0, 1),
		Brand:      r.NewStyle().Bold(true).Foreground(accent),
		Role:       r.NewStyle().Foreground(muted),
		Tab:        r.NewStyle().Padding(0, 1).Foreground(muted),
		ActiveTab:  r.NewStyle().Padding(0, 1).Bold(true).Underline(true).Foreground(accent),
		Title:      r.NewStyle().Bold(true).Foreground(accent),
		Label:      r.NewStyle().Foreground(muted),
		Muted:      r.NewStyle().Foreground(muted),
		Value:      r.NewStyle(),
		Status:     r.NewStyle().Padding(0, 1),
		Error:      r.NewStyle().Foreground(red),
		Success:    r.NewStyle().Foreground(green),
		Warning:    r.NewStyle().Foreground(yellow),
		Selected:   r.NewStyle().Reverse(true),
		TableHead:  r.NewStyle().Bold(true).Foreground(muted),
		Cell:       r.NewStyle(),
		Box:        r.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		Focused:    r.NewStyle().Foreground(accent),
		Key:        r.NewStyle().Bold(true),
		FieldError: r.NewStyle().Foreground(red),
	}
}
