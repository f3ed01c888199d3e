package console

import (
	"strings"
	"testing"
)

// A system admin edits an org's limits from its detail view (DESIGN §6:
// "edit name/status/limits").
func TestConsoleSysAdminEditsOrgLimits(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.want("physics")
	for range 5 { // select physics in the list
		if d.selected() != "" && strings.Contains(d.selected(), "physics") {
			break
		}
		d.press("down")
	}
	d.press("enter")
	d.want("Physics", "Limits")
	d.press("l")
	d.want("Limits of physics", "e to edit")
	d.press("e")
	d.press("ctrl+u")
	d.typ("5000")
	d.press("ctrl+s")
	d.want("limits saved")
	org, err := e.svc.GetOrg(e.ctx, e.root(), "physics")
	if err != nil || org.Limits.TokensPerMonth != 5000 {
		t.Fatalf("limits after save: %+v %v", org.Limits, err)
	}
	d.press("esc")
	d.want("Physics  (physics)")
}
