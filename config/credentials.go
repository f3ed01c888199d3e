package config

import (
	"net/url"
	"strings"
)

// SourceSystem marks a credential of an org that the platform handed it
// ("copy system providers"): the org may use it, not read it, and it is
// only ever sent to the URL it came with.
const SourceSystem = "system"

// Credential is one secret of a setup with the URL it is sent to: a
// provider's api_key and base_url, a knowledge base's api_token and url.
// The pointers point into the Org, so a Credential can change it.
type Credential struct {
	SecretPath, URLPath string
	Secret, URL, Source *string
}

// Credentials lists the credentials of every setup, in a stable order.
func (o *Org) Credentials() []Credential {
	var out []Credential
	for _, name := range sortedKeys(o.Setups) {
		s := o.Setups[name]
		if s == nil {
			continue
		}
		for _, pname := range sortedKeys(s.Providers) {
			p := s.Providers[pname]
			if p == nil {
				continue
			}
			pp := "setups." + name + ".providers." + pname + "."
			out = append(out, Credential{pp + "api_key", pp + "base_url", &p.APIKey, &p.BaseURL, &p.APIKeySource})
		}
		if kb := s.KnowledgeBase; kb != nil {
			kp := "setups." + name + ".knowledge_base."
			out = append(out, Credential{kp + "api_token", kp + "url", &kb.APIToken, &kb.URL, &kb.APITokenSource})
		}
	}
	return out
}

// HasSecret reports whether the credential holds anything secret.
func (c Credential) HasSecret() bool { return *c.Secret != "" || URLIsSecret(*c.URL) }

// isURLPath tells the URL fields among secret paths.
func isURLPath(path string) bool {
	return strings.HasSuffix(path, ".base_url") || strings.HasSuffix(path, ".knowledge_base.url")
}

// URLIsSecret reports whether a URL field's value is a secret: it carries
// credentials (user:password@, or a query parameter named like a key or a
// token), or it isn't an http(s) URL at all (sealed at rest, or masked).
func URLIsSecret(v string) bool {
	if v == "" {
		return false
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return true
	}
	if u.User != nil {
		return true
	}
	for name := range u.Query() {
		if secretParam(name) {
			return true
		}
	}
	return false
}

// secretParam reports whether a query parameter's name says it holds a
// credential (api_key, key, token, access_token, sig, password…).
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"key", "token", "secret", "password", "passwd", "pwd", "auth", "sig", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// MaskURL hides the credentials of a URL and keeps the rest readable:
// https://user:…@host/v1, https://host/v1?api_key=…. A URL without
// credentials is returned as it is.
func MaskURL(v string) string {
	if !URLIsSecret(v) {
		return v
	}
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return "…" // sealed, or not a URL: nothing of it is shown
	}
	return rewriteCredentials(v, "…")
}

// StripURLCredentials drops the credentials of a URL (masked ones too),
// for an import of a masked export: the URL stays, its secrets must be set
// again.
func StripURLCredentials(v string) string { return rewriteCredentials(v, "") }

// rewriteCredentials replaces a URL's userinfo and the values of its
// secret-looking query parameters by repl; repl "" drops them. It works on
// the text, so that masked URLs, which don't parse, are handled too.
func rewriteCredentials(v, repl string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, _, hasPassword := strings.Cut(authority[:at], ":")
		host := authority[at+1:]
		switch {
		case repl == "":
			authority = host
		case hasPassword:
			authority = user + ":" + repl + "@" + host
		default:
			authority = repl + "@" + host
		}
	}
	tail, fragment, hasFragment := strings.Cut(tail, "#")
	path, query, hasQuery := strings.Cut(tail, "?")
	out := scheme + "://" + authority + path
	if hasQuery {
		var kept []string
		for _, kv := range strings.Split(query, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if name, err := url.QueryUnescape(k); err != nil || secretParam(name) {
				if repl == "" {
					continue
				}
				kv = k + "=" + repl
			}
			kept = append(kept, kv)
		}
		if len(kept) > 0 {
			out += "?" + strings.Join(kept, "&")
		}
	}
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// MaskWebhookURL shows only a webhook URL's scheme and host: its path
// and query are usually its credential (https://hooks.example.com/…).
func MaskWebhookURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// MaskSecret masks the secret at path for display: URLs keep what isn't
// a credential, other secrets only their ends.
func MaskSecret(path, v string) string {
	if path == WebhookURLPath {
		return MaskWebhookURL(v)
	}
	if isURLPath(path) {
		return MaskURL(v)
	}
	return Mask(v)
}
