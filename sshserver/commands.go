package sshserver

import (
	"fmt"

	"github.com/charmbracelet/ssh"

	"lamb/service"
)

// runCommand runs one non-interactive command and returns its exit status.
func (h *handler) runCommand(s ssh.Session, actor service.Actor) int {
	id, err := h.svc.Whoami(s.Context(), actor)
	if err != nil {
		fmt.Fprintln(s.Stderr(), err)
		return 1
	}
	fmt.Fprintf(s, "%s (%s) — %s of %s\n", id.Name, id.Email, id.Role, id.OrgSlug)
	return 0
}
