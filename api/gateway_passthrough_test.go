package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"lamb/service"
)

// fullRequest uses every field of the chat-completions schema, deprecated
// ones included, plus one that doesn't exist yet.
const fullRequest = `{
 "model": "MODEL",
 "messages": [
  {"role": "developer", "content": "Be brief."},
  {"role": "user", "name": "ana", "content": [
   {"type": "text", "text": "What is in this image?"},
   {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
   {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]},
  {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
   {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
  {"role": "tool", "tool_call_id": "call_1", "content": "result"}
 ],
 "audio": {"voice": "alloy", "format": "wav"},
 "frequency_penalty": 0.5,
 "function_call": "auto",
 "functions": [{"name": "old_style", "parameters": {"type": "object"}}],
 "logit_bias": {"50256": -100},
 "logprobs": true,
 "top_logprobs": 3,
 "max_completion_tokens": 100,
 "metadata": {"course": "phys101"},
 "modalities": ["text"],
 "n": 2,
 "parallel_tool_calls": false,
 "prediction": {"type": "content", "content": "x"},
 "presence_penalty": -0.5,
 "prompt_cache_key": "k",
 "reasoning_effort": "low",
 "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": true}},
 "safety_identifier": "s",
 "seed": 42,
 "service_tier": "auto",
 "stop": ["END"],
 "store": false,
 "stream": STREAM,
 "temperature": 0,
 "tool_choice": {"type": "function", "function": {"name": "lookup"}},
 "tools": [{"type": "function", "function": {"name": "lookup", "description": "d",
   "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, "strict": true}}],
 "top_p": 1,
 "user": "u",
 "verbosity": "low",
 "web_search_options": {},
 "x_future_field": {"nested": [1, 2.5, "three", null, true]}
}`

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

// The provider gets the caller's body unchanged apart from the three
// rewrites routing needs: the assistant's model, its system prompt first,
// and (streaming) stream_options.include_usage. An explicit temperature 0
// stays 0 even when the assistant has its own temperature.
func TestGatewayPassesRequestThroughUnchanged(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			e := newGwEnv(t, 5*time.Second)
			temp := 0.7
			a := e.assistant(e.members["acme"], service.AssistantInput{SystemPrompt: "You are a tutor.", Model: "gpt-4o", Temperature: &temp})
			key := e.apiKey(e.members["acme"], true)
			body := strings.NewReplacer("MODEL", a.Model, "STREAM", map[bool]string{false: "false", true: "true"}[stream]).Replace(fullRequest)
			if stream {
				body = strings.Replace(body, `"stream": true,`, `"stream": true, "stream_options": {"include_usage": false, "x_opt": 1},`, 1)
			}
			resp := e.postRaw(key, body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := decodeMap(t, e.fake.LastBody())
			want := decodeMap(t, []byte(body))
			want["model"] = "gpt-4o"
			system := map[string]any{"role": "system", "content": "You are a tutor."}
			want["messages"] = append([]any{system}, want["messages"].([]any)...)
			if stream {
				want["stream_options"] = map[string]any{"include_usage": true, "x_opt": 1.0}
			}
			if !reflect.DeepEqual(got, want) {
				for k := range want {
					if !reflect.DeepEqual(got[k], want[k]) {
						t.Errorf("%s: provider got %#v, want %#v", k, got[k], want[k])
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok {
						t.Errorf("%s: provider got %#v, not sent by the caller", k, got[k])
					}
				}
			}
		})
	}
}

const fullAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-2024-08-06",` +
	`"system_fingerprint":"fp_1","service_tier":"default",` +
	`"choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"refusal":null,"annotations":[],` +
	`"tool_calls":[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"inertia\"}"}}]},` +
	`"logprobs":{"content":[{"token":"a","logprob":-0.1,"bytes":[97],"top_logprobs":[]}]}}],` +
	`"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"completion_tokens_details":{"reasoning_tokens":3}},` +
	`"x_provider_extra":{"kept":true}}`

var fullEvents = []string{
	`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"lookup","arguments":""}}]},"logprobs":null,"finish_reason":null}],"x_provider_extra":1}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":1}"}}]},"logprobs":{"content":[]},"finish_reason":"tool_calls"}]}`,
	`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
}

// The provider's answer reaches the client as it was sent: tool_calls,
// logprobs, system_fingerprint and fields lamb doesn't know, streaming
// and not; lamb reads only the usage from it.
func TestGatewayRelaysAnswerUnchanged(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{})
	key := e.apiKey(e.members["acme"], true)
	e.fake.SetAnswer([]byte(fullAnswer), fullEvents...)

	resp := e.postRaw(key, `{"model":"`+a.Model+`","messages":[{"role":"user","content":"hi"}]}`)
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || buf.String() != fullAnswer {
		t.Fatalf("answer: %d\n got %s\nwant %s", resp.StatusCode, buf.String(), fullAnswer)
	}

	resp = e.postRaw(key, `{"model":"`+a.Model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			got = append(got, data)
		}
	}
	want := append(append([]string(nil), fullEvents...), "[DONE]")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	e.svc.Close()
	if used := e.tokensThisMonth("acme"); used != 2*18 {
		t.Fatalf("recorded %d tokens, want the provider's 18 twice", used)
	}
}

func (e *gwEnv) postRaw(key, body string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// Field names that need escaping stay valid JSON on their way through.
func TestGatewayPassesOddFieldNamesThrough(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	a := e.assistant(e.members["acme"], service.AssistantInput{SystemPrompt: "S"})
	key := e.apiKey(e.members["acme"], true)
	body := `{"model":"` + a.Model + `","messages":[{"role":"user","content":"hi"}],"we\"ird\u0001\\key":1,"ünï":{"a":[true]}}`
	resp := e.postRaw(key, body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeMap(t, e.fake.LastBody())
	if got["we\"ird\u0001\\key"] != 1.0 || !reflect.DeepEqual(got["ünï"], map[string]any{"a": []any{true}}) {
		t.Fatalf("provider got %v", got)
	}
}

// Bodies that aren't a request object answer 400 naming what is wrong,
// never reach the provider, and never crash the relay.
func TestGatewayRefusesBodiesThatAreNotRequests(t *testing.T) {
	e := newGwEnv(t, 5*time.Second)
	key := e.apiKey(e.members["acme"], true)
	for body, want := range map[string]string{
		`null`:                                "body: must be an object",
		`[]`:                                  "body: must be an object",
		`"x"`:                                 "body: must be an object",
		`{"model":1,"messages":[]}`:           "model: must be a string",
		`{"model":"x","messages":[1]}`:        "messages: must be an object",
		`{"model":"x","messages":[],"n":"2"}`: "n: must be a number",
		`{"model":"x","messages":[]} {}`:      "the body is not valid JSON",
	} {
		resp, b := e.post(key, body)
		em, _ := b["error"].(map[string]any)
		msg, _ := em["message"].(string)
		if resp.StatusCode != 400 || !strings.HasPrefix(msg, want) {
			t.Errorf("%s: %d %q, want 400 %q", body, resp.StatusCode, msg, want)
		}
	}
	if n := e.fake.Requests(); n != 0 {
		t.Fatalf("the provider got %d malformed requests", n)
	}
}
