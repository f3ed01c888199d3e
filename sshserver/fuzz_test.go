package sshserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	gossh "golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// The command-line splitter never panics, and what it splits can be
// quoted back and split again to the same words; a line of plain words
// splits like strings.Fields.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"", "whoami", "org create acme --name 'Acme University'", `user create --name "A \"B\" C"`,
		`a\ b c`, `''`, `""`, `'unclosed`, `"unclosed`, `trailing\`, "tab\tsep\nnl", `mixed'single'"double"\x`, "caf\xc3 \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := splitCommand(line)
		if err != nil {
			return
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		again, err := splitCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("split(%q) = %q; quoted and split again: %q, %v", line, args, again, err)
		}
		if !strings.ContainsAny(line, `'"\`) {
			if fields := strings.FieldsFunc(line, unicode.IsSpace); !slices.Equal(fields, args) && !(len(fields) == 0 && len(args) == 0) {
				t.Fatalf("split(%q) = %q, want the fields %q", line, args, fields)
			}
		}
	})
}

// Any command line, run as a member or as a system admin, ends as a
// success, a usage error (exit 2) or a refusal (exit 1) without
// panicking: every command's flags and arguments are checked before they
// are used.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{"whoami --json", "org list", "org create x --name", "org create gamma --name Gamma --admin-email",
		"user create --org acme --email e@acme.edu --name N --role root", "user list --org", "sshkey add member@acme.edu 'ssh-ed25519 AAAA'",
		"usage --since 99999999d --by nothing", "usage --from 2026-13-45 --to x", "audit --since -1d --action", "apikey create --name",
		"apikey revoke -1", "assistant update 9223372036854775808 --name x", "assistant create --name a --provider p --model m --kb-top-k -5 --kb-threshold NaN",
		"org quota set acme --tokens-per-month -7", "signup set-key 'a b'", "--json --json", "help org", "org --help", "-- --", "kb query"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	ctx := context.Background()
	st, err := store.Open(filepath.Join(f.TempDir(), "lamb.db"), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	svc := service.New(service.Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler),
		SystemEnv: func() (config.System, error) { return config.System{}, nil }})
	f.Cleanup(svc.Close)
	if _, err := svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		f.Fatal(err)
	}
	signIn := func(line string) service.Actor {
		pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			f.Fatal(err)
		}
		a, err := svc.ActorForSSHKey(ctx, gossh.FingerprintSHA256(pk))
		if err != nil {
			f.Fatal(err)
		}
		return a
	}
	_, adminLine := newTestSignerTB(f)
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), []string{adminLine}, "admin@lamb.local", "Administrator"); err != nil {
		f.Fatal(err)
	}
	admin := signIn(adminLine)
	_, memberLine := newTestSignerTB(f)
	if _, err := svc.CreateOrg(ctx, admin, service.CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &service.NewAdmin{Email: "boss@acme.edu", Name: "Boss", SSHKey: mustLine(f)}}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, admin, service.CreateUserInput{OrgSlug: "acme", Email: "member@acme.edu", Name: "Member",
		SSHKey: memberLine}); err != nil {
		f.Fatal(err)
	}
	member := signIn(memberLine)

	f.Fuzz(func(t *testing.T, line string, asAdmin bool) {
		args, err := splitCommand(line)
		if err != nil {
			return
		}
		actor := member
		if asAdmin {
			actor = admin
		}
		c := &cli{svc: svc, actor: actor}
		root := c.rootCommand("ssh HOST")
		if args == nil {
			args = []string{}
		}
		root.SetArgs(args)
		root.SetIn(strings.NewReader(""))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := root.ExecuteContextC(cctx); err != nil {
			var re *runError
			if errors.As(err, &re) && re.err == nil {
				t.Fatalf("%q failed without an error", line)
			}
		}
	})
}

// mustLine is a fresh authorized-key line.
func mustLine(tb testing.TB) string {
	_, line := newTestSignerTB(tb)
	return line
}

// newTestSignerTB is newTestSigner for fuzz targets.
func newTestSignerTB(tb testing.TB) (gossh.Signer, string) {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.PublicKey())))
}
