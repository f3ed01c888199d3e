package sshserver

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The command-line splitter never panics, and what it splits can be
// quoted back and split again to the same words; a line of plain words
// splits like strings.Fields.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"", "whoami", "org create acme --name 'Acme University'", `user create --name "A \"B\" C"`,
		`a\ b c`, `''`, `""`, `'unclosed`, `"unclosed`, `trailing\`, "tab\tsep\nnl", `mixed'single'"double"\x`, "caf\xc3 \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := splitCommand(line)
		if err != nil {
			return
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		again, err := splitCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("split(%q) = %q; quoted and split again: %q, %v", line, args, again, err)
		}
		if !strings.ContainsAny(line, `'"\`) {
			if fields := strings.FieldsFunc(line, unicode.IsSpace); !slices.Equal(fields, args) && !(len(fields) == 0 && len(args) == 0) {
				t.Fatalf("split(%q) = %q, want the fields %q", line, args, fields)
			}
		}
	})
}
