package safetext

import (
	"testing"
	"unicode/utf8"
)

// Whatever a peer sends, what Sanitize returns holds nothing a terminal
// would act on: no C0 control (but \n and \t in SanitizeLines), no DEL or
// C1 control, no ESC, no bidi control or invisible character, and only
// valid UTF-8; it passes Check, and clean text comes back unchanged.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J", "a\u202eb", "\u009b31m", "line\nnext\ttab",
		"\xff\xfe", "caf\xc3", "\u200bzero", "\u2066iso\u2069", "\r\boverwrite", "emoji \U0001F600 \u200d ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, lines := range []bool{false, true} {
			out := sanitize(s, lines)
			if !utf8.ValidString(out) {
				t.Fatalf("sanitize(%q, %v) = %q: not UTF-8", s, lines, out)
			}
			for _, r := range out {
				if r == 0x1b || unsafe(r, lines) || (r < 0x20 && !(lines && (r == '\n' || r == '\t'))) || (r >= 0x7f && r <= 0x9f) {
					t.Fatalf("sanitize(%q, %v) = %q holds U+%04X", s, lines, out, r)
				}
			}
			if err := check(out, lines); err != nil {
				t.Fatalf("sanitize(%q, %v) = %q fails check: %v", s, lines, out, err)
			}
			if check(s, lines) == nil && out != s {
				t.Fatalf("sanitize changed clean text %q to %q", s, out)
			}
		}
	})
}
