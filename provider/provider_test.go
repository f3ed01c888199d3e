package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestListModelsAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/models" && r.Header.Get("Authorization") == "Bearer good":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"id":"b"},{"id":"a"}]}`))
		case r.URL.Path == "/v1/models":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}`))
		default: // some internal service, not OpenAI-compatible
			w.WriteHeader(500)
			w.Write([]byte("internal-secret-page"))
		}
	}))
	defer srv.Close()
	c := NewClients()
	ctx := context.Background()

	models, err := c.ListModels(ctx, Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: "good"})
	if err != nil || strings.Join(models, ",") != "a,b" {
		t.Fatalf("models %v, %v", models, err)
	}
	_, err = c.ListModels(ctx, Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: "sk-wrong-secret"})
	if !errors.Is(err, ErrRejectedKey) || strings.Contains(err.Error(), "sk-wrong-secret") {
		t.Fatalf("wrong key: %v", err)
	}
	// Ollama gets /v1 added to its base URL.
	if _, err := c.ListModels(ctx, Target{Provider: "ollama", BaseURL: srv.URL, APIKey: "good"}); err != nil {
		t.Fatalf("ollama: %v", err)
	}
	// A non-OpenAI answer is not echoed back.
	_, err = c.ListModels(ctx, Target{Provider: "openai", BaseURL: srv.URL + "/internal", APIKey: "good"})
	if err == nil || strings.Contains(err.Error(), "internal-secret-page") {
		t.Fatalf("non-OpenAI error body repeated: %v", err)
	}
	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err = c.ListModels(ctx, Target{Provider: "openai", BaseURL: "http://" + addr + "/v1"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "could not connect") {
		t.Fatalf("closed port: %v", err)
	}
}
