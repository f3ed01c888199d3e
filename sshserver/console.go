package sshserver

import (
	"fmt"

	"github.com/charmbracelet/ssh"

	"lamb/service"
)

// runConsole shows the console of the actor's role.
func (h *handler) runConsole(s ssh.Session, actor service.Actor) {
	id, err := h.svc.Whoami(s.Context(), actor)
	if err != nil {
		fatal(s, err.Error())
		return
	}
	fmt.Fprintf(s, "Signed in as %s (%s) — %s of organization %s.\n", id.Name, id.Email, id.Role, id.OrgSlug)
}

// runSignIn shows the sign-in screen to a key that no account has yet.
func (h *handler) runSignIn(s ssh.Session) {
	fatal(s, "This SSH key is not linked to a lamb account.")
}
