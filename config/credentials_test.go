package config

import "testing"

func TestURLCredentials(t *testing.T) {
	for _, tt := range []struct {
		url, masked, stripped string
		secret                bool
	}{
		{"https://api.openai.com/v1", "https://api.openai.com/v1", "https://api.openai.com/v1", false},
		{"http://localhost:11434?model=x", "http://localhost:11434?model=x", "http://localhost:11434?model=x", false},
		{"https://user:pass@host/v1", "https://user:…@host/v1", "https://host/v1", true},
		{"https://token@host:8443/v1", "https://…@host:8443/v1", "https://host:8443/v1", true},
		{"https://host/v1?api_key=abc&region=eu", "https://host/v1?api_key=…&region=eu", "https://host/v1?region=eu", true},
		{"https://host/v1?Token=abc#frag", "https://host/v1?Token=…#frag", "https://host/v1#frag", true},
		{"https://u:…@host/v1", "https://u:…@host/v1", "https://host/v1", true},
		{"enc:v1:abcdef", "…", "enc:v1:abcdef", true},
	} {
		if got := URLIsSecret(tt.url); got != tt.secret {
			t.Errorf("URLIsSecret(%q) = %v", tt.url, got)
		}
		if got := MaskURL(tt.url); got != tt.masked {
			t.Errorf("MaskURL(%q) = %q, want %q", tt.url, got, tt.masked)
		}
		if got := StripURLCredentials(tt.url); got != tt.stripped {
			t.Errorf("StripURLCredentials(%q) = %q, want %q", tt.url, got, tt.stripped)
		}
	}
}
