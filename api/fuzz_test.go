package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// A signup body from anyone on the network is answered without panicking,
// with 201 and the new account or with the one JSON error shape and a
// status of DESIGN §7: 400 for a bad field, 403 for a wrong or disabled
// key or a full org, 409 for a taken email, 429 when throttled, 503 when
// busy.
func FuzzSignupJSON(f *testing.F) {
	line, _ := newSSHKey(f, "ana@laptop")
	for _, s := range []string{
		`{"email":"ana@acme.edu","name":"Ana","password":"password-1","signup_key":"` + testSignupKey + `"}`,
		`{"email":"bo@acme.edu","name":"Bo","password":"password-1","signup_key":"` + testSignupKey + `","ssh_public_key":` + string(mustJSON(f, line)) + `}`,
		`{"email":"ana@acme.edu","name":"Ana","password":"short","signup_key":"` + testSignupKey + `"}`,
		`{"email":"not an email","name":"","password":"password-1","signup_key":"nope"}`,
		`{"email":"x@acme.edu","name":"\u001b]52;c;ZXZpbA==\u0007","password":"password-1","signup_key":"` + testSignupKey + `"}`,
		`{"email":1,"name":[],"password":{},"signup_key":null}`,
		`{"email":"x@acme.edu","name":"X","password":"password-1","signup_key":"` + testSignupKey + `","ssh_public_key":"ssh-ed25519 AAAA"}`,
		`null`, `[]`, `{`, ``, `{"email":"a@b.co"} {"x":1}`,
	} {
		f.Add([]byte(s))
	}
	e := newTestEnv(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte) {
		// Each input from its own address, so that the per-address limit
		// doesn't answer everything with 429.
		i := n.Add(1)
		r := e.serveFromBody(t, fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255), body)
		switch r.status {
		case 201:
			var out struct {
				Email        string `json:"email"`
				Organization struct {
					Slug string `json:"slug"`
				} `json:"organization"`
				Role string `json:"role"`
			}
			if err := json.Unmarshal(r.body, &out); err != nil || out.Email == "" || out.Organization.Slug != testOrgSlug || out.Role != "member" {
				t.Fatalf("201 for %q: %s (%v)", body, r.body, err)
			}
		case 400, 403, 409, 429, 503:
			var shape map[string]map[string]string
			if err := json.Unmarshal(r.body, &shape); err != nil || len(shape) != 1 || shape["error"]["message"] == "" ||
				shape["error"]["type"] == "" || shape["error"]["code"] == "" {
				t.Fatalf("%d for %q: not the error shape: %s", r.status, body, r.body)
			}
		default:
			t.Fatalf("status %d for %q: %s", r.status, body, r.body)
		}
	})
}

// The signup form from anyone is answered without panicking, with an HTML
// page and a status of DESIGN §7; markup typed into any field comes back
// escaped (the seeds carry an <x-lamb> element, which the page itself
// never holds), and a password never comes back at all (the seeds' start
// with pw-secret-).
func FuzzSignupForm(f *testing.F) {
	line, _ := newSSHKey(f, "ana@laptop")
	f.Add("ana@acme.edu", "Ana", "pw-secret-1", testSignupKey, "")
	f.Add("bo@acme.edu", `Grace "Amazing" <x-lamb>Hopper</x-lamb>`, "pw-secret-hunter2", testSignupKey, line)
	f.Add(`<x-lamb onclick=alert(1)>@acme.edu`, `"><x-lamb>`, "pw-secret-2", "<x-lamb>nope", "ssh-ed25519 <x-lamb>")
	f.Add("x@acme.edu", "X", "pw-secret", `"><x-lamb onload=alert(1)>`, line+` <x-lamb>`)
	f.Add("", "", "", "", "")
	e := newTestEnv(f)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, email, name, password, signupKey, sshKey string) {
		form := url.Values{"email": {email}, "name": {name}, "password": {password}, "signup_key": {signupKey}, "ssh_public_key": {sshKey}}
		req := httptest.NewRequest(http.MethodPost, "/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		i := n.Add(1)
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code == http.StatusSeeOther {
			// Signed up: what is checked is the result page it leads to.
			done := httptest.NewRequest(http.MethodGet, rec.Header().Get("Location"), nil)
			for _, c := range rec.Result().Cookies() {
				done.AddCookie(c)
			}
			rec = httptest.NewRecorder()
			e.handler.ServeHTTP(rec, done)
		}
		switch rec.Code {
		case 200, 400, 403, 409, 413, 429, 503:
		default:
			t.Fatalf("status %d for %q", rec.Code, form.Encode())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("Content-Type %q", ct)
		}
		page := rec.Body.String()
		if strings.Contains(page, "<x-lamb") {
			t.Fatalf("markup typed into the form runs in the page: %q", form.Encode())
		}
		if strings.HasPrefix(password, "pw-secret-") && strings.Contains(page, password) {
			for _, v := range []string{email, name, signupKey, sshKey} {
				if strings.Contains(v, password) {
					return // typed into another field too
				}
			}
			t.Fatalf("the page shows the password %q", password)
		}
	})
}
