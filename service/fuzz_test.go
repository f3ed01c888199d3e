package service

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/secret"
	"lamb/store"
)

// A chat-completion body from a caller is read without panicking, and a
// request routing would admit reserves a budget that is never negative
// and never below what it may generate: n × max(max_tokens,
// max_completion_tokens) when either is given (a reservation below it is
// a budget bypass).
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"lamb_assistant.1","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"n":4,"max_tokens":100}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":1000000,"n":128}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":-1000000}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":1000000000000000000,"n":128}`,
		`{"model":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"n":0}`,
		`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":1.5}`,
		`{"model":"x","messages":[],"stream":true}`,
		`null`, `[]`, `{"messages":"x"}`,
	} {
		f.Add([]byte(s), "You are a tutor.")
	}
	f.Fuzz(func(t *testing.T, body []byte, systemPrompt string) {
		req, err := NewChatRequest(body)
		if err != nil {
			return
		}
		if err := req.check(); err != nil {
			var ge *GatewayError
			if !errors.As(err, &ge) || ge.Status != 400 {
				t.Fatalf("check refused %q with %v, not a 400", body, err)
			}
			return
		}
		if p := promptEstimate(req, len(systemPrompt)); p < 0 {
			t.Fatalf("prompt estimate %d < 0 for %q", p, body)
		}
		res := needOf(req, len(systemPrompt)).total()
		if res < 0 {
			t.Fatalf("reservation %d < 0 for %q", res, body)
		}
		n := int64(1)
		if req.N != nil {
			n = *req.N
		}
		if req.MaxTokens != nil || req.MaxCompletionTokens != nil {
			if out := max(deref(req.MaxTokens), deref(req.MaxCompletionTokens)); res < n*out {
				t.Fatalf("reservation %d < n %d × max tokens %d for %q", res, n, out, body)
			}
		} else if res < n*defaultReservation {
			t.Fatalf("reservation %d < n %d × the default %d for %q", res, n, defaultReservation, body)
		}
	})
}

// An authorized-key line from anyone (signup, sshkey add, the
// environment) is parsed without panicking; a key accepted has a comment a
// terminal can draw and reads back, from the line lamb stores, as the same
// key.
func FuzzAuthorizedKey(f *testing.F) {
	line := keyLine() + " ana@laptop"
	f.Add(line)
	f.Add(strings.Replace(line, "ana@laptop", "evil\x1b]52;c;ZXZpbA==\x07", 1))
	f.Add(`command="rm -rf /" ` + line)
	f.Add(line + "\n" + line)
	f.Add("ssh-ed25519 AAAA")
	f.Add("-----BEGIN OPENSSH PRIVATE KEY-----")
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		k, err := parseSSHKey("ssh_key", line)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refused %q with %v, not ErrInvalid", line, err)
			}
			return
		}
		if safetext.Check(k.comment) != nil {
			t.Fatalf("accepted a comment a terminal would obey: %q", k.comment)
		}
		again, err := parseSSHKey("ssh_key", k.line)
		if err != nil || again.fingerprint != k.fingerprint || !strings.HasPrefix(k.fingerprint, "SHA256:") {
			t.Fatalf("stored line %q of %q reads back as %v, %v", k.line, line, again.fingerprint, err)
		}
	})
}

// An org export document that import refuses leaves the database exactly
// as it was: no org, user or assistant of it is left half made.
func FuzzImportOrg(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, err := store.Open(filepath.Join(dir, "lamb.db"), store.Options{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	box, _ := secret.NewBox(key)
	e := &testEnv{svc: New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: clock}), st: st, key: key, dir: dir, now: now}
	if _, err := e.svc.SyncSystemOrg(ctx, SystemActor(), config.System{}); err != nil {
		f.Fatal(err)
	}
	line := keyLine()
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		f.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(pk)
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{line}, "root@lamb.local", "Root"); err != nil {
		f.Fatal(err)
	}
	sys, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		f.Fatal(err)
	}

	userKey := keyLine() + " ana"
	cfg := config.NewOrg()
	cfg.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, BaseURL: "https://api.openai.com/v1",
		Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}
	good := Export{Version: ExportVersion, Organization: ExportOrg{Slug: "acme", Name: "Acme"}, Config: cfg.JSON(),
		Signup: ExportSignup{Key: "acme-Xq7-Lm9-Zt2w"},
		Users: []ExportUser{{Email: "ana@acme.edu", Name: "Ana", Role: "admin", SSHKeys: []string{userKey}},
			{Email: "bo@acme.edu", Name: "Bo", Role: "member"}},
		Assistants: []ExportAssistant{{Name: "Tutor", Owner: "ana@acme.edu", Provider: "openai", Model: "gpt-4o-mini", Enabled: true}}}
	seed := func(ex Export) {
		data, err := json.Marshal(ex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	seed(good)
	bad := good
	bad.Assistants = append([]ExportAssistant{}, good.Assistants...)
	bad.Assistants = append(bad.Assistants, ExportAssistant{Name: "Orphan", Owner: "nobody@acme.edu", Provider: "openai", Model: "gpt-4o-mini"})
	seed(bad) // fails after the org and its users were written
	bad = good
	bad.Users = append([]ExportUser{}, good.Users...)
	bad.Users = append(bad.Users, ExportUser{Email: "ana@acme.edu", Name: "Ana again", Role: "member"})
	seed(bad) // a duplicate user
	bad = good
	bad.Users = []ExportUser{{Email: "root@lamb.local", Name: "Root", Role: "admin"}}
	seed(bad) // a user of another org
	bad = good
	bad.Organization.Name = "Acme\x1b[2J"
	seed(bad)
	bad = good
	bad.Config = json.RawMessage(`{"version":1,"setups":{}}`)
	seed(bad)
	f.Add([]byte(`{"version":1,"organization":{"slug":"lamb","name":"x"}}`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var ex Export
		if json.Unmarshal(data, &ex) != nil {
			return
		}
		before := e.dump(t)
		_, err := e.svc.ImportOrg(ctx, sys, ex, ImportOptions{})
		if err == nil {
			// Imported: remove it so that the next input starts from the same database.
			if _, err := e.svc.DeleteOrg(ctx, sys, ex.Organization.Slug, DeleteUsers); err != nil {
				t.Fatalf("delete the imported org: %v", err)
			}
			return
		}
		if after := e.dump(t); after != before {
			t.Fatalf("a refused import (%v) changed the database:\nbefore:\n%s\nafter:\n%s", err, before, after)
		}
	})
}

// A user list, whatever it holds, is read without panicking: every row is
// either taken or named by a line that exists in the list.
func FuzzUserList(f *testing.F) {
	for _, seed := range []string{
		"email,name,role,ssh_key\nana@uni.example,Ana,member,\n",
		"\xef\xbb\xbfEmail;Name\r\nbo@uni.example;\"Li; Bo\"\r\n",
		"email,name\n\"unterminated,x\n",
		"{\"email\":\"a@b.example\",\"name\":\"A\"}\n{\"email\":1}\n",
		"email,email,name\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		rows, _, errs, err := parseUserList([]byte(data))
		if err != nil {
			return
		}
		lines := strings.Count(data, "\n") + 1
		checked, more := checkUserRows(rows)
		for _, r := range append(errs, more...) {
			if r.Line < 0 || r.Line > lines {
				t.Fatalf("row error at line %d of a list of %d lines: %v", r.Line, lines, r)
			}
		}
		for _, c := range checked {
			if c.line < 1 || c.line > lines || c.email == "" || c.name == "" {
				t.Fatalf("checked row %+v of a list of %d lines", c, lines)
			}
		}
	})
}
