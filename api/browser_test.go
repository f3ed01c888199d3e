package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lamb/internal/testtool"
)

// TestSignupInBrowser drives the signup page in headless Chromium through
// chromedriver's W3C WebDriver API: a refused form comes back with the
// error next to the field, then the corrected form lands on the welcome
// page (through a redirect and its cookie), which a reload shows again. It
// checks what plain HTTP tests can't: the page works in a real browser
// under its Content-Security-Policy, without JavaScript.
func TestSignupInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test starts Chromium; skipped in -short mode")
	}
	tools := testtool.Require(t, "install Debian's chromium and chromium-driver", "chromium", "chromedriver")
	chromium, driver := tools[0], tools[1]
	e := newTestEnv(t)
	wd := startWebDriver(t, driver, chromium)

	wd.navigate(t, e.srv.URL+"/signup?key="+url.QueryEscape(testSignupKey))
	if got := wd.title(t); got != "Sign up · lamb" {
		t.Fatalf("title = %q", got)
	}
	if got := wd.property(t, wd.find(t, "#signup_key"), "value"); got != testSignupKey {
		t.Fatalf("signup key prefilled with %q", got)
	}
	// The inline styles apply: the CSP allows them.
	if got := wd.css(t, wd.find(t, "button[type=submit]"), "background-color"); got != "rgb(90, 63, 192)" && got != "rgba(90, 63, 192, 1)" {
		t.Errorf("submit button background = %q: the page's styles did not apply", got)
	}

	// A bad email: the page comes back with the message next to the field
	// and the name and key kept, the password not.
	wd.typeInto(t, "#email", "not-an-email")
	wd.typeInto(t, "#name", "Grace Hopper")
	wd.typeInto(t, "#password", "hunter2-secret-pw")
	wd.click(t, wd.find(t, "button[type=submit]"))
	errEl := wd.waitFor(t, "#email-error")
	if got := wd.text(t, errEl); !strings.Contains(got, "is not an email address") {
		t.Fatalf("error next to email = %q", got)
	}
	email := wd.find(t, "#email")
	if got := wd.attribute(t, email, "aria-invalid"); got != "true" {
		t.Errorf("email aria-invalid = %q", got)
	}
	for sel, want := range map[string]string{"#email": "not-an-email", "#name": "Grace Hopper", "#password": "", "#signup_key": testSignupKey} {
		if got := wd.property(t, wd.find(t, sel), "value"); got != want {
			t.Errorf("%s after the round trip = %q, want %q", sel, got, want)
		}
	}

	// Corrected, with an SSH key: the welcome page.
	line, fp := newSSHKey(t, "grace@laptop")
	wd.clear(t, email)
	wd.typeInto(t, "#email", "Grace@Example.org")
	wd.typeInto(t, "#password", "hunter2-secret-pw")
	wd.typeInto(t, "#ssh_public_key", line)
	wd.click(t, wd.find(t, "button[type=submit]"))
	if got := wd.waitTitle(t, "Welcome"); got != "Welcome to Acme University · lamb" {
		t.Errorf("title = %q", got)
	}
	if got := wd.text(t, wd.find(t, "h1")); got != "Welcome, Grace Hopper" {
		t.Fatalf("h1 after signup = %q; page\n%s", got, wd.source(t))
	}
	lead := wd.text(t, wd.find(t, "p.lead"))
	if !strings.Contains(lead, "You joined "+testOrgName) || !strings.Contains(lead, "grace@example.org") {
		t.Errorf("welcome text = %q: want the organization joined and the email", lead)
	}
	if got := wd.text(t, wd.find(t, "pre")); got != testSSHHint {
		t.Errorf("ssh hint = %q", got)
	}
	if a, err := e.svc.ActorForSSHKey(context.Background(), fp); err != nil || a.Email != "grace@example.org" || a.OrgSlug != testOrgSlug {
		t.Fatalf("the key given in the browser signs in as %+v, %v", a, err)
	}

	// The browser was sent on to the result page: reloading it shows the
	// welcome again, and no second form is posted ("already exists").
	if got := wd.url(t); !strings.HasSuffix(got, "/signup/done") {
		t.Fatalf("after signing up the browser is at %q", got)
	}
	wd.must(t, http.MethodPost, "/refresh", map[string]string{}, nil)
	if got := wd.waitTitle(t, "Welcome"); got != "Welcome to Acme University · lamb" {
		t.Errorf("title after a reload = %q", got)
	}
	if got := wd.text(t, wd.find(t, "h1")); got != "Welcome, Grace Hopper" {
		t.Fatalf("h1 after a reload = %q; page\n%s", got, wd.source(t))
	}
	if len(wd.findAll(t, "#email-error")) > 0 || strings.Contains(wd.source(t), "already exists") {
		t.Fatalf("the reload posted the form again:\n%s", wd.source(t))
	}
	if n := e.countUsers(t, "grace@example.org"); n != 1 {
		t.Fatalf("%d accounts after a reload", n)
	}
}

func (wd *webDriver) url(t *testing.T) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/url", nil, &s)
	return s
}

// webDriver is a W3C WebDriver session on a chromedriver we started.
type webDriver struct {
	base    string // http://127.0.0.1:port
	session string
	client  *http.Client
}

// startWebDriver starts chromedriver on a free loopback port, waits for it
// to be ready and opens a headless Chromium session. Cleanup ends both.
func startWebDriver(t *testing.T, driver, chromium string) *webDriver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port), "--log-path="+logPath)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	wd := &webDriver{base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 60 * time.Second}}
	t.Cleanup(func() {
		if wd.session != "" {
			wd.call(http.MethodDelete, "/session/"+wd.session, nil, nil)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("chromedriver log (tail):\n%s", tail(string(b), 4000))
			}
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct{ Ready bool }
		err := wd.call(http.MethodGet, "/status", nil, &st)
		if err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not ready after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--no-first-run", "--user-data-dir=" + t.TempDir()},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.call(http.MethodPost, "/session", caps, &sess); err != nil {
		t.Fatalf("new browser session: %v", err)
	}
	wd.session = sess.SessionID
	// Page loads are bounded; elements are looked up without implicit
	// waits (waitFor polls with its own deadline).
	wd.must(t, http.MethodPost, "/timeouts", map[string]any{"pageLoad": 20000, "implicit": 0, "script": 5000}, nil)
	return wd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// call sends a WebDriver command and decodes its "value" into out.
func (wd *webDriver) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := wd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct{ Value json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var we struct{ Error, Message string }
		json.Unmarshal(env.Value, &we)
		return &webDriverError{code: we.Error, msg: fmt.Sprintf("%s %s: %d %s: %s", method, path, resp.StatusCode, we.Error, we.Message)}
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

type webDriverError struct{ code, msg string }

func (e *webDriverError) Error() string { return e.msg }

// must runs a command of the session and fails the test on error.
func (wd *webDriver) must(t *testing.T, method, path string, in, out any) {
	t.Helper()
	if err := wd.call(method, "/session/"+wd.session+path, in, out); err != nil {
		t.Fatal(err)
	}
}

func (wd *webDriver) navigate(t *testing.T, u string) {
	t.Helper()
	wd.must(t, http.MethodPost, "/url", map[string]string{"url": u}, nil)
}

func (wd *webDriver) title(t *testing.T) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/title", nil, &s)
	return s
}

// waitTitle polls, for at most 10 seconds, until the page's title starts
// with prefix (the next page has loaded), and returns it.
func (wd *webDriver) waitTitle(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := wd.title(t)
		if strings.HasPrefix(got, prefix) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("title still %q after 10s, want %q…; page\n%s", got, prefix, wd.source(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (wd *webDriver) source(t *testing.T) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/source", nil, &s)
	return s
}

// elementKey is the W3C name of an element reference.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// findAll returns the elements that match a CSS selector now.
func (wd *webDriver) findAll(t *testing.T, css string) []string {
	t.Helper()
	var refs []map[string]string
	wd.must(t, http.MethodPost, "/elements", map[string]string{"using": "css selector", "value": css}, &refs)
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		ids = append(ids, r[elementKey])
	}
	return ids
}

func (wd *webDriver) find(t *testing.T, css string) string {
	t.Helper()
	ids := wd.findAll(t, css)
	if len(ids) == 0 {
		t.Fatalf("no element %s in\n%s", css, wd.source(t))
	}
	return ids[0]
}

// waitFor polls for an element, for at most 10 seconds: after a click the
// next page may still be loading.
func (wd *webDriver) waitFor(t *testing.T, css string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var refs []map[string]string
		err := wd.call(http.MethodPost, "/session/"+wd.session+"/elements", map[string]string{"using": "css selector", "value": css}, &refs)
		if err == nil && len(refs) > 0 {
			return refs[0][elementKey]
		}
		var we *webDriverError
		if err != nil && !errors.As(err, &we) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no element %s after 10s (%v) in\n%s", css, err, wd.source(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (wd *webDriver) typeInto(t *testing.T, css, text string) {
	t.Helper()
	wd.must(t, http.MethodPost, "/element/"+wd.find(t, css)+"/value", map[string]string{"text": text}, nil)
}

func (wd *webDriver) clear(t *testing.T, el string) {
	t.Helper()
	wd.must(t, http.MethodPost, "/element/"+el+"/clear", map[string]string{}, nil)
}

func (wd *webDriver) click(t *testing.T, el string) {
	t.Helper()
	wd.must(t, http.MethodPost, "/element/"+el+"/click", map[string]string{}, nil)
}

func (wd *webDriver) text(t *testing.T, el string) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/element/"+el+"/text", nil, &s)
	return s
}

func (wd *webDriver) property(t *testing.T, el, name string) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/element/"+el+"/property/"+name, nil, &s)
	return s
}

func (wd *webDriver) attribute(t *testing.T, el, name string) string {
	t.Helper()
	var s *string
	wd.must(t, http.MethodGet, "/element/"+el+"/attribute/"+name, nil, &s)
	if s == nil {
		return ""
	}
	return *s
}

func (wd *webDriver) css(t *testing.T, el, name string) string {
	t.Helper()
	var s string
	wd.must(t, http.MethodGet, "/element/"+el+"/css/"+name, nil, &s)
	return s
}
