package sshserver

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/charmbracelet/ssh"
	"github.com/spf13/cobra"

	"lamb/internal/safetext"
	"lamb/service"
)

// Exit statuses of SSH commands.
const (
	exitOK     = 0
	exitFailed = 1 // the service refused or failed
	exitUsage  = 2 // unknown command or flag, wrong arguments
)

const usageIndent = "  "

// runCommand runs one non-interactive command (`ssh host org list`) with
// the session's identity and returns its exit status. Each run builds its
// own command tree: nothing is shared between sessions.
func (h *handler) runCommand(s ssh.Session, actor service.Actor) int {
	_, _, tty := s.Pty()
	c := &cli{svc: h.svc, actor: actor, tty: tty}
	root := c.rootCommand(sshHint(s.LocalAddr()))
	args := s.Command()
	if args == nil {
		args = []string{} // nil would make cobra read the process's arguments
	}
	root.SetArgs(args)
	root.SetIn(s)
	// Every byte a command prints passes the one sanitizer: data in any
	// print path (a table, a detail, an error quoting a name) is shown,
	// never obeyed by the terminal.
	stdout, stderr := safetext.NewWriter(s), safetext.NewWriter(s.Stderr())
	defer stdout.Flush()
	defer stderr.Flush()
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(s.Context())
	if err == nil {
		return exitOK
	}
	var re *runError
	if !errors.As(err, &re) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "error: %s\n\n%s", safetext.Sanitize(err.Error()), cmd.UsageString())
		return exitUsage
	}
	var ue usageError
	if errors.As(re.err, &ue) {
		fmt.Fprintf(stderr, "error: %s\n\n%s", safetext.Sanitize(ue.msg), cmd.UsageString())
		return exitUsage
	}
	name := strings.TrimPrefix(cmd.CommandPath(), root.CommandPath()+" ")
	msg, internal := errorLine(re.err, actor, name)
	if internal && s.Context().Err() == nil { // not a client that went away
		h.log.Error("ssh command failed", "command", name, "actor", actor.Display(), "err", re.err)
	}
	var rows service.RowErrors
	if errors.As(re.err, &rows) { // a line for each bad row of a list
		for _, line := range strings.Split(msg, "\n") {
			fmt.Fprintln(stderr, safetext.Sanitize(line))
		}
		return exitFailed
	}
	fmt.Fprintln(stderr, safetext.Sanitize(msg))
	return exitFailed
}

// sshHint is how a person reaches this server, for usage lines:
// "ssh -p 2222 HOST".
func sshHint(local net.Addr) string {
	if local != nil {
		if _, port, err := net.SplitHostPort(local.String()); err == nil && port != "22" {
			return "ssh -p " + port + " HOST"
		}
	}
	return "ssh HOST"
}

// cli is one run of an SSH command: who runs it and what it calls. Streams
// and the context come from the cobra command of the run.
type cli struct {
	svc   *service.Service
	actor service.Actor
	json  bool   // --json
	tty   bool   // the client asked for a terminal (ssh -t)
	hint  string // how to reach the server: "ssh -p 2222 HOST"
}

// example formats example command lines, each run through ssh.
func (c *cli) example(lines ...string) string {
	for i, l := range lines {
		lines[i] = usageIndent + strings.ReplaceAll(l, "SSH", c.hint)
	}
	return strings.Join(lines, "\n")
}

func (c *cli) rootCommand(hint string) *cobra.Command {
	c.hint = hint
	root := &cobra.Command{
		Use:   "lamb",
		Short: "Administer lamb over SSH",
		Long: "Run one lamb command over SSH with the identity of your SSH key:\n\n" +
			usageIndent + hint + " COMMAND [ARGS]\n\n" +
			"Results go to stdout (text, or JSON with --json), errors to stderr. The exit status is\n" +
			"0 on success, 1 when the command failed or was refused, 2 for a usage error.\n" +
			"Quote arguments with spaces twice, once for your shell and once for the server:\n\n" +
			usageIndent + hint + ` 'user create --email ana@acme.example --name "Ana Ruiz"'`,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: hint},
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		RunE:              groupRunE,
		// A session opened with a one-time password chooses a password
		// before anything else.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !c.actor.MustChoosePassword || cmd.Name() == "password" || cmd.Name() == "whoami" {
				return nil
			}
			return &runError{failure{fmt.Sprintf("you signed in with a one-time password: choose your own first, "+
				"with `printf '\\n%%s\\n' NEW | %s password` or in the console (%s -t)", c.hint, c.hint)}}
		},
	}
	root.PersistentFlags().BoolVar(&c.json, "json", false, "print JSON instead of text")
	root.AddCommand(
		c.whoamiCommand(),
		c.orgCommand(),
		c.userCommand(),
		c.sshkeyCommand(),
		c.signupCommand(),
		c.assistantCommand(),
		c.kbCommand(),
		c.apikeyCommand(),
		c.usageCommand(),
		c.auditCommand(),
		c.passwordCommand(),
	)
	markRuns(root)
	return root
}

// groupRunE answers a command group run without a known subcommand, so that
// `org` or `org frobnicate` is a usage error rather than help with status 0.
func groupRunE(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0 && !cmd.HasParent():
		return usageErrorf("no command given")
	case len(args) == 0:
		return usageErrorf("%q needs a command", cmd.Name())
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.Name())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usageError{msg}
}

// markRuns wraps every command's RunE so that the errors it returns are
// told apart from cobra's own (unknown commands and flags, argument counts,
// required flags), which are all usage errors.
func markRuns(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return &runError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRuns(sub)
	}
}

// runError is an error returned by a command's body.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// usageError says the command line is wrong: exit 2 with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// failure is a message for the person who ran the command, printed as is.
type failure struct{ msg string }

func (e failure) Error() string { return e.msg }

func failf(format string, args ...any) error {
	return failure{fmt.Sprintf(format, args...)}
}

// errorLine maps an error to the one line printed on stderr. Domain errors
// say what went wrong; anything else is internal (logged, not shown).
func errorLine(err error, a service.Actor, command string) (msg string, internal bool) {
	var (
		f  failure
		te *service.ThrottledError
		fe *service.ForbiddenError
	)
	switch {
	case errors.As(err, &f):
		return f.msg, false
	case errors.As(err, &fe):
		return fe.Error(), false // it says why, which the role alone doesn't
	case errors.Is(err, service.ErrForbidden):
		return fmt.Sprintf("permission denied: %s can't run %q", describeActor(a), command), false
	case errors.Is(err, service.ErrUnavailable):
		// The cause (the database's address, the driver's words) is for
		// the log; the person is told what it means.
		return service.ErrUnavailable.Error(), true
	case errors.As(err, &te),
		errors.Is(err, service.ErrNotFound),
		errors.Is(err, service.ErrInvalid),
		errors.Is(err, service.ErrConflict),
		errors.Is(err, service.ErrLimit),
		errors.Is(err, service.ErrRateLimited),
		errors.Is(err, service.ErrDisabled),
		errors.Is(err, service.ErrOrgSuspended),
		errors.Is(err, service.ErrBadCredentials),
		errors.Is(err, service.ErrBusy),
		errors.Is(err, service.ErrKnowledgeBase):
		return err.Error(), false
	}
	return "internal error: the command failed on the server; its log has the details", true
}

// describeActor names the actor's role for a permission message.
func describeActor(a service.Actor) string {
	switch a.Role {
	case service.RoleSystemAdmin:
		return "a system admin"
	case service.RoleOrgAdmin:
		return "an org admin of " + a.OrgSlug
	case service.RoleMember:
		return "a member of " + a.OrgSlug
	}
	return "this account"
}
