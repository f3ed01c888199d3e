package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
)

// systemVars are the variables of the system organization (DESIGN §4).
var systemVars = []string{
	"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODELS", "OPENAI_MODEL",
	"OLLAMA_BASE_URL", "OLLAMA_MODELS", "OLLAMA_MODEL",
	"LAMB_KB_SERVER", "LAMB_KB_SERVER_TOKEN", "SIGNUP_ENABLED", "SIGNUP_SECRET_KEY",
}

// allVars are every variable lamb reads.
var allVars = append([]string{
	"LAMB_DATA_DIR", "LAMB_SSH_ADDR", "LAMB_HTTP_ADDR", "LAMB_ADMIN_KEYS", "LAMB_ADMIN_EMAIL",
	"LAMB_ADMIN_NAME", "LAMB_SECRET_KEY", "LAMB_LOG_FORMAT", "LAMB_LOG_LEVEL", "LAMB_PUBLIC_URL",
	"LAMB_USAGE_RETENTION_DAYS", "LAMB_METRICS", "LAMB_DATABASE_URL", "LAMB_SSH_HOST_KEY",
	"LAMB_WEBHOOK_ALLOW_PRIVATE",
}, systemVars...)

// unsetenv unsets variables for the test; t.Setenv restores them afterwards.
func unsetenv(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		t.Setenv(k, "")
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

// authorizedKey makes a new ed25519 key and returns its authorized-key line.
func authorizedKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

func ecdsaAuthorizedKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// varError asserts that err is a *config.VarError naming the variable.
func varError(t *testing.T, err error, name string) *config.VarError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a *config.VarError for %s", name)
	}
	var ve *config.VarError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %v, want a *config.VarError", err, err)
	}
	if ve.Var != name {
		t.Fatalf("error names %s, want %s (error: %v)", ve.Var, name, err)
	}
	if !strings.HasPrefix(err.Error(), name+": ") || ve.Message == "" {
		t.Errorf("Error() = %q, want %q and a message", err.Error(), name+": …")
	}
	return ve
}

func TestParseDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"unset", nil},
		{"empty", map[string]string{
			"LAMB_DATA_DIR": "", "LAMB_SSH_ADDR": "", "LAMB_HTTP_ADDR": "", "LAMB_ADMIN_KEYS": "",
			"LAMB_ADMIN_EMAIL": "", "LAMB_ADMIN_NAME": "", "LAMB_SECRET_KEY": "", "LAMB_LOG_FORMAT": "",
			"LAMB_LOG_LEVEL": "", "LAMB_PUBLIC_URL": "", "LAMB_USAGE_RETENTION_DAYS": "", "LAMB_METRICS": "",
		}},
		{"blank", map[string]string{"LAMB_DATA_DIR": "  ", "LAMB_LOG_LEVEL": " ", "LAMB_USAGE_RETENTION_DAYS": "\t"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.MapLookup(tt.env))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			want := &config.Config{
				DataDir:             "./data",
				SSHAddr:             ":2222",
				HTTPAddr:            ":8080",
				AdminEmail:          "admin@lamb.local",
				AdminName:           "Administrator",
				LogFormat:           "text",
				LogLevel:            "info",
				UsageRetentionDays:  400,
				KBTimeout:           10 * time.Second,
				SSHConnsPerAddress:  64,
				HTTPConnsPerAddress: 256,
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("Parse = %+v\nwant  %+v", c, want)
			}
			if got := c.BaseURL(); got != "http://localhost:8080" {
				t.Errorf("BaseURL = %q", got)
			}
			if got := c.SSHPort(); got != "2222" {
				t.Errorf("SSHPort = %q", got)
			}
			if len(c.System.ManagedFields()) != 0 {
				t.Errorf("ManagedFields = %v, want none", c.System.ManagedFields())
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	admin := authorizedKey(t, "alice@laptop")
	env := map[string]string{
		"LAMB_DATA_DIR":              "/var/lib/lamb",
		"LAMB_SSH_ADDR":              "0.0.0.0:22",
		"LAMB_HTTP_ADDR":             "127.0.0.1:9000",
		"LAMB_ADMIN_KEYS":            admin,
		"LAMB_ADMIN_EMAIL":           " Root@Example.EDU ",
		"LAMB_ADMIN_NAME":            "Root",
		"LAMB_SECRET_KEY":            hex.EncodeToString(key),
		"LAMB_LOG_FORMAT":            "JSON",
		"LAMB_LOG_LEVEL":             "Debug",
		"LAMB_PUBLIC_URL":            "https://lamb.example.edu/",
		"LAMB_USAGE_RETENTION_DAYS":  "30",
		"LAMB_METRICS":               "yes",
		"LAMB_KB_TIMEOUT":            "2500ms",
		"LAMB_WEBHOOK_ALLOW_PRIVATE": "true",
	}
	c, err := config.Parse(config.MapLookup(env))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := &config.Config{
		DataDir:             "/var/lib/lamb",
		SSHAddr:             "0.0.0.0:22",
		HTTPAddr:            "127.0.0.1:9000",
		AdminKeys:           []string{admin},
		AdminEmail:          "root@example.edu",
		AdminName:           "Root",
		SecretKey:           key,
		LogFormat:           "json",
		LogLevel:            "debug",
		PublicURL:           "https://lamb.example.edu/",
		UsageRetentionDays:  30,
		KBTimeout:           2500 * time.Millisecond,
		Metrics:             true,
		WebhookAllowPrivate: true,
		SSHConnsPerAddress:  64,
		HTTPConnsPerAddress: 256,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse = %+v\nwant  %+v", c, want)
	}
	if got := c.BaseURL(); got != "https://lamb.example.edu" {
		t.Errorf("BaseURL = %q", got)
	}
	if got := c.SSHPort(); got != "22" {
		t.Errorf("SSHPort = %q", got)
	}
}

func TestParseBooleans(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{"1", true}, {"true", true}, {"TRUE", true}, {"yes", true}, {"on", true},
		{"0", false}, {"false", false}, {"False", false}, {"no", false}, {"off", false},
	} {
		c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_METRICS": tt.value, "SIGNUP_ENABLED": tt.value}))
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		if c.Metrics != tt.want {
			t.Errorf("LAMB_METRICS=%q: Metrics = %v", tt.value, c.Metrics)
		}
		if c.System.SignupEnabled == nil || *c.System.SignupEnabled != tt.want {
			t.Errorf("SIGNUP_ENABLED=%q: SignupEnabled = %v", tt.value, c.System.SignupEnabled)
		}
	}
}

func TestParseSecretKey(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(0xf0 + i%16) // base64 of these bytes uses + and / (- and _ in URL form)
	}
	for _, v := range []string{
		hex.EncodeToString(key),
		base64.StdEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		" " + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_SECRET_KEY": v}))
		if err != nil {
			t.Fatalf("LAMB_SECRET_KEY=%q: %v", v, err)
		}
		if !bytes.Equal(c.SecretKey, key) {
			t.Errorf("LAMB_SECRET_KEY=%q: SecretKey = %x, want %x", v, c.SecretKey, key)
		}
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	good := authorizedKey(t, "good@host")
	badPub := writeFile(t, dir, "bad.pub", good+"\nnot a key at all\n")
	missing := filepath.Join(dir, "missing.pub")

	tests := []struct {
		name    string
		env     map[string]string
		varName string
		message string // substring of the message
	}{
		{"unknown log level", map[string]string{"LAMB_LOG_LEVEL": "verbose"}, "LAMB_LOG_LEVEL", `want one of debug, info, warn, error, got "verbose"`},
		{"unknown log format", map[string]string{"LAMB_LOG_FORMAT": "xml"}, "LAMB_LOG_FORMAT", `want one of text, json, got "xml"`},
		{"openai base url without scheme", map[string]string{"OPENAI_BASE_URL": "api.openai.com/v1"}, "OPENAI_BASE_URL", "must start with http:// or https://"},
		{"openai base url with ftp scheme", map[string]string{"OPENAI_BASE_URL": "ftp://api.openai.com"}, "OPENAI_BASE_URL", "must start with http:// or https://"},
		{"openai base url without host", map[string]string{"OPENAI_BASE_URL": "https://"}, "OPENAI_BASE_URL", "has no host"},
		{"ollama base url without scheme", map[string]string{"OLLAMA_BASE_URL": "localhost:11434"}, "OLLAMA_BASE_URL", "must start with http"},
		{"kb timeout that isn't a duration", map[string]string{"LAMB_KB_TIMEOUT": "10"}, "LAMB_KB_TIMEOUT", "want a duration above zero"},
		{"kb timeout of zero", map[string]string{"LAMB_KB_TIMEOUT": "0s"}, "LAMB_KB_TIMEOUT", "want a duration above zero"},
		{"kb server without scheme", map[string]string{"LAMB_KB_SERVER": "kb:9090"}, "LAMB_KB_SERVER", "must start with http"},
		{"kb server that doesn't parse", map[string]string{"LAMB_KB_SERVER": "http://[kb"}, "LAMB_KB_SERVER", "not a valid URL"},
		{"public url without scheme", map[string]string{"LAMB_PUBLIC_URL": "lamb.example.edu"}, "LAMB_PUBLIC_URL", "must start with http"},
		{"public url without host", map[string]string{"LAMB_PUBLIC_URL": "http:///x"}, "LAMB_PUBLIC_URL", "has no host"},
		{"secret key too short", map[string]string{"LAMB_SECRET_KEY": hex.EncodeToString(make([]byte, 31))}, "LAMB_SECRET_KEY", "want 32 bytes"},
		{"secret key too long", map[string]string{"LAMB_SECRET_KEY": base64.StdEncoding.EncodeToString(make([]byte, 33))}, "LAMB_SECRET_KEY", "want 32 bytes"},
		{"secret key not encoded", map[string]string{"LAMB_SECRET_KEY": "correct horse battery staple"}, "LAMB_SECRET_KEY", "base64 or hex"},
		{"retention not a number", map[string]string{"LAMB_USAGE_RETENTION_DAYS": "forever"}, "LAMB_USAGE_RETENTION_DAYS", `got "forever"`},
		{"retention zero", map[string]string{"LAMB_USAGE_RETENTION_DAYS": "0"}, "LAMB_USAGE_RETENTION_DAYS", "1 or more"},
		{"retention negative", map[string]string{"LAMB_USAGE_RETENTION_DAYS": "-1"}, "LAMB_USAGE_RETENTION_DAYS", "1 or more"},
		{"retention fractional", map[string]string{"LAMB_USAGE_RETENTION_DAYS": "1.5"}, "LAMB_USAGE_RETENTION_DAYS", `got "1.5"`},
		{"metrics maybe", map[string]string{"LAMB_METRICS": "maybe"}, "LAMB_METRICS", `want true or false, got "maybe"`},
		{"webhook switch maybe", map[string]string{"LAMB_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "LAMB_WEBHOOK_ALLOW_PRIVATE", `want true or false, got "maybe"`},
		{"signup enabled maybe", map[string]string{"SIGNUP_ENABLED": "maybe"}, "SIGNUP_ENABLED", `want true or false, got "maybe"`},
		{"signup key too short", map[string]string{"SIGNUP_SECRET_KEY": "abc123"}, "SIGNUP_SECRET_KEY", "8-64 characters"},
		{"signup key too long", map[string]string{"SIGNUP_SECRET_KEY": strings.Repeat("a", 65)}, "SIGNUP_SECRET_KEY", "8-64 characters"},
		{"signup key starting with a dash", map[string]string{"SIGNUP_SECRET_KEY": "-abcdefgh"}, "SIGNUP_SECRET_KEY", "not starting or ending"},
		{"signup key ending with an underscore", map[string]string{"SIGNUP_SECRET_KEY": "abcdefgh_"}, "SIGNUP_SECRET_KEY", "not starting or ending"},
		{"signup key with a space", map[string]string{"SIGNUP_SECRET_KEY": "abcd efgh"}, "SIGNUP_SECRET_KEY", "8-64 characters"},
		{"signup key with a dot", map[string]string{"SIGNUP_SECRET_KEY": "abcd.efgh"}, "SIGNUP_SECRET_KEY", "8-64 characters"},
		{"admin key that doesn't parse", map[string]string{"LAMB_ADMIN_KEYS": "ssh-ed25519 AAAAnotakey alice"}, "LAMB_ADMIN_KEYS", "entry 1 is not an SSH public key"},
		{"second admin key that doesn't parse", map[string]string{"LAMB_ADMIN_KEYS": good + ";ssh-rsa AAAA"}, "LAMB_ADMIN_KEYS", "entry 2 is not an SSH public key"},
		{"admin key file missing", map[string]string{"LAMB_ADMIN_KEYS": missing}, "LAMB_ADMIN_KEYS", "neither an authorized-key line nor a readable .pub file"},
		{"admin key that is neither key nor file", map[string]string{"LAMB_ADMIN_KEYS": "alice@laptop"}, "LAMB_ADMIN_KEYS", "neither an authorized-key line nor a readable .pub file"},
		{"admin key file with a bad line", map[string]string{"LAMB_ADMIN_KEYS": badPub}, "LAMB_ADMIN_KEYS", "a line of " + badPub + " is not an SSH public key"},
		{"admin key path is a directory", map[string]string{"LAMB_ADMIN_KEYS": dir}, "LAMB_ADMIN_KEYS", "readable .pub file"},
		{"ssh addr without port", map[string]string{"LAMB_SSH_ADDR": "2222"}, "LAMB_SSH_ADDR", `want host:port or :port, got "2222"`},
		{"ssh addr host only", map[string]string{"LAMB_SSH_ADDR": "localhost"}, "LAMB_SSH_ADDR", "want host:port"},
		{"http addr without port", map[string]string{"LAMB_HTTP_ADDR": "8080"}, "LAMB_HTTP_ADDR", "want host:port"},
		{"admin email without @", map[string]string{"LAMB_ADMIN_EMAIL": "admin"}, "LAMB_ADMIN_EMAIL", "not an email address"},
		{"database url of another engine", map[string]string{"LAMB_DATABASE_URL": "mysql://lamb:pw@db/lamb"}, "LAMB_DATABASE_URL", "want a postgres://"},
		{"postgres without a secret key", map[string]string{"LAMB_DATABASE_URL": "postgres://lamb:pw@db/lamb"}, "LAMB_SECRET_KEY", "is required with PostgreSQL"},
		{"first bad variable wins", map[string]string{"LAMB_LOG_LEVEL": "loud", "OPENAI_BASE_URL": "x", "LAMB_SSH_ADDR": "1"}, "LAMB_LOG_LEVEL", "loud"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.MapLookup(tt.env))
			if c != nil {
				t.Error("Parse returned a config with an error")
			}
			ve := varError(t, err, tt.varName)
			if !strings.Contains(ve.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", ve.Message, tt.message)
			}
		})
	}
}

func TestParseErrorsDontLeakSecrets(t *testing.T) {
	const secretValue = "0123456789abcdef0123456789abcdef01" // 17 bytes of hex: wrong length
	_, err := config.Parse(config.MapLookup(map[string]string{"LAMB_SECRET_KEY": secretValue}))
	varError(t, err, "LAMB_SECRET_KEY")
	if strings.Contains(err.Error(), secretValue) {
		t.Errorf("error shows the secret key: %v", err)
	}
}

func TestParseAdminKeys(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3, k4 := authorizedKey(t, "alice@laptop"), authorizedKey(t, ""), authorizedKey(t, "carol@desk"), authorizedKey(t, "dave")
	ec := ecdsaAuthorizedKey(t)
	one := writeFile(t, dir, "carol.pub", k3+"\n")
	two := writeFile(t, dir, "team.pub", "# the team\n"+k3+"\r\n\n  "+k4+"  \n")

	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{"one key", k1, []string{k1}},
		{"separated by ;", k1 + ";" + k2, []string{k1, k2}},
		{"separated by ; with spaces", " " + k1 + " ; " + k2 + " ;", []string{k1, k2}},
		{"separated by newlines", k1 + "\n" + k2 + "\n", []string{k1, k2}},
		{"separated by CRLF", k1 + "\r\n" + k2, []string{k1, k2}},
		{"blank lines and comments", "# admins\n\n" + k1 + "\n   \n# old: " + k2 + "\n" + k2, []string{k1, k2}},
		{"ecdsa key", ec, []string{ec}},
		{".pub file", one, []string{k3}},
		{".pub file with two keys and a comment", two, []string{k3, k4}},
		{"keys and files mixed", k1 + ";" + one + "\n" + k2, []string{k1, k3, k2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_ADMIN_KEYS": tt.value}))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if !reflect.DeepEqual(c.AdminKeys, tt.want) {
				t.Errorf("AdminKeys =\n %q\nwant\n %q", c.AdminKeys, tt.want)
			}
			for _, line := range c.AdminKeys {
				if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
					t.Errorf("AdminKeys holds %q, which doesn't parse: %v", line, err)
				}
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		publicURL, httpAddr, want string
	}{
		{"", ":8080", "http://localhost:8080"},
		{"", "0.0.0.0:9000", "http://localhost:9000"},
		{"", "[::]:8080", "http://localhost:8080"},
		{"", "127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"", "lamb.internal:80", "http://lamb.internal:80"},
		{"", "[::1]:8080", "http://[::1]:8080"},
		{"https://lamb.example.edu", ":8080", "https://lamb.example.edu"},
		{"https://lamb.example.edu/", ":8080", "https://lamb.example.edu"},
		{"https://example.edu/lamb//", "0.0.0.0:80", "https://example.edu/lamb"},
	}
	for _, tt := range tests {
		c := &config.Config{PublicURL: tt.publicURL, HTTPAddr: tt.httpAddr}
		if got := c.BaseURL(); got != tt.want {
			t.Errorf("BaseURL(public %q, http %q) = %q, want %q", tt.publicURL, tt.httpAddr, got, tt.want)
		}
	}
	// The same through Parse.
	c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_HTTP_ADDR": "0.0.0.0:8443"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "http://localhost:8443" {
		t.Errorf("BaseURL with LAMB_HTTP_ADDR=0.0.0.0:8443 = %q", got)
	}
}

func TestLoad(t *testing.T) {
	unsetenv(t, allVars...)
	dir := t.TempDir()
	env := writeFile(t, dir, ".env", `# lamb settings
LAMB_DATA_DIR=/from/file
LAMB_LOG_LEVEL=debug
export LAMB_HTTP_ADDR=:9090
OPENAI_API_KEY=sk-from-file
OPENAI_MODELS="gpt-4o-mini, gpt-4o"
LAMB_METRICS=true # serve /metrics
`)
	t.Setenv("LAMB_DATA_DIR", "/from/env")
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("LAMB_LOG_FORMAT", "json")

	c, err := config.Load(env)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if c.DataDir != "/from/env" {
		t.Errorf("DataDir = %q, want the process environment's", c.DataDir)
	}
	if c.System.OpenAIAPIKey == nil || *c.System.OpenAIAPIKey != "sk-from-env" {
		t.Errorf("OpenAIAPIKey = %v, want the process environment's", c.System.OpenAIAPIKey)
	}
	if c.LogFormat != "json" {
		t.Errorf("LogFormat = %q, want json from the process environment", c.LogFormat)
	}
	if c.LogLevel != "debug" || c.HTTPAddr != ":9090" || !c.Metrics {
		t.Errorf("values from .env: log level %q, http %q, metrics %v", c.LogLevel, c.HTTPAddr, c.Metrics)
	}
	if c.System.OpenAIModels == nil || !reflect.DeepEqual(*c.System.OpenAIModels, []string{"gpt-4o-mini", "gpt-4o"}) {
		t.Errorf("OpenAIModels = %v", c.System.OpenAIModels)
	}
	if c.SSHAddr != ":2222" {
		t.Errorf("SSHAddr = %q, want the default", c.SSHAddr)
	}
}

func TestLoadEmptyEnvironmentValueWins(t *testing.T) {
	unsetenv(t, allVars...)
	env := writeFile(t, t.TempDir(), ".env", "OPENAI_API_KEY=sk-from-file\n")
	t.Setenv("OPENAI_API_KEY", "") // set, to empty: still the process environment
	c, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.System.OpenAIAPIKey == nil || *c.System.OpenAIAPIKey != "" {
		t.Errorf("OpenAIAPIKey = %v, want the empty value of the process environment", c.System.OpenAIAPIKey)
	}
}

func TestLoadWithoutDotenv(t *testing.T) {
	unsetenv(t, allVars...)
	t.Setenv("LAMB_SSH_ADDR", ":2022")
	for _, path := range []string{"", filepath.Join(t.TempDir(), "missing.env")} {
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("Load(%q) = %v", path, err)
		}
		if c.SSHAddr != ":2022" || c.DataDir != "./data" {
			t.Errorf("Load(%q): ssh %q, data dir %q", path, c.SSHAddr, c.DataDir)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	unsetenv(t, allVars...)
	dir := t.TempDir()

	bad := writeFile(t, dir, "bad.env", "LAMB_DATA_DIR=/x\nthis is not a setting\n")
	_, err := config.Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Load(malformed .env) = %v, want the path and line 2", err)
	}

	if _, err := config.Load(dir); err == nil {
		t.Error("Load(a directory) = nil, want an error")
	}

	badValue := writeFile(t, dir, "value.env", "LAMB_LOG_LEVEL=chatty\n")
	_, err = config.Load(badValue)
	varError(t, err, "LAMB_LOG_LEVEL")
}

// dotenv reads text as a .env file through EnvLookup. The keys used by the
// dotenv tests start with LAMB_TEST_ so that the process environment, which
// EnvLookup reads first, doesn't hold them.
func dotenv(t *testing.T, text string) (config.Lookup, error) {
	t.Helper()
	return config.EnvLookup(writeFile(t, t.TempDir(), ".env", text))
}

func TestDotenv(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		want   map[string]string
		absent []string
	}{
		{"plain", "LAMB_TEST_A=1\nLAMB_TEST_B=two words\n", map[string]string{"LAMB_TEST_A": "1", "LAMB_TEST_B": "two words"}, nil},
		{"comments and blank lines", "# a comment\n\n   # indented comment\nLAMB_TEST_A=1\n#LAMB_TEST_B=2\n",
			map[string]string{"LAMB_TEST_A": "1"}, []string{"LAMB_TEST_B", "# a comment"}},
		{"export", "export LAMB_TEST_A=1\n  export   LAMB_TEST_B=2\n", map[string]string{"LAMB_TEST_A": "1", "LAMB_TEST_B": "2"}, nil},
		{"spaces around =", "LAMB_TEST_A = spaced  \n", map[string]string{"LAMB_TEST_A": "spaced"}, nil},
		{"empty value is set", "LAMB_TEST_A=\nLAMB_TEST_B=''\nLAMB_TEST_C=\"\"\n",
			map[string]string{"LAMB_TEST_A": "", "LAMB_TEST_B": "", "LAMB_TEST_C": ""}, nil},
		{"value with =", "LAMB_TEST_A=a=b==\n", map[string]string{"LAMB_TEST_A": "a=b=="}, nil},
		{"inline comment", "LAMB_TEST_A=value # a comment\nLAMB_TEST_B=two words   #  spaced # twice\n",
			map[string]string{"LAMB_TEST_A": "value", "LAMB_TEST_B": "two words"}, nil},
		{"hash without space is a value", "LAMB_TEST_A=a#b\nLAMB_TEST_B=#notacomment\n",
			map[string]string{"LAMB_TEST_A": "a#b", "LAMB_TEST_B": "#notacomment"}, nil},
		{"single quotes are literal", `LAMB_TEST_A='a "b" \n #c $HOME \'` + "\n",
			map[string]string{"LAMB_TEST_A": `a "b" \n #c $HOME \`}, nil},
		{"single quotes keep spaces and drop a comment", "LAMB_TEST_A='  x  ' # comment\n",
			map[string]string{"LAMB_TEST_A": "  x  "}, nil},
		{"double quotes with escapes", `LAMB_TEST_A="a\"b\\c\nd\te\$ # not a comment"` + "\n",
			map[string]string{"LAMB_TEST_A": "a\"b\\c\nd\te$ # not a comment"}, nil},
		{"double quotes and a comment", `LAMB_TEST_A="x y" # comment` + "\n", map[string]string{"LAMB_TEST_A": "x y"}, nil},
		{"double quotes over several lines", "LAMB_TEST_A=\"ssh-ed25519 AAAA1 alice\n  ssh-ed25519 AAAA2 bob\n\n/etc/lamb/carol.pub\"\nLAMB_TEST_B=after\n",
			map[string]string{"LAMB_TEST_A": "ssh-ed25519 AAAA1 alice\n  ssh-ed25519 AAAA2 bob\n\n/etc/lamb/carol.pub", "LAMB_TEST_B": "after"}, nil},
		{"escaped quote at a line end", "LAMB_TEST_A=\"one \\\"\ntwo\"\n", map[string]string{"LAMB_TEST_A": "one \"\ntwo"}, nil},
		{"CRLF line ends", "LAMB_TEST_A=1\r\nLAMB_TEST_B='x'\r\n", map[string]string{"LAMB_TEST_A": "1", "LAMB_TEST_B": "x"}, nil},
		{"later line wins", "LAMB_TEST_A=1\nLAMB_TEST_A=2\n", map[string]string{"LAMB_TEST_A": "2"}, nil},
		{"no final newline", "LAMB_TEST_A=1", map[string]string{"LAMB_TEST_A": "1"}, nil},
		{"empty file", "", nil, []string{"LAMB_TEST_A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, err := dotenv(t, tt.text)
			if err != nil {
				t.Fatalf("EnvLookup = %v", err)
			}
			for k, want := range tt.want {
				if got, ok := lookup(k); !ok || got != want {
					t.Errorf("%s = %q, %v; want %q", k, got, ok, want)
				}
			}
			for _, k := range tt.absent {
				if got, ok := lookup(k); ok {
					t.Errorf("%s = %q, want it unset", k, got)
				}
			}
		})
	}
}

func TestDotenvErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		message string
	}{
		{"no =", "LAMB_TEST_A=1\nLAMB_TEST_B\n", "line 2: want KEY=VALUE"},
		{"a sentence", "\n\n# comment\nthis is not a setting\n", "line 4: want KEY=VALUE"},
		{"no key", "=value\n", "line 1: want KEY=VALUE"},
		{"space in key", "LAMB TEST=1\n", "line 1: want KEY=VALUE"},
		{"line count after a multi-line value", "LAMB_TEST_A=\"x\ny\nz\"\nLAMB_TEST_B=1\noops\n", "line 5: want KEY=VALUE"},
		{"unterminated double quote", "LAMB_TEST_A=1\nLAMB_TEST_B=\"abc\nLAMB_TEST_C=2\n", "line 2: LAMB_TEST_B: unterminated double quote"},
		{"escaped closing quote", `LAMB_TEST_A="abc\"` + "\n", "line 1: LAMB_TEST_A: unterminated double quote"},
		{"unterminated single quote", "LAMB_TEST_A='abc\n", "line 1: LAMB_TEST_A: unterminated single quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup, err := dotenv(t, tt.text)
			if err == nil {
				t.Fatalf("EnvLookup = nil error (lookup %v), want %q", lookup != nil, tt.message)
			}
			if lookup != nil {
				t.Error("EnvLookup returned a lookup with an error")
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error = %q, want it to contain %q", err, tt.message)
			}
			if !strings.Contains(err.Error(), ".env") {
				t.Errorf("error = %q, want it to name the file", err)
			}
		})
	}
}

func TestDotenvMissingFile(t *testing.T) {
	lookup, err := config.EnvLookup(filepath.Join(t.TempDir(), "nope", ".env"))
	if err != nil {
		t.Fatalf("EnvLookup(missing file) = %v", err)
	}
	if _, ok := lookup("LAMB_TEST_A"); ok {
		t.Error("a missing .env file set a variable")
	}
}

func TestEnvLookupProcessEnvironmentWins(t *testing.T) {
	t.Setenv("LAMB_TEST_BOTH", "env")
	t.Setenv("LAMB_TEST_ENV_ONLY", "env only")
	unsetenv(t, "LAMB_TEST_FILE_ONLY")
	lookup, err := dotenv(t, "LAMB_TEST_BOTH=file\nLAMB_TEST_FILE_ONLY=file only\n")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"LAMB_TEST_BOTH": "env", "LAMB_TEST_ENV_ONLY": "env only", "LAMB_TEST_FILE_ONLY": "file only"} {
		if got, ok := lookup(k); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", k, got, ok, want)
		}
	}
}

func TestParseSystem(t *testing.T) {
	s, err := config.ParseSystem(config.MapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, config.System{}) {
		t.Errorf("ParseSystem(nothing set) = %+v, want every field nil", s)
	}

	s, err = config.ParseSystem(config.MapLookup(map[string]string{
		"OPENAI_API_KEY":       " sk-1 ",
		"OPENAI_BASE_URL":      "https://proxy.example.edu/v1/",
		"OPENAI_MODELS":        " gpt-4o-mini , ,gpt-4o,",
		"OPENAI_MODEL":         "gpt-4o",
		"OLLAMA_BASE_URL":      "http://ollama:11434//",
		"OLLAMA_MODELS":        "",
		"LAMB_KB_SERVER":       "",
		"LAMB_KB_SERVER_TOKEN": "tok",
		"SIGNUP_ENABLED":       "on",
		"SIGNUP_SECRET_KEY":    "Abc_123-xyZ",
		"LAMB_LOG_LEVEL":       "nonsense", // not a system variable: ignored here
	}))
	if err != nil {
		t.Fatal(err)
	}
	str := func(p *string) string {
		if p == nil {
			return "<unset>"
		}
		return *p
	}
	for _, c := range []struct{ name, got, want string }{
		{"OPENAI_API_KEY", str(s.OpenAIAPIKey), "sk-1"},
		{"OPENAI_BASE_URL", str(s.OpenAIBaseURL), "https://proxy.example.edu/v1"},
		{"OPENAI_MODEL", str(s.OpenAIModel), "gpt-4o"},
		{"OLLAMA_BASE_URL", str(s.OllamaBaseURL), "http://ollama:11434"},
		{"OLLAMA_MODEL", str(s.OllamaModel), "<unset>"},
		{"LAMB_KB_SERVER", str(s.KBServer), ""},
		{"LAMB_KB_SERVER_TOKEN", str(s.KBToken), "tok"},
		{"SIGNUP_SECRET_KEY", str(s.SignupSecretKey), "Abc_123-xyZ"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.OpenAIModels == nil || !reflect.DeepEqual(*s.OpenAIModels, []string{"gpt-4o-mini", "gpt-4o"}) {
		t.Errorf("OPENAI_MODELS = %v", s.OpenAIModels)
	}
	if s.OllamaModels == nil || len(*s.OllamaModels) != 0 {
		t.Errorf("OLLAMA_MODELS set to empty = %v, want set and empty", s.OllamaModels)
	}
	if s.SignupEnabled == nil || !*s.SignupEnabled {
		t.Errorf("SIGNUP_ENABLED = %v", s.SignupEnabled)
	}

	_, err = config.ParseSystem(config.MapLookup(map[string]string{"OLLAMA_BASE_URL": "ollama:11434"}))
	varError(t, err, "OLLAMA_BASE_URL")
}

func TestSignupKeyFormat(t *testing.T) {
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{"abcdefgh", true},
		{strings.Repeat("a", 64), true},
		{"A1-b2_C3", true},
		{"abcdefg", false},
		{strings.Repeat("a", 65), false},
		{"_abcdefg", false},
		{"abcdefg-", false},
		{"abc+defg", false},
		{"abcdéfgh", false},
	} {
		if got := config.SignupKeyRE.MatchString(tt.key); got != tt.ok {
			t.Errorf("SignupKeyRE(%q) = %v, want %v", tt.key, got, tt.ok)
		}
	}
}

func TestManagedFields(t *testing.T) {
	s, err := config.ParseSystem(config.MapLookup(map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": "https://x", "OPENAI_MODELS": "a", "OPENAI_MODEL": "a",
		"OLLAMA_BASE_URL": "http://o", "OLLAMA_MODELS": "b", "OLLAMA_MODEL": "b",
		"LAMB_KB_SERVER": "http://kb", "LAMB_KB_SERVER_TOKEN": "t",
		"SIGNUP_ENABLED": "true", "SIGNUP_SECRET_KEY": "signupkey1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"setups.default.providers.openai.api_key":       "OPENAI_API_KEY",
		"setups.default.providers.openai.base_url":      "OPENAI_BASE_URL",
		"setups.default.providers.openai.models":        "OPENAI_MODELS",
		"setups.default.providers.openai.default_model": "OPENAI_MODEL",
		"setups.default.providers.ollama.base_url":      "OLLAMA_BASE_URL",
		"setups.default.providers.ollama.models":        "OLLAMA_MODELS",
		"setups.default.providers.ollama.default_model": "OLLAMA_MODEL",
		"setups.default.knowledge_base.url":             "LAMB_KB_SERVER",
		"setups.default.knowledge_base.api_token":       "LAMB_KB_SERVER_TOKEN",
		"features.signup_enabled":                       "SIGNUP_ENABLED",
		"signup_key":                                    "SIGNUP_SECRET_KEY",
	}
	if got := s.ManagedFields(); !reflect.DeepEqual(got, want) {
		t.Errorf("ManagedFields =\n %v\nwant\n %v", got, want)
	}

	s, err = config.ParseSystem(config.MapLookup(map[string]string{"OLLAMA_MODEL": "llama3.1", "SIGNUP_ENABLED": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.ManagedFields(), map[string]string{"setups.default.providers.ollama.default_model": "OLLAMA_MODEL"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ManagedFields with one variable = %v, want %v", got, want)
	}
}

func mustSystem(t *testing.T, env map[string]string) config.System {
	t.Helper()
	s, err := config.ParseSystem(config.MapLookup(env))
	if err != nil {
		t.Fatalf("ParseSystem(%v) = %v", env, err)
	}
	return s
}

func TestApply(t *testing.T) {
	const oa, ol = "setups.default.providers.openai.", "setups.default.providers.ollama."
	tests := []struct {
		name  string
		start func(t *testing.T) *config.Org
		env   map[string]string
		check func(t *testing.T, o *config.Org)
		// fields is every field changed, in order.
		fields []string
	}{
		{
			name:  "nothing set changes nothing",
			start: func(t *testing.T) *config.Org { return parseExample(t) },
			env:   nil,
			check: func(t *testing.T, o *config.Org) {
				if !reflect.DeepEqual(o, parseExample(t)) {
					t.Errorf("org changed: %s", o.JSON())
				}
			},
		},
		{
			name:  "OPENAI_API_KEY enables openai with the default base URL",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OPENAI_API_KEY": "sk-new-0123456789abcd"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if p == nil || !p.Enabled || p.APIKey != "sk-new-0123456789abcd" || p.BaseURL != config.DefaultOpenAIBaseURL {
					t.Errorf("openai = %+v", p)
				}
				if o.Setups["default"].DefaultProvider != "openai" {
					t.Errorf("default provider = %q", o.Setups["default"].DefaultProvider)
				}
				if _, ok := o.Setups["default"].Providers["ollama"]; ok {
					t.Error("ollama was added without its variables")
				}
			},
			fields: []string{oa + "api_key", oa + "base_url", oa + "enabled", "setups.default.default_provider"},
		},
		{
			name:  "OPENAI_MODEL not in OPENAI_MODELS is appended",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OPENAI_API_KEY": "sk-1", "OPENAI_MODELS": "a,b", "OPENAI_MODEL": "c"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if !reflect.DeepEqual(p.Models, []string{"a", "b", "c"}) || p.DefaultModel != "c" {
					t.Errorf("models %q, default %q; want a,b,c and c", p.Models, p.DefaultModel)
				}
			},
			fields: []string{oa + "api_key", oa + "models", oa + "default_model", oa + "base_url", oa + "enabled", "setups.default.default_provider"},
		},
		{
			name:  "OPENAI_MODEL not among the stored models is appended",
			start: func(t *testing.T) *config.Org { return parseExample(t) },
			env:   map[string]string{"OPENAI_MODEL": "o3"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if !reflect.DeepEqual(p.Models, []string{"gpt-4o-mini", "gpt-4o", "o3"}) || p.DefaultModel != "o3" {
					t.Errorf("models %q, default %q", p.Models, p.DefaultModel)
				}
			},
			fields: []string{oa + "default_model", oa + "models"},
		},
		{
			name:  "OPENAI_MODELS keeps the stored default model",
			start: func(t *testing.T) *config.Org { return parseExample(t) },
			env:   map[string]string{"OPENAI_MODELS": "gpt-4.1"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if !reflect.DeepEqual(p.Models, []string{"gpt-4.1", "gpt-4o-mini"}) || p.DefaultModel != "gpt-4o-mini" {
					t.Errorf("models %q, default %q", p.Models, p.DefaultModel)
				}
			},
			fields: []string{oa + "models"},
		},
		{
			name:  "OPENAI_MODELS without a default model picks the first",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OPENAI_MODELS": "x, y"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if p.DefaultModel != "x" || p.Enabled {
					t.Errorf("openai = %+v; want default x and not enabled without a key", p)
				}
			},
			fields: []string{oa + "models", oa + "base_url", oa + "default_model"},
		},
		{
			name:  "empty OPENAI_BASE_URL and OPENAI_MODEL mean the defaults",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OPENAI_API_KEY": "sk-1", "OPENAI_BASE_URL": "", "OPENAI_MODELS": "a,b", "OPENAI_MODEL": ""},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["openai"]
				if p.BaseURL != config.DefaultOpenAIBaseURL || p.DefaultModel != "a" {
					t.Errorf("openai = %+v", p)
				}
			},
			fields: []string{oa + "api_key", oa + "base_url", oa + "models", oa + "default_model", oa + "enabled", "setups.default.default_provider"},
		},
		{
			name:  "OLLAMA_BASE_URL enables ollama",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OLLAMA_BASE_URL": "http://gpu:11434/", "OLLAMA_MODELS": "llama3.1,qwen2.5", "OLLAMA_MODEL": "phi4"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["ollama"]
				if p == nil || !p.Enabled || p.BaseURL != "http://gpu:11434" || p.APIKey != "" ||
					!reflect.DeepEqual(p.Models, []string{"llama3.1", "qwen2.5", "phi4"}) || p.DefaultModel != "phi4" {
					t.Errorf("ollama = %+v", p)
				}
				if o.Setups["default"].DefaultProvider != "ollama" {
					t.Errorf("default provider = %q", o.Setups["default"].DefaultProvider)
				}
			},
			fields: []string{ol + "base_url", ol + "models", ol + "default_model", ol + "enabled", "setups.default.default_provider"},
		},
		{
			name:  "OLLAMA_MODEL alone fills the default base URL but doesn't enable",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"OLLAMA_MODEL": "llama3.1"},
			check: func(t *testing.T, o *config.Org) {
				p := o.Setups["default"].Providers["ollama"]
				if p.Enabled || p.BaseURL != config.DefaultOllamaBaseURL || !reflect.DeepEqual(p.Models, []string{"llama3.1"}) {
					t.Errorf("ollama = %+v", p)
				}
				if o.Setups["default"].DefaultProvider != "" {
					t.Errorf("default provider = %q, want none enabled", o.Setups["default"].DefaultProvider)
				}
			},
			fields: []string{ol + "default_model", ol + "base_url", ol + "models"},
		},
		{
			name:  "knowledge base and signup",
			start: func(*testing.T) *config.Org { return config.NewOrg() },
			env:   map[string]string{"LAMB_KB_SERVER": "http://kb:9090/", "LAMB_KB_SERVER_TOKEN": "kb-secret-token-42", "SIGNUP_ENABLED": "true"},
			check: func(t *testing.T, o *config.Org) {
				kb := o.Setups["default"].KnowledgeBase
				if kb == nil || kb.URL != "http://kb:9090" || kb.APIToken != "kb-secret-token-42" {
					t.Errorf("knowledge_base = %+v", kb)
				}
				if !o.Features.SignupEnabled {
					t.Error("signup not enabled")
				}
			},
			fields: []string{"setups.default.knowledge_base.url", "setups.default.knowledge_base.api_token", "features.signup_enabled"},
		},
		{
			name:  "set fields overwrite, unset ones keep the admin's values",
			start: func(t *testing.T) *config.Org { return parseExample(t) },
			env: map[string]string{
				"OPENAI_BASE_URL": "https://proxy.example.edu/v1", "OLLAMA_BASE_URL": "http://gpu:11434",
				"SIGNUP_ENABLED": "false", "LAMB_KB_SERVER_TOKEN": "rotated-token-0000",
			},
			check: func(t *testing.T, o *config.Org) {
				want := parseExample(t)
				d := want.Setups["default"]
				d.Providers["openai"].BaseURL = "https://proxy.example.edu/v1"
				d.Providers["ollama"].BaseURL = "http://gpu:11434"
				d.Providers["ollama"].Enabled = true
				d.KnowledgeBase.APIToken = "rotated-token-0000"
				want.Features.SignupEnabled = false
				if !reflect.DeepEqual(o, want) {
					t.Errorf("org =\n%s\nwant\n%s", o.JSON(), want.JSON())
				}
			},
			fields: []string{oa + "base_url", ol + "base_url", ol + "enabled", "setups.default.knowledge_base.api_token", "features.signup_enabled"},
		},
		{
			name:  "same values as stored change nothing",
			start: func(t *testing.T) *config.Org { return parseExample(t) },
			env: map[string]string{
				"OPENAI_API_KEY": exampleAPIKey, "OPENAI_BASE_URL": "https://api.openai.com/v1/",
				"OPENAI_MODELS": "gpt-4o-mini,gpt-4o", "OPENAI_MODEL": "gpt-4o-mini",
				"LAMB_KB_SERVER": "http://kb:9090", "LAMB_KB_SERVER_TOKEN": exampleKBToken, "SIGNUP_ENABLED": "yes",
			},
			check: func(t *testing.T, o *config.Org) {
				if !reflect.DeepEqual(o, parseExample(t)) {
					t.Errorf("org changed: %s", o.JSON())
				}
			},
		},
		{
			name: "only the default setup is touched",
			start: func(t *testing.T) *config.Org {
				o := parseExample(t)
				o.Setups["prod"] = o.Setups["default"]
				o.Setups["default"] = &config.Setup{Providers: map[string]*config.Provider{}}
				o.ActiveSetup = "prod"
				return o
			},
			env: map[string]string{"OPENAI_API_KEY": "sk-default-setup-key"},
			check: func(t *testing.T, o *config.Org) {
				if o.ActiveSetup != "prod" {
					t.Errorf("active setup = %q", o.ActiveSetup)
				}
				if got := o.Setups["prod"].Providers["openai"].APIKey; got != exampleAPIKey {
					t.Errorf("prod api key = %q", got)
				}
				if got := o.Setups["default"].Providers["openai"].APIKey; got != "sk-default-setup-key" {
					t.Errorf("default api key = %q", got)
				}
			},
			fields: []string{oa + "api_key", oa + "base_url", oa + "enabled", "setups.default.default_provider"},
		},
		{
			name:  "an org without setups gets the default one",
			start: func(*testing.T) *config.Org { return &config.Org{Version: 1} },
			env:   map[string]string{"OLLAMA_BASE_URL": "http://localhost:11434"},
			check: func(t *testing.T, o *config.Org) {
				if o.ActiveSetup != "default" || o.Setups["default"].Providers["ollama"] == nil {
					t.Errorf("org = %s", o.JSON())
				}
			},
			fields: []string{ol + "base_url", ol + "enabled", "setups.default.default_provider"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := mustSystem(t, tt.env)
			o := tt.start(t)
			changes := env.Apply(o)

			var fields []string
			for _, c := range changes {
				fields = append(fields, c.Field)
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Errorf("changed fields =\n %q\nwant\n %q", fields, tt.fields)
			}
			tt.check(t, o)
			if err := o.Validate(); err != nil {
				t.Errorf("Validate after Apply = %v\n%s", err, o.JSON())
			}
			checkSecretsHidden(t, changes, tt.env)

			// A second sync with the same environment changes nothing.
			before := o.Clone()
			if again := env.Apply(o); len(again) != 0 {
				t.Errorf("second Apply changed %v", again)
			}
			if !reflect.DeepEqual(o, before) {
				t.Errorf("second Apply changed the org:\n%s\nwas\n%s", o.JSON(), before.JSON())
			}
		})
	}
}

// checkSecretsHidden asserts that the changes of secret fields carry no
// values, and that no change shows a secret of env.
func checkSecretsHidden(t *testing.T, changes []config.Change, env map[string]string) {
	t.Helper()
	for _, c := range changes {
		secretField := strings.HasSuffix(c.Field, ".api_key") || strings.HasSuffix(c.Field, ".api_token")
		if c.Secret != secretField {
			t.Errorf("change of %s: Secret = %v", c.Field, c.Secret)
		}
		if c.Secret && (c.Old != "" || c.New != "") {
			t.Errorf("secret change of %s shows Old %q, New %q", c.Field, c.Old, c.New)
		}
		for _, v := range []string{"OPENAI_API_KEY", "LAMB_KB_SERVER_TOKEN"} {
			if s := env[v]; s != "" && (strings.Contains(c.String(), s) || strings.Contains(c.Old, s) || strings.Contains(c.New, s)) {
				t.Errorf("change %q shows the value of %s", c, v)
			}
		}
	}
}

func TestApplyChangeDetails(t *testing.T) {
	o := config.NewOrg()
	mustSystem(t, map[string]string{
		"OPENAI_API_KEY": "sk-first-0123456789", "OPENAI_BASE_URL": "https://a.example/v1", "LAMB_KB_SERVER_TOKEN": "tok-1",
	}).Apply(o)

	changes := mustSystem(t, map[string]string{
		"OPENAI_API_KEY": "sk-second-0123456789", "OPENAI_BASE_URL": "https://b.example/v1", "LAMB_KB_SERVER_TOKEN": "tok-2",
	}).Apply(o)
	want := []config.Change{
		{Field: "setups.default.providers.openai.api_key", Variable: "OPENAI_API_KEY", Secret: true},
		{Field: "setups.default.providers.openai.base_url", Variable: "OPENAI_BASE_URL", Old: "https://a.example/v1", New: "https://b.example/v1"},
		{Field: "setups.default.knowledge_base.api_token", Variable: "LAMB_KB_SERVER_TOKEN", Secret: true},
	}
	if !reflect.DeepEqual(changes, want) {
		t.Fatalf("changes =\n %+v\nwant\n %+v", changes, want)
	}
	if got := changes[0].String(); got != "setups.default.providers.openai.api_key changed (from OPENAI_API_KEY)" {
		t.Errorf("String() of a secret change = %q", got)
	}
	if got := changes[1].String(); got != `setups.default.providers.openai.base_url: "https://a.example/v1" → "https://b.example/v1" (from OPENAI_BASE_URL)` {
		t.Errorf("String() = %q", got)
	}
	if p := o.Setups["default"].Providers["openai"]; p.APIKey != "sk-second-0123456789" || o.Setups["default"].KnowledgeBase.APIToken != "tok-2" {
		t.Errorf("secrets not updated: %+v", p)
	}

	// An empty OPENAI_API_KEY clears the key (and leaves the provider as it is).
	changes = mustSystem(t, map[string]string{"OPENAI_API_KEY": ""}).Apply(o)
	if len(changes) != 1 || !changes[0].Secret || o.Setups["default"].Providers["openai"].APIKey != "" {
		t.Errorf("clearing the key: changes %+v, key %q", changes, o.Setups["default"].Providers["openai"].APIKey)
	}
}

func TestApplyRepeatedWithDifferentEnvironments(t *testing.T) {
	o := config.NewOrg()
	envs := []map[string]string{
		{"OPENAI_API_KEY": "sk-1", "OPENAI_MODELS": "a,b", "OPENAI_MODEL": "b"},
		{"OPENAI_API_KEY": "sk-1", "OPENAI_MODELS": "c", "OPENAI_MODEL": "d"},
		{"OPENAI_API_KEY": "sk-1"},
		{"OLLAMA_BASE_URL": "http://o:11434", "OLLAMA_MODEL": ""},
	}
	for i, env := range envs {
		s := mustSystem(t, env)
		s.Apply(o)
		if err := o.Validate(); err != nil {
			t.Fatalf("after env %d: %v", i, err)
		}
		if again := s.Apply(o); len(again) != 0 {
			t.Errorf("env %d applied twice changed %v", i, again)
		}
	}
	p := o.Setups["default"].Providers["openai"]
	if !reflect.DeepEqual(p.Models, []string{"c", "d"}) || p.DefaultModel != "d" {
		t.Errorf("openai after the syncs = %+v", p)
	}
}

// A database URL may hold a password: messages about it never repeat it.
func TestDatabaseURL(t *testing.T) {
	key := hex.EncodeToString(make([]byte, 32))
	c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_DATABASE_URL": "postgres://lamb:pw@db:5432/lamb", "LAMB_SECRET_KEY": key}))
	if err != nil || c.DatabaseURL != "postgres://lamb:pw@db:5432/lamb" {
		t.Fatalf("DatabaseURL = %q, %v", c.DatabaseURL, err)
	}
	if c, err := config.Parse(config.MapLookup(nil)); err != nil || c.DatabaseURL != "" {
		t.Fatalf("unset: DatabaseURL = %q, %v; want SQLite", c.DatabaseURL, err)
	}
	for _, u := range []string{"mysql://lamb:hunter2@db/lamb", "postgres://lamb:hunter2@db/lamb"} {
		_, err := config.Parse(config.MapLookup(map[string]string{"LAMB_DATABASE_URL": u}))
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("LAMB_DATABASE_URL=%s: %v", u, err)
		}
	}
}

// LAMB_SSH_HOST_KEY names a private key file that config reads and
// checks; a file that is missing, unreadable or not a private key stops
// the start with a message naming the variable and the file.
func TestSSHHostKey(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "host_key")
	os.WriteFile(good, pem.EncodeToMemory(block), 0o600)
	c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_SSH_HOST_KEY": good}))
	if err != nil || !bytes.Equal(c.SSHHostKey, pem.EncodeToMemory(block)) || c.SSHHostKeyPath != good {
		t.Fatalf("LAMB_SSH_HOST_KEY=%s: key read %v, path %q, %v", good, c != nil && c.SSHHostKey != nil, c.SSHHostKeyPath, err)
	}
	if c, err := config.Parse(config.MapLookup(map[string]string{"LAMB_SSH_HOST_KEY": ""})); err != nil || c.SSHHostKey != nil {
		t.Fatalf("empty LAMB_SSH_HOST_KEY: %v", err)
	}

	signer, _ := ssh.NewSignerFromKey(priv)
	pub := filepath.Join(dir, "host_key.pub")
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o600)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{pub, "public key"},
		{junk, "not an SSH private key"},
		{dir, "can't be read"},
	} {
		_, err := config.Parse(config.MapLookup(map[string]string{"LAMB_SSH_HOST_KEY": tc.path}))
		var ve *config.VarError
		if !errors.As(err, &ve) || ve.Var != "LAMB_SSH_HOST_KEY" || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("LAMB_SSH_HOST_KEY=%s: %v; want it named, with the file and %q", tc.path, err, tc.want)
		}
	}
}
