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

// The ceiling is the platform's: a system admin sets it from the org's
// limits (c), limits above it come down; the org admin sees it beside each
// limit and isn't offered to change it.
func TestConsoleCeilingForSysAdminAndOrgAdmin(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.root())
	d.want("physics")
	for range 5 {
		if strings.Contains(d.selected(), "physics") {
			break
		}
		d.press("down")
	}
	d.press("enter")
	d.press("l")
	d.want("Limits of physics", "c for the ceiling")
	d.press("c")
	d.want("Ceiling of physics")
	d.press("ctrl+u")
	d.typ("7000")
	d.press("ctrl+s")
	d.want("ceiling saved")
	org, err := e.svc.GetOrg(e.ctx, e.root(), "physics")
	if err != nil || org.Ceiling.TokensPerMonth != 7000 || org.Limits.TokensPerMonth != 7000 {
		t.Fatalf("after saving the ceiling: limits %+v ceiling %+v %v", org.Limits, org.Ceiling, err)
	}

	admin := e.console(e.actor(fp))
	admin.tab("Limits")
	admin.want("Limits of physics", "ceiling", "7000")
	admin.wantNot("c for the ceiling")
	admin.press("c")
	admin.wantNot("Ceiling of physics")
	admin.press("e")
	admin.press("ctrl+u")
	admin.typ("9000")
	admin.press("ctrl+s")
	admin.want("ceiling")
	if org, _ := e.svc.GetOrg(e.ctx, e.root(), "physics"); org.Limits.TokensPerMonth != 7000 {
		t.Fatalf("the org admin raised the limit past the ceiling: %+v", org.Limits)
	}
}
