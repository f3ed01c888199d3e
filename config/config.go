// Package config loads lamb's settings from the environment and a .env file,
// and defines the organization configuration document with its validation.
// It is the only package that reads environment variables.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/hostkey"
	"lamb/secret"
)

// Config is the process configuration.
type Config struct {
	DataDir    string
	SSHAddr    string
	HTTPAddr   string
	AdminKeys  []string // authorized-key lines, already read from .pub files
	AdminEmail string
	AdminName  string
	SecretKey  []byte // nil: use the key file in DataDir
	// DatabaseURL is postgres://… for PostgreSQL; "" for SQLite in DataDir.
	DatabaseURL string
	// SSHHostKey is the private key of LAMB_SSH_HOST_KEY's file, read and
	// checked; nil when unset (then the database or the data directory
	// holds it). SSHHostKeyPath names the file.
	SSHHostKey         []byte
	SSHHostKeyPath     string
	LogFormat          string // text or json
	LogLevel           string // debug, info, warn, error
	PublicURL          string
	UsageRetentionDays int
	Metrics            bool
	// WebhookAllowPrivate lets org admins aim budget-alert webhooks at
	// loopback, link-local and private addresses (LAMB_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
	// KBTimeout bounds a completion's knowledge-base retrieval, all its
	// collections together (LAMB_KB_TIMEOUT).
	KBTimeout time.Duration
	// MaxConnections caps the client connections of both listeners
	// together; 0: derived from the process's descriptor limit.
	MaxConnections int
	// SSHConnsPerAddress and HTTPConnsPerAddress cap the connections one
	// client address (IPv6: one /64) holds on each listener.
	SSHConnsPerAddress  int
	HTTPConnsPerAddress int
	System              System
}

// Lookup finds a variable; it reports false when the variable is unset.
type Lookup func(key string) (string, bool)

// Load reads the process environment, then the .env file at dotenvPath
// (missing is fine); the process environment wins.
func Load(dotenvPath string) (*Config, error) {
	lookup, err := EnvLookup(dotenvPath)
	if err != nil {
		return nil, err
	}
	return Parse(lookup)
}

// EnvLookup returns a Lookup over the process environment and the .env file.
func EnvLookup(dotenvPath string) (Lookup, error) {
	file := map[string]string{}
	if dotenvPath != "" {
		data, err := os.ReadFile(dotenvPath)
		switch {
		case err == nil:
			file, err = parseDotenv(string(data))
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", dotenvPath, err)
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("read %s: %w", dotenvPath, err)
		}
	}
	return func(key string) (string, bool) {
		if v, ok := os.LookupEnv(key); ok {
			return v, true
		}
		v, ok := file[key]
		return v, ok
	}, nil
}

// MapLookup is a Lookup over a map, for tests and tools.
func MapLookup(m map[string]string) Lookup {
	return func(key string) (string, bool) { v, ok := m[key]; return v, ok }
}

// Parse builds and validates a Config. Errors name the variable.
func Parse(lookup Lookup) (*Config, error) {
	p := parser{lookup: lookup}
	c := &Config{
		DataDir:    p.str("LAMB_DATA_DIR", "./data"),
		SSHAddr:    p.str("LAMB_SSH_ADDR", ":2222"),
		HTTPAddr:   p.str("LAMB_HTTP_ADDR", ":8080"),
		AdminEmail: strings.ToLower(p.str("LAMB_ADMIN_EMAIL", "admin@lamb.local")),
		AdminName:  p.str("LAMB_ADMIN_NAME", "Administrator"),
		LogFormat:  p.oneOf("LAMB_LOG_FORMAT", "text", "text", "json"),
		LogLevel:   p.oneOf("LAMB_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		PublicURL:  p.url("LAMB_PUBLIC_URL"),
		Metrics:    p.boolean("LAMB_METRICS", false),
	}
	c.WebhookAllowPrivate = p.boolean("LAMB_WEBHOOK_ALLOW_PRIVATE", false)
	c.UsageRetentionDays = p.positiveInt("LAMB_USAGE_RETENTION_DAYS", 400)
	c.KBTimeout = p.duration("LAMB_KB_TIMEOUT", 10*time.Second)
	c.MaxConnections = p.positiveInt("LAMB_MAX_CONNECTIONS", 0)
	// A classroom behind one NAT address holds a console each; an LMS or
	// Open WebUI calls the gateway from one address for all its users.
	c.SSHConnsPerAddress = p.positiveInt("LAMB_SSH_CONNECTIONS_PER_ADDRESS", 64)
	c.HTTPConnsPerAddress = p.positiveInt("LAMB_HTTP_CONNECTIONS_PER_ADDRESS", 256)
	c.AdminKeys = p.adminKeys("LAMB_ADMIN_KEYS")
	if v, ok := p.get("LAMB_SECRET_KEY"); ok && v != "" {
		k, err := secret.ParseKey(v)
		if err != nil {
			p.fail("LAMB_SECRET_KEY", err.Error())
		}
		c.SecretKey = k
	}
	c.DatabaseURL, _ = p.get("LAMB_DATABASE_URL")
	if path, ok := p.get("LAMB_SSH_HOST_KEY"); ok && path != "" {
		key, err := hostkey.Load(path)
		if err != nil {
			p.fail("LAMB_SSH_HOST_KEY", err.Error())
		}
		c.SSHHostKey, c.SSHHostKeyPath = key, path
	}
	if err := c.CheckDatabase(); err != nil {
		var ve *VarError
		errors.As(err, &ve)
		p.fail(ve.Var, ve.Message)
	}
	c.System = parseSystem(&p)
	for _, a := range []struct{ name, addr string }{{"LAMB_SSH_ADDR", c.SSHAddr}, {"LAMB_HTTP_ADDR", c.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			p.fail(a.name, fmt.Sprintf("want host:port or :port, got %q", a.addr))
		}
	}
	if !strings.Contains(c.AdminEmail, "@") {
		p.fail("LAMB_ADMIN_EMAIL", fmt.Sprintf("not an email address: %q", c.AdminEmail))
	}
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

// CheckDatabase checks the database settings: a DatabaseURL must be a
// PostgreSQL URL, and PostgreSQL needs LAMB_SECRET_KEY, because every
// instance sharing the database must seal and open secrets with the same
// key (a key file in one instance's data dir would be that instance's
// alone). Messages never repeat the URL, which may hold a password. Call
// it again after a flag changed DatabaseURL.
func (c *Config) CheckDatabase() error {
	if c.DatabaseURL == "" {
		return nil
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return &VarError{Var: "LAMB_DATABASE_URL", Message: "want a postgres://user:password@host:5432/dbname URL, or leave it unset for SQLite in LAMB_DATA_DIR"}
	}
	if c.SecretKey == nil {
		return &VarError{Var: "LAMB_SECRET_KEY", Message: "is required with PostgreSQL (LAMB_DATABASE_URL): set 32 random bytes, base64 or hex (openssl rand -base64 32), the same for every instance"}
	}
	return nil
}

// SSHPort returns the port of the SSH listener, for connection hints.
func (c *Config) SSHPort() string {
	_, port, _ := net.SplitHostPort(c.SSHAddr)
	return port
}

// SSHHint is the command people run to reach the console, with the host of
// BaseURL and the SSH port (the listener's actual port when given).
func (c *Config) SSHHint(port string) string {
	if port == "" {
		port = c.SSHPort()
	}
	host := strings.TrimPrefix(strings.TrimPrefix(c.BaseURL(), "https://"), "http://")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if port == "22" {
		return "ssh " + host
	}
	return "ssh -p " + port + " " + host
}

// BaseURL is LAMB_PUBLIC_URL, or one derived from the HTTP address.
func (c *Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(c.HTTPAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// VarError names the environment variable that is wrong.
type VarError struct {
	Var     string
	Message string
}

func (e *VarError) Error() string { return e.Var + ": " + e.Message }

type parser struct {
	lookup Lookup
	err    error
}

func (p *parser) fail(name, msg string) {
	if p.err == nil {
		p.err = &VarError{Var: name, Message: msg}
	}
}

func (p *parser) get(name string) (string, bool) {
	v, ok := p.lookup(name)
	return strings.TrimSpace(v), ok
}

func (p *parser) str(name, def string) string {
	if v, ok := p.get(name); ok && v != "" {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(p.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, fmt.Sprintf("want one of %s, got %q", strings.Join(allowed, ", "), v))
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok || v == "" {
		return def
	}
	b, err := parseBool(v)
	if err != nil {
		p.fail(name, err.Error())
	}
	return b
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

func (p *parser) positiveInt(name string, def int) int {
	v, ok := p.get(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.fail(name, fmt.Sprintf("want a whole number of 1 or more, got %q", v))
		return def
	}
	return n
}

// duration reads a Go duration (10s, 1m30s) above zero.
func (p *parser) duration(name string, def time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("want a duration above zero such as 10s or 1m, got %q", v))
		return def
	}
	return d
}

func (p *parser) url(name string) string {
	v, ok := p.get(name)
	if !ok || v == "" {
		return ""
	}
	if err := checkURL(v); err != nil {
		p.fail(name, err.Error())
	}
	return v
}

// adminKeys splits LAMB_ADMIN_KEYS into authorized-key lines, reading the
// entries that are paths of .pub files. A key that doesn't parse or a file
// that can't be read fails the start.
func (p *parser) adminKeys(name string) []string {
	v, ok := p.get(name)
	if !ok || v == "" {
		return nil
	}
	var keys []string
	add := func(line, from string) bool {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err != nil {
			p.fail(name, fmt.Sprintf("%s is not an SSH public key (want a line like \"ssh-ed25519 AAAA… you@host\", or the path of a .pub file)", from))
			return false
		}
		keys = append(keys, line)
		return true
	}
	for i, entry := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ';' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		if strings.HasPrefix(entry, "ssh-") || strings.HasPrefix(entry, "ecdsa-") || strings.HasPrefix(entry, "sk-") {
			if !add(entry, fmt.Sprintf("entry %d", i+1)) {
				return nil
			}
			continue
		}
		data, err := os.ReadFile(filepath.Clean(entry))
		if err != nil {
			p.fail(name, fmt.Sprintf("%q is neither an authorized-key line nor a readable .pub file: %v", entry, err))
			return nil
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				if !add(line, fmt.Sprintf("a line of %s", entry)) {
					return nil
				}
			}
		}
	}
	return keys
}

// parseList splits a comma list of model names.
// A name listed twice counts once.
func parseList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
