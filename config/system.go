package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Default base URLs used when a provider is configured from the environment
// without one.
const (
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	DefaultOllamaBaseURL = "http://localhost:11434"
)

// System is what the environment says about the system organization. A nil
// field means the variable is unset: the stored value is kept.
type System struct {
	OpenAIAPIKey    *string
	OpenAIBaseURL   *string
	OpenAIModels    *[]string
	OpenAIModel     *string
	OllamaBaseURL   *string
	OllamaModels    *[]string
	OllamaModel     *string
	KBServer        *string
	KBToken         *string
	SignupEnabled   *bool
	SignupSecretKey *string
}

// SignupKeyRE is the format of a signup key.
var SignupKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]{6,62})[A-Za-z0-9]$`)

// ParseSystem reads only the system-org variables, for "sync now".
func ParseSystem(lookup Lookup) (System, error) {
	p := parser{lookup: lookup}
	s := parseSystem(&p)
	return s, p.err
}

func parseSystem(p *parser) System {
	var s System
	optStr := func(name string) *string {
		v, ok := p.get(name)
		if !ok {
			return nil
		}
		return &v
	}
	optURL := func(name string) *string {
		v := optStr(name)
		if v != nil && *v != "" {
			if err := checkURL(*v); err != nil {
				p.fail(name, err.Error())
			}
			t := strings.TrimRight(*v, "/")
			v = &t
		}
		return v
	}
	optList := func(name string) *[]string {
		v := optStr(name)
		if v == nil {
			return nil
		}
		l := parseList(*v)
		return &l
	}
	s.OpenAIAPIKey = optStr("OPENAI_API_KEY")
	s.OpenAIBaseURL = optURL("OPENAI_BASE_URL")
	s.OpenAIModels = optList("OPENAI_MODELS")
	s.OpenAIModel = optStr("OPENAI_MODEL")
	s.OllamaBaseURL = optURL("OLLAMA_BASE_URL")
	s.OllamaModels = optList("OLLAMA_MODELS")
	s.OllamaModel = optStr("OLLAMA_MODEL")
	s.KBServer = optURL("LAMB_KB_SERVER")
	s.KBToken = optStr("LAMB_KB_SERVER_TOKEN")
	if v, ok := p.get("SIGNUP_ENABLED"); ok && v != "" {
		b, err := parseBool(v)
		if err != nil {
			p.fail("SIGNUP_ENABLED", err.Error())
		}
		s.SignupEnabled = &b
	}
	s.SignupSecretKey = optStr("SIGNUP_SECRET_KEY")
	if k := s.SignupSecretKey; k != nil && *k != "" && !SignupKeyRE.MatchString(*k) {
		p.fail("SIGNUP_SECRET_KEY", "want 8-64 characters of A-Z, a-z, 0-9, - and _, not starting or ending with - or _")
	}
	return s
}

// Change is one field that a sync changed.
type Change struct {
	Field    string // config path, e.g. setups.default.providers.openai.base_url
	Variable string // the environment variable it came from
	Old, New string // empty for secrets
	Secret   bool
}

func (c Change) String() string {
	if c.Secret {
		return fmt.Sprintf("%s changed (from %s)", c.Field, c.Variable)
	}
	if c.Variable == "" {
		return fmt.Sprintf("%s: %q → %q", c.Field, c.Old, c.New)
	}
	return fmt.Sprintf("%s: %q → %q (from %s)", c.Field, c.Old, c.New, c.Variable)
}

// ManagedFields lists the config paths that the set variables control, so
// screens can mark them "managed by .env".
func (s System) ManagedFields() map[string]string {
	m := map[string]string{}
	add := func(set bool, field, variable string) {
		if set {
			m[field] = variable
		}
	}
	oa, ol := "setups.default.providers.openai.", "setups.default.providers.ollama."
	add(s.OpenAIAPIKey != nil, oa+"api_key", "OPENAI_API_KEY")
	add(s.OpenAIBaseURL != nil, oa+"base_url", "OPENAI_BASE_URL")
	add(s.OpenAIModels != nil, oa+"models", "OPENAI_MODELS")
	add(s.OpenAIModel != nil, oa+"default_model", "OPENAI_MODEL")
	add(s.OllamaBaseURL != nil, ol+"base_url", "OLLAMA_BASE_URL")
	add(s.OllamaModels != nil, ol+"models", "OLLAMA_MODELS")
	add(s.OllamaModel != nil, ol+"default_model", "OLLAMA_MODEL")
	add(s.KBServer != nil, "setups.default.knowledge_base.url", "LAMB_KB_SERVER")
	add(s.KBToken != nil, "setups.default.knowledge_base.api_token", "LAMB_KB_SERVER_TOKEN")
	add(s.SignupEnabled != nil, "features.signup_enabled", "SIGNUP_ENABLED")
	add(s.SignupSecretKey != nil, "signup_key", "SIGNUP_SECRET_KEY")
	return m
}

// Apply writes the set variables into o's default setup and returns what
// changed. The signup key is not part of the document; the caller handles
// SignupSecretKey.
func (s System) Apply(o *Org) []Change {
	var changes []Change
	setStr := func(dst *string, v *string, field, variable string, isSecret bool) {
		if v == nil || *dst == *v {
			return
		}
		c := Change{Field: field, Variable: variable, Secret: isSecret}
		if !isSecret {
			c.Old, c.New = *dst, *v
			if isURLPath(field) { // a URL's credentials never reach the log or the audit
				c.Old, c.New = MaskURL(*dst), MaskURL(*v)
			}
		}
		*dst = *v
		changes = append(changes, c)
	}
	setList := func(dst *[]string, v *[]string, field, variable string) {
		if v == nil || slices.Equal(*dst, *v) {
			return
		}
		changes = append(changes, Change{Field: field, Variable: variable,
			Old: strings.Join(*dst, ","), New: strings.Join(*v, ",")})
		*dst = slices.Clone(*v)
	}
	setBool := func(dst *bool, v bool, field, variable string) {
		if *dst == v {
			return
		}
		changes = append(changes, Change{Field: field, Variable: variable,
			Old: fmt.Sprint(*dst), New: fmt.Sprint(v)})
		*dst = v
	}

	if o.Setups == nil {
		o.Setups = map[string]*Setup{}
	}
	setup := o.Setups[DefaultSetupName]
	if setup == nil {
		setup = &Setup{Providers: map[string]*Provider{}}
		o.Setups[DefaultSetupName] = setup
	}
	if o.ActiveSetup == "" {
		o.ActiveSetup = DefaultSetupName
	}

	provider := func(name string, touched bool) *Provider {
		p := setup.Providers[name]
		if p == nil && touched {
			p = &Provider{}
			setup.Providers[name] = p
		}
		return p
	}

	oa := "setups.default.providers.openai."
	openaiTouched := s.OpenAIAPIKey != nil || s.OpenAIBaseURL != nil || s.OpenAIModels != nil || s.OpenAIModel != nil
	if p := provider(ProviderOpenAI, openaiTouched); p != nil && openaiTouched {
		setStr(&p.APIKey, s.OpenAIAPIKey, oa+"api_key", "OPENAI_API_KEY", true)
		baseURL, models, model := envProvider(p, s.OpenAIBaseURL, s.OpenAIModels, s.OpenAIModel, DefaultOpenAIBaseURL)
		setStr(&p.BaseURL, baseURL, oa+"base_url", "OPENAI_BASE_URL", false)
		setList(&p.Models, models, oa+"models", "OPENAI_MODELS")
		setStr(&p.DefaultModel, model, oa+"default_model", "OPENAI_MODEL", false)
		fillProvider(p, oa, DefaultOpenAIBaseURL, s.OpenAIAPIKey != nil && *s.OpenAIAPIKey != "", &changes)
	}
	ol := "setups.default.providers.ollama."
	ollamaTouched := s.OllamaBaseURL != nil || s.OllamaModels != nil || s.OllamaModel != nil
	if p := provider(ProviderOllama, ollamaTouched); p != nil && ollamaTouched {
		baseURL, models, model := envProvider(p, s.OllamaBaseURL, s.OllamaModels, s.OllamaModel, DefaultOllamaBaseURL)
		setStr(&p.BaseURL, baseURL, ol+"base_url", "OLLAMA_BASE_URL", false)
		setList(&p.Models, models, ol+"models", "OLLAMA_MODELS")
		setStr(&p.DefaultModel, model, ol+"default_model", "OLLAMA_MODEL", false)
		fillProvider(p, ol, DefaultOllamaBaseURL, s.OllamaBaseURL != nil && *s.OllamaBaseURL != "", &changes)
	}
	if setup.DefaultProvider == "" || setup.Providers[setup.DefaultProvider] == nil {
		for _, name := range Providers {
			if p := setup.Providers[name]; p != nil && p.Enabled {
				setStr(&setup.DefaultProvider, &name, "setups.default.default_provider", "", false)
				break
			}
		}
	}

	if s.KBServer != nil || s.KBToken != nil {
		if setup.KnowledgeBase == nil {
			setup.KnowledgeBase = &KnowledgeBase{}
		}
		setStr(&setup.KnowledgeBase.URL, s.KBServer, "setups.default.knowledge_base.url", "LAMB_KB_SERVER", false)
		setStr(&setup.KnowledgeBase.APIToken, s.KBToken, "setups.default.knowledge_base.api_token", "LAMB_KB_SERVER_TOKEN", true)
	}
	if s.SignupEnabled != nil {
		setBool(&o.Features.SignupEnabled, *s.SignupEnabled, "features.signup_enabled", "SIGNUP_ENABLED")
	}
	return changes
}

// envProvider returns the base URL, models and default model that a
// provider's variables lead to, already completed the way fillProvider would
// complete them: an empty base URL is the default one, an empty model the
// first of the models, and the default model is among the models. Writing the
// completed values, not the raw ones, is what makes a second Apply with the
// same environment change nothing (otherwise each sync would undo and redo
// fillProvider's work, and log and audit it).
func envProvider(p *Provider, baseURL *string, models *[]string, model *string, defaultURL string) (*string, *[]string, *string) {
	if baseURL != nil && *baseURL == "" {
		baseURL = &defaultURL
	}
	list := p.Models
	if models != nil {
		list = *models
	}
	if model != nil && *model == "" && len(list) > 0 {
		first := list[0]
		model = &first
	}
	want := p.DefaultModel
	if model != nil {
		want = *model
	}
	if models != nil && want != "" && !slices.Contains(*models, want) {
		l := append(slices.Clone(*models), want)
		models = &l
	}
	return baseURL, models, model
}

// fillProvider keeps a provider configured from the environment valid: a
// base URL when none was given, the default model among the models, and the
// provider enabled once it has what it needs to be called.
func fillProvider(p *Provider, path, defaultURL string, enable bool, changes *[]Change) {
	if p.BaseURL == "" {
		*changes = append(*changes, Change{Field: path + "base_url", Old: "", New: defaultURL})
		p.BaseURL = defaultURL
	}
	if p.DefaultModel != "" && !slices.Contains(p.Models, p.DefaultModel) {
		old := strings.Join(p.Models, ",")
		p.Models = append(p.Models, p.DefaultModel)
		*changes = append(*changes, Change{Field: path + "models", Old: old, New: strings.Join(p.Models, ",")})
	}
	if p.DefaultModel == "" && len(p.Models) > 0 {
		*changes = append(*changes, Change{Field: path + "default_model", Old: "", New: p.Models[0]})
		p.DefaultModel = p.Models[0]
	}
	if enable && !p.Enabled {
		*changes = append(*changes, Change{Field: path + "enabled", Old: "false", New: "true"})
		p.Enabled = true
	}
}
