package console

import (
	"strings"
	"testing"
)

// A system admin's console has a Usage screen for any org: lamb first, o
// picks another.
func TestConsoleSysAdminUsage(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.tab("Usage")
	d.want("Organization lamb, this month", "o another organization")

	d.press("o")
	d.want("Usage of another organization", "Organization")
	d.press(strings.Split(strings.Repeat("backspace ", len("lamb")), " ")[:len("lamb")]...)
	d.typ("nosuch")
	d.press("enter")
	d.want("Usage of another organization", `organization "nosuch" not found`)
	d.want("Organization")

	for range len("nosuch") {
		d.press("backspace")
	}
	d.typ("physics")
	d.press("enter")
	d.want("Organization physics, this month")
	d.wantNot("Usage of another organization")
	d.press("b")
	d.want("Organization physics, this month", "by user")

	d.press("o", "esc")
	d.want("Organization physics, this month")
}
