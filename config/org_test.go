package config_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"lamb/config"
)

// designExample is the org config of DESIGN §3.
const designExample = `{
  "version": 1,
  "active_setup": "default",
  "setups": {
    "default": {
      "default_provider": "openai",
      "providers": {
        "openai": {"enabled": true, "api_key": "sk-proj-0123456789abcdefa1b2", "base_url": "https://api.openai.com/v1",
                   "models": ["gpt-4o-mini", "gpt-4o"], "default_model": "gpt-4o-mini"},
        "ollama": {"enabled": false, "base_url": "http://localhost:11434",
                   "models": ["llama3.1"], "default_model": "llama3.1"}
      },
      "knowledge_base": {"url": "http://kb:9090", "api_token": "kb-token-9876543210zyxw"}
    }
  },
  "features": {"signup_enabled": true},
  "limits": {"tokens_per_month": 1000000, "requests_per_minute": 600,
             "max_users": -1, "max_assistants": 100, "max_assistants_per_user": 10,
             "user_tokens_per_month": -1}
}`

const (
	exampleAPIKey  = "sk-proj-0123456789abcdefa1b2"
	exampleKBToken = "kb-token-9876543210zyxw"
)

func parseExample(t *testing.T) *config.Org {
	t.Helper()
	o, err := config.ParseOrg([]byte(designExample))
	if err != nil {
		t.Fatalf("ParseOrg(design example): %v", err)
	}
	return o
}

// fieldError asserts that err is a *config.FieldError with the given path.
func fieldError(t *testing.T, err error, path string) *config.FieldError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a *config.FieldError at %q", path)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %T %v, want a *config.FieldError", err, err)
	}
	if fe.Path != path {
		t.Fatalf("error path = %q, want %q (error: %v)", fe.Path, path, err)
	}
	if path != "" && !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Error() = %q, want it to start with %q", err.Error(), path+": ")
	}
	return fe
}

func TestParseOrgDesignExample(t *testing.T) {
	o := parseExample(t)
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate(design example) = %v", err)
	}
	if o.Version != 1 || o.ActiveSetup != "default" || !o.Features.SignupEnabled {
		t.Errorf("top level = version %d, active %q, signup %v", o.Version, o.ActiveSetup, o.Features.SignupEnabled)
	}
	s, ok := o.Setup("")
	if !ok {
		t.Fatal(`Setup("") found no active setup`)
	}
	oa := s.Providers[config.ProviderOpenAI]
	if oa == nil || !oa.Enabled || oa.APIKey != exampleAPIKey || oa.BaseURL != "https://api.openai.com/v1" ||
		!reflect.DeepEqual(oa.Models, []string{"gpt-4o-mini", "gpt-4o"}) || oa.DefaultModel != "gpt-4o-mini" {
		t.Errorf("openai = %+v", oa)
	}
	if ol := s.Providers[config.ProviderOllama]; ol == nil || ol.Enabled || ol.BaseURL != "http://localhost:11434" {
		t.Errorf("ollama = %+v", ol)
	}
	if s.KnowledgeBase == nil || s.KnowledgeBase.URL != "http://kb:9090" || s.KnowledgeBase.APIToken != exampleKBToken {
		t.Errorf("knowledge_base = %+v", s.KnowledgeBase)
	}
	want := config.Limits{TokensPerMonth: 1000000, RequestsPerMinute: 600, MaxUsers: -1,
		MaxAssistants: 100, MaxAssistantsPerUser: 10, UserTokensPerMonth: -1}
	if o.Limits != want {
		t.Errorf("limits = %+v, want %+v", o.Limits, want)
	}
}

func TestParseOrgLimits(t *testing.T) {
	tests := []struct {
		name string
		json string
		want config.Limits
	}{
		{"absent limits are unlimited", `{"version":1}`, config.UnlimitedLimits()},
		{"empty limits are unlimited", `{"version":1,"limits":{}}`, config.UnlimitedLimits()},
		{"null limits are unlimited", `{"version":1,"limits":null}`, config.UnlimitedLimits()},
		{"absent fields are unlimited", `{"version":1,"limits":{"max_users":5}}`,
			config.Limits{TokensPerMonth: -1, RequestsPerMinute: -1, MaxUsers: 5, MaxAssistants: -1, MaxAssistantsPerUser: -1, UserTokensPerMonth: -1}},
		{"zero stays zero", `{"version":1,"limits":{"max_users":0,"tokens_per_month":0}}`,
			config.Limits{TokensPerMonth: 0, RequestsPerMinute: -1, MaxUsers: 0, MaxAssistants: -1, MaxAssistantsPerUser: -1, UserTokensPerMonth: -1}},
		{"all set", `{"version":1,"limits":{"tokens_per_month":1,"requests_per_minute":2,"max_users":3,"max_assistants":4,"max_assistants_per_user":5,"user_tokens_per_month":6}}`,
			config.Limits{TokensPerMonth: 1, RequestsPerMinute: 2, MaxUsers: 3, MaxAssistants: 4, MaxAssistantsPerUser: 5, UserTokensPerMonth: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := config.ParseOrg([]byte(tt.json))
			if err != nil {
				t.Fatalf("ParseOrg: %v", err)
			}
			if o.Limits != tt.want {
				t.Errorf("limits = %+v, want %+v", o.Limits, tt.want)
			}
		})
	}
}

func TestParseOrgFillsEmptyMaps(t *testing.T) {
	o, err := config.ParseOrg([]byte(`{"version":1,"active_setup":"a","setups":{"a":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Setups["a"].Providers == nil {
		t.Error("a setup without providers decodes with a nil Providers map")
	}
	o, err = config.ParseOrg([]byte(`{"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.Setups == nil {
		t.Error("a document without setups decodes with a nil Setups map")
	}
}

func TestParseOrgErrors(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		path    string
		message string // substring of the message
	}{
		{"wrong type for a limit", `{"version":1,"limits":{"max_users":"ten"}}`,
			"limits.max_users", "must be an integer, got string"},
		{"fractional limit", `{"version":1,"limits":{"max_assistants":1.5}}`,
			"limits.max_assistants", "must be an integer"},
		{"wrong type for version", `{"version":"1"}`, "version", "must be an integer, got string"},
		{"wrong type for a feature", `{"features":{"signup_enabled":"yes"}}`,
			"features.signup_enabled", "must be true or false, got string"},
		{"wrong type inside a provider names the setup and provider",
			`{"setups":{"prod":{"providers":{"openai":{"enabled":"yes"}}}}}`,
			"setups.prod.providers.openai.enabled", "must be true or false"},
		{"models not a list", `{"setups":{"default":{"providers":{"ollama":{"models":"llama3.1"}}}}}`,
			"setups.default.providers.ollama.models", "must be a list, got string"},
		{"model not a string", `{"setups":{"default":{"providers":{"ollama":{"models":["a",7]}}}}}`,
			"setups.default.providers.ollama.models[1]", "must be a string, got number"},
		{"setups not an object", `{"setups":[]}`, "setups", "must be an object, got array"},
		{"knowledge base not an object", `{"setups":{"default":{"knowledge_base":"http://kb"}}}`,
			"setups.default.knowledge_base", "must be an object, got string"},
		{"unknown top-level field", `{"version":1,"colour":"blue"}`, "colour", `unknown field "colour"`},
		{"unknown limit", `{"version":1,"limits":{"max_userz":1}}`, "limits.max_userz", `unknown field "max_userz"`},
		{"unknown provider field", `{"setups":{"default":{"providers":{"openai":{"apikey":"sk"}}}}}`,
			"setups.default.providers.openai.apikey", `unknown field "apikey"`},
		{"first problem in document order", `{"limits":{"max_users":"ten"},"version":"x"}`,
			"limits.max_users", "must be an integer"},
		{"not an object", `[]`, "", "must be an object, got array"},
		{"syntax error", `{"version":1,}`, "", "invalid JSON"},
		{"truncated", `{"version":`, "", "invalid JSON"},
		{"empty", ``, "", "invalid JSON"},
		{"trailing document", `{"version":1} {}`, "", "unexpected data after the JSON document"},
		{"trailing garbage", `{"version":1} x`, "", "unexpected data after the JSON document"},
		{"trailing brace", `{"version":1}}`, "", "unexpected data after the JSON document"},
		{"trailing bracket", `{"version":1}]`, "", "unexpected data after the JSON document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := config.ParseOrg([]byte(tt.json))
			if o != nil {
				t.Errorf("ParseOrg returned a config with an error")
			}
			fe := fieldError(t, err, tt.path)
			if !strings.Contains(fe.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", fe.Message, tt.message)
			}
		})
	}
}

func TestParseOrgTrailingSpaceIsFine(t *testing.T) {
	if _, err := config.ParseOrg([]byte("{\"version\":1}\n\t \n")); err != nil {
		t.Fatalf("ParseOrg with trailing white space: %v", err)
	}
}

func TestValidate(t *testing.T) {
	const oa = "setups.default.providers.openai"
	tests := []struct {
		name    string
		edit    func(o *config.Org)
		path    string // "" = valid
		message string // substring of the message
	}{
		{"design example is valid", func(*config.Org) {}, "", ""},
		{"new org is valid", func(o *config.Org) { *o = *config.NewOrg() }, "", ""},
		{"disabled provider without base url is valid", func(o *config.Org) {
			o.Setups["default"].Providers["ollama"] = &config.Provider{}
		}, "", ""},
		{"zero limits are valid", func(o *config.Org) { o.Limits = config.Limits{} }, "", ""},
		{"empty knowledge base url is valid", func(o *config.Org) {
			o.Setups["default"].KnowledgeBase.URL = ""
		}, "", ""},
		{"several setups, another active", func(o *config.Org) {
			o.Setups["staging-2"] = &config.Setup{Providers: map[string]*config.Provider{}}
			o.ActiveSetup = "staging-2"
		}, "", ""},

		{"version 0", func(o *config.Org) { o.Version = 0 }, "version", "must be 1, got 0"},
		{"version 2", func(o *config.Org) { o.Version = 2 }, "version", "must be 1, got 2"},
		{"no setups", func(o *config.Org) { o.Setups = nil }, "setups", "at least one setup"},
		{"setup name upper case", func(o *config.Org) {
			o.Setups["Prod"] = &config.Setup{}
		}, "setups.Prod", "setup names"},
		{"setup name starting with a dash", func(o *config.Org) {
			o.Setups["-x"] = &config.Setup{}
		}, "setups.-x", "setup names"},
		{"setup name with a space", func(o *config.Org) {
			o.Setups["my setup"] = &config.Setup{}
		}, "setups.my setup", "setup names"},
		{"setup name too long", func(o *config.Org) {
			o.Setups[strings.Repeat("a", 41)] = &config.Setup{}
		}, "setups." + strings.Repeat("a", 41), "setup names"},
		{"empty setup name", func(o *config.Org) {
			o.Setups[""] = &config.Setup{}
		}, "setups.", "setup names"},
		{"null setup", func(o *config.Org) { o.Setups["default"] = nil }, "setups.default", "must be an object"},
		{"unknown provider", func(o *config.Org) {
			o.Setups["default"].Providers["foo"] = &config.Provider{}
		}, "setups.default.providers.foo", "unknown provider"},
		{"null provider", func(o *config.Org) {
			o.Setups["default"].Providers["ollama"] = nil
		}, "setups.default.providers.ollama", "must be an object"},
		{"enabled provider without base url", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].BaseURL = ""
		}, oa + ".base_url", "is required when the provider is enabled"},
		{"base url without scheme", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].BaseURL = "api.openai.com/v1"
		}, oa + ".base_url", "must start with http:// or https://"},
		{"base url host:port without scheme", func(o *config.Org) {
			o.Setups["default"].Providers["ollama"].BaseURL = "localhost:11434"
		}, "setups.default.providers.ollama.base_url", "must start with http:// or https://"},
		{"base url with ftp scheme", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].BaseURL = "ftp://api.openai.com/v1"
		}, oa + ".base_url", "must start with http:// or https://"},
		{"base url without host", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].BaseURL = "https:///v1"
		}, oa + ".base_url", "has no host"},
		{"base url that doesn't parse", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].BaseURL = "http://[::1"
		}, oa + ".base_url", "not a valid URL"},
		{"base url of a disabled provider is checked too", func(o *config.Org) {
			o.Setups["default"].Providers["ollama"].BaseURL = "ftp://x"
		}, "setups.default.providers.ollama.base_url", "must start with http"},
		{"default model not in models", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].DefaultModel = "gpt-5"
		}, oa + ".default_model", `"gpt-5" is not in models`},
		{"default model without models", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].Models = nil
		}, oa + ".default_model", "is not in models"},
		{"duplicate models", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].Models = []string{"gpt-4o-mini", "gpt-4o", "gpt-4o-mini"}
		}, oa + ".models[2]", `"gpt-4o-mini" is listed twice`},
		{"empty model name", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].Models = []string{"gpt-4o-mini", ""}
		}, oa + ".models[1]", "can't be empty"},
		{"model name with spaces", func(o *config.Org) {
			o.Setups["default"].Providers["openai"].Models = []string{" gpt-4o-mini"}
		}, oa + ".models[0]", "surrounding spaces"},
		{"unknown default provider", func(o *config.Org) {
			o.Setups["default"].DefaultProvider = "anthropic"
		}, "setups.default.default_provider", `unknown provider "anthropic"`},
		{"default provider not configured", func(o *config.Org) {
			delete(o.Setups["default"].Providers, "ollama")
			o.Setups["default"].DefaultProvider = "ollama"
		}, "setups.default.default_provider", "not configured in this setup"},
		{"bad knowledge base url", func(o *config.Org) {
			o.Setups["default"].KnowledgeBase.URL = "kb:9090"
		}, "setups.default.knowledge_base.url", "must start with http"},
		{"active setup missing", func(o *config.Org) { o.ActiveSetup = "prod" }, "active_setup", `setup "prod" does not exist (have: default)`},
		{"active setup empty", func(o *config.Org) { o.ActiveSetup = "" }, "active_setup", "is required"},
		{"negative tokens_per_month", func(o *config.Org) { o.Limits.TokensPerMonth = -2 }, "limits.tokens_per_month", "got -2"},
		{"negative requests_per_minute", func(o *config.Org) { o.Limits.RequestsPerMinute = -5 }, "limits.requests_per_minute", "got -5"},
		{"negative max_users", func(o *config.Org) { o.Limits.MaxUsers = -2 }, "limits.max_users", "must be -1 (unlimited) or 0 or more, got -2"},
		{"negative max_assistants", func(o *config.Org) { o.Limits.MaxAssistants = -100 }, "limits.max_assistants", "got -100"},
		{"negative max_assistants_per_user", func(o *config.Org) { o.Limits.MaxAssistantsPerUser = -3 }, "limits.max_assistants_per_user", "got -3"},
		{"negative user_tokens_per_month", func(o *config.Org) { o.Limits.UserTokensPerMonth = -9 }, "limits.user_tokens_per_month", "got -9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parseExample(t)
			tt.edit(o)
			err := o.Validate()
			if tt.path == "" && tt.message == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			fe := fieldError(t, err, tt.path)
			if !strings.Contains(fe.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", fe.Message, tt.message)
			}
		})
	}
}

// TestValidateFromJSON runs bad documents through ParseOrg and Validate, the
// way every write does.
func TestValidateFromJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		path string
	}{
		{"unknown provider", `{"version":1,"active_setup":"default","setups":{"default":{"providers":{"foo":{"enabled":false}}}}}`,
			"setups.default.providers.foo"},
		{"bad base url", `{"version":1,"active_setup":"default","setups":{"default":{"providers":{"openai":{"enabled":true,"base_url":"api.openai.com"}}}}}`,
			"setups.default.providers.openai.base_url"},
		{"missing active setup", `{"version":1,"active_setup":"prod","setups":{"default":{}}}`, "active_setup"},
		{"null setup", `{"version":1,"active_setup":"default","setups":{"default":null}}`, "setups.default"},
		{"negative limit", `{"version":1,"active_setup":"default","setups":{"default":{}},"limits":{"max_users":-2}}`, "limits.max_users"},
		{"version", `{"version":2,"active_setup":"default","setups":{"default":{}}}`, "version"},
		{"null document", `null`, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := config.ParseOrg([]byte(tt.json))
			if err != nil {
				t.Fatalf("ParseOrg: %v", err)
			}
			fieldError(t, o.Validate(), tt.path)
		})
	}
}

func TestValidateChecksSetupsInNameOrder(t *testing.T) {
	o := config.NewOrg()
	o.Setups["b"] = &config.Setup{Providers: map[string]*config.Provider{"foo": {}}}
	o.Setups["a"] = &config.Setup{Providers: map[string]*config.Provider{"bar": {}}}
	for i := 0; i < 10; i++ {
		fieldError(t, o.Validate(), "setups.a.providers.bar")
	}
}

func TestNewOrg(t *testing.T) {
	o := config.NewOrg()
	if err := o.Validate(); err != nil {
		t.Fatalf("NewOrg().Validate() = %v", err)
	}
	if o.Version != 1 || o.ActiveSetup != config.DefaultSetupName {
		t.Errorf("version %d, active setup %q", o.Version, o.ActiveSetup)
	}
	s, ok := o.Setup("")
	if !ok || s.Providers == nil || len(s.Providers) != 0 {
		t.Errorf("default setup = %+v, %v; want one empty setup", s, ok)
	}
	if o.Features.SignupEnabled {
		t.Error("signup is on in a new org")
	}
	if o.Limits != config.UnlimitedLimits() {
		t.Errorf("limits = %+v, want all unlimited", o.Limits)
	}
	if a, b := config.NewOrg(), config.NewOrg(); a.Setups["default"] == b.Setups["default"] {
		t.Error("two new orgs share their default setup")
	}
	// What NewOrg makes survives a round trip through JSON.
	back, err := config.ParseOrg(o.JSON())
	if err != nil {
		t.Fatalf("ParseOrg(NewOrg().JSON()) = %v", err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("round trip = %+v, want %+v", back, o)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	o := parseExample(t)
	back, err := config.ParseOrg(o.JSON())
	if err != nil {
		t.Fatalf("ParseOrg(JSON()) = %v", err)
	}
	if !reflect.DeepEqual(back, o) {
		t.Errorf("round trip = %+v\nwant %+v", back, o)
	}
	// JSON is the same document, not a reformulation of it.
	var a, b any
	if err := json.Unmarshal([]byte(designExample), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(o.JSON(), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("JSON() = %s\nwant the design example", o.JSON())
	}
}

func TestClone(t *testing.T) {
	o := parseExample(t)
	c := o.Clone()
	if c == o {
		t.Fatal("Clone returned the same pointer")
	}
	if !reflect.DeepEqual(c, o) {
		t.Fatalf("Clone = %+v, want %+v", c, o)
	}
	// Changing the clone at every level leaves the original alone.
	c.ActiveSetup = "other"
	c.Limits.MaxUsers = 7
	c.Features.SignupEnabled = false
	cs := c.Setups["default"]
	cs.DefaultProvider = "ollama"
	cs.Providers["openai"].APIKey = "changed"
	cs.Providers["openai"].Models[0] = "changed"
	cs.Providers["ollama"].Enabled = true
	cs.KnowledgeBase.APIToken = "changed"
	delete(cs.Providers, "ollama")
	c.Setups["new"] = &config.Setup{}

	want := parseExample(t)
	if !reflect.DeepEqual(o, want) {
		t.Errorf("changing the clone changed the original:\n got %+v\nwant %+v", o, want)
	}
}

func TestSetupAndSetupNames(t *testing.T) {
	o := config.NewOrg()
	o.Setups["prod"] = &config.Setup{}
	o.Setups["alpha"] = &config.Setup{}
	o.Setups["nil"] = nil
	o.ActiveSetup = "prod"

	if s, ok := o.Setup(""); !ok || s != o.Setups["prod"] {
		t.Errorf(`Setup("") = %p, %v; want the active setup`, s, ok)
	}
	if s, ok := o.Setup("default"); !ok || s != o.Setups["default"] {
		t.Errorf(`Setup("default") = %p, %v`, s, ok)
	}
	if _, ok := o.Setup("missing"); ok {
		t.Error(`Setup("missing") found a setup`)
	}
	if _, ok := o.Setup("nil"); ok {
		t.Error(`Setup("nil") found a null setup`)
	}
	if got, want := o.SetupNames(), []string{"prod", "alpha", "default", "nil"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SetupNames = %q, want %q", got, want)
	}
	o.ActiveSetup = "gone"
	if got, want := o.SetupNames(), []string{"alpha", "default", "nil", "prod"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SetupNames with a missing active setup = %q, want %q", got, want)
	}
}

func TestMapSecrets(t *testing.T) {
	o := parseExample(t)
	o.Setups["prod"] = &config.Setup{
		Providers: map[string]*config.Provider{
			"ollama": {APIKey: "ollama-key"},
			"openai": {BaseURL: "https://x"}, // no key: not visited
		},
		KnowledgeBase: &config.KnowledgeBase{URL: "http://kb"}, // no token: not visited
	}
	o.Setups["empty"] = nil

	var visited []string
	err := o.MapSecrets(func(path, value string) (string, error) {
		visited = append(visited, path+"="+value)
		return "<" + value + ">", nil
	})
	if err != nil {
		t.Fatalf("MapSecrets: %v", err)
	}
	want := []string{
		"setups.default.providers.openai.api_key=" + exampleAPIKey,
		"setups.default.knowledge_base.api_token=" + exampleKBToken,
		"setups.prod.providers.ollama.api_key=ollama-key",
	}
	if !reflect.DeepEqual(visited, want) {
		t.Errorf("visited\n %q\nwant\n %q", visited, want)
	}
	d := o.Setups["default"]
	if d.Providers["openai"].APIKey != "<"+exampleAPIKey+">" || d.KnowledgeBase.APIToken != "<"+exampleKBToken+">" ||
		o.Setups["prod"].Providers["ollama"].APIKey != "<ollama-key>" {
		t.Errorf("secrets were not replaced: %s", o.JSON())
	}
	if d.Providers["openai"].BaseURL != "https://api.openai.com/v1" || o.Setups["prod"].Providers["openai"].APIKey != "" ||
		o.Setups["prod"].KnowledgeBase.APIToken != "" {
		t.Errorf("MapSecrets changed a field that isn't a secret: %s", o.JSON())
	}
}

func TestMapSecretsStopsAtError(t *testing.T) {
	o := parseExample(t)
	boom := errors.New("boom")
	calls := 0
	err := o.MapSecrets(func(path, value string) (string, error) {
		calls++
		return "", boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("MapSecrets = %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback called %d times after failing, want 1", calls)
	}
	if got := o.Setups["default"].Providers["openai"].APIKey; got != exampleAPIKey {
		t.Errorf("the failed secret was replaced by %q", got)
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		secret, want string
	}{
		{"", ""},
		{"sk-proj-0123456789abcdefa1b2", "sk-…a1b2"},
		{"sk-0123456789a1b2", "sk-…a1b2"},
		{"lamb_abcdefghijklmnopWXYZ", "lamb_…WXYZ"},
		{"0123456789abcdefa1b2", "…a1b2"},      // no prefix
		{"abcdefghijk", "…"},                   // too short to show an end
		{"abcdefghijkl", "…ijkl"},              // 12: shows the last 4
		{"sk-abcdefgh", "sk-…"},                // 11: prefix, no end
		{"sk-abcdefg", "…"},                    // prefix not shown when little is left
		{"verylongprefix-0123456789", "…6789"}, // a dash far in isn't a prefix
		{"-0123456789abcdef", "…cdef"},         // nor one at the start
	}
	for _, tt := range tests {
		if got := config.Mask(tt.secret); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.secret, got, tt.want)
		}
	}
}

func TestMaskNeverShowsMostOfTheSecret(t *testing.T) {
	for n := 1; n <= 64; n++ {
		for _, base := range []string{"sk-", "lamb_", "", "a-"} {
			secret := base + strings.Repeat("x", n)
			m := config.Mask(secret)
			shown := len(strings.ReplaceAll(m, "…", ""))
			if shown >= len(secret) || (len(secret) > 4 && shown > len(secret)-4) {
				t.Errorf("Mask(%q) = %q shows too much", secret, m)
			}
		}
	}
}

func TestMasked(t *testing.T) {
	o := parseExample(t)
	m := o.Masked()
	text := string(m.JSON())
	for _, s := range []string{exampleAPIKey, exampleKBToken, "0123456789abcdef", "9876543210"} {
		if strings.Contains(text, s) {
			t.Errorf("Masked() contains %q:\n%s", s, text)
		}
	}
	if got := m.Setups["default"].Providers["openai"].APIKey; got != "sk-…a1b2" {
		t.Errorf("masked api_key = %q, want %q", got, "sk-…a1b2")
	}
	if got := m.Setups["default"].KnowledgeBase.APIToken; got != "kb-…zyxw" {
		t.Errorf("masked api_token = %q, want %q", got, "kb-…zyxw")
	}
	// The original keeps its secrets and everything else is the same.
	if !reflect.DeepEqual(o, parseExample(t)) {
		t.Error("Masked changed the original")
	}
	m.Setups["default"].Providers["openai"].APIKey = exampleAPIKey
	m.Setups["default"].KnowledgeBase.APIToken = exampleKBToken
	if !reflect.DeepEqual(m, o) {
		t.Errorf("Masked changed more than the secrets:\n%s", text)
	}
}

func TestFieldErrorString(t *testing.T) {
	if got := (&config.FieldError{Path: "limits.max_users", Message: "bad"}).Error(); got != "limits.max_users: bad" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&config.FieldError{Message: "bad"}).Error(); got != "bad" {
		t.Errorf("Error() without a path = %q", got)
	}
}

// alerts.thresholds: absent is the defaults, [] is off, and a list is
// 1-1000 percent, increasing, at most 10; the webhook is an http(s) URL.
// Each error names its field.
func TestAlertsValidation(t *testing.T) {
	o := parseExample(t)
	if got := o.Alerts.Levels(); !reflect.DeepEqual(got, []int{80, 100}) {
		t.Fatalf("default levels = %v", got)
	}
	off, err := config.ParseOrg([]byte(`{"version":1,"active_setup":"d","setups":{"d":{}},"alerts":{"thresholds":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(off.Alerts.Levels()) != 0 || !strings.Contains(string(off.JSON()), `"thresholds": []`) {
		t.Fatalf("alerts off read back as %v: %s", off.Alerts.Levels(), off.JSON())
	}
	if back := off.Clone(); back.Alerts.Thresholds == nil {
		t.Fatal("[] became the defaults in a round trip")
	}
	for _, tt := range []struct {
		alerts, path, msg string
	}{
		{`{"thresholds":[0]}`, "alerts.thresholds[0]", "from 1 to 1000, got 0"},
		{`{"thresholds":[80,1001]}`, "alerts.thresholds[1]", "from 1 to 1000, got 1001"},
		{`{"thresholds":[-5]}`, "alerts.thresholds[0]", "got -5"},
		{`{"thresholds":[80,80]}`, "alerts.thresholds[1]", "increasing order, each once"},
		{`{"thresholds":[100,80]}`, "alerts.thresholds[1]", "80 comes after 100"},
		{`{"thresholds":[1,2,3,4,5,6,7,8,9,10,11]}`, "alerts.thresholds", "at most 10 thresholds, got 11"},
		{`{"webhook_url":"ftp://hooks.example.com/x"}`, "alerts.webhook_url", "must start with http:// or https://"},
		{`{"webhook_url":"https:///x"}`, "alerts.webhook_url", "has no host"},
		{`{"webhook_url":"https://hooks.example.com/\u009b"}`, "alerts.webhook_url", ""},
		{`{"webhook_url":"https://hooks.example.com/` + strings.Repeat("a", 2048) + `"}`, "alerts.webhook_url", "longer than 2048"},
	} {
		c, err := config.ParseOrg([]byte(`{"version":1,"active_setup":"d","setups":{"d":{}},"alerts":` + tt.alerts + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.alerts, err)
		}
		fe := fieldError(t, c.Validate(), tt.path)
		if !strings.Contains(fe.Message, tt.msg) {
			t.Errorf("%s: message %q, want %q in it", tt.alerts, fe.Message, tt.msg)
		}
	}
	c, err := config.ParseOrg([]byte(`{"version":1,"active_setup":"d","setups":{"d":{}},"alerts":{"thresholds":"80"}}`))
	if err == nil {
		t.Fatalf("thresholds as a string parsed: %+v", c.Alerts)
	}
	fieldError(t, err, "alerts.thresholds")
}

// The webhook URL is a secret: masked to its scheme and host, sealed
// like the others (MapSecrets visits it).
func TestWebhookURLIsMaskedAndMapped(t *testing.T) {
	o := parseExample(t)
	o.Alerts.WebhookURL = "https://user:pw@hooks.example.com/services/T0/B0/s3cr3t?x=1"
	if got := o.Masked().Alerts.WebhookURL; got != "https://hooks.example.com/…" {
		t.Fatalf("masked = %q", got)
	}
	var paths []string
	_ = o.MapSecrets(func(path, v string) (string, error) { paths = append(paths, path); return v, nil })
	if !strings.Contains(strings.Join(paths, ","), "alerts.webhook_url") {
		t.Fatalf("MapSecrets visited %v", paths)
	}
	if got := config.MaskWebhookURL("not a url"); got != "…" {
		t.Fatalf("MaskWebhookURL(not a url) = %q", got)
	}
}
