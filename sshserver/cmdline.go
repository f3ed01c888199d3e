package sshserver

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxCommandBytes is the longest command line lamb takes. The longest real
// one (an org config or a long system prompt on the command line) is a few
// KiB; anything longer is refused before it is split or logged.
const maxCommandBytes = 64 << 10

var (
	errUnclosedQuote     = errors.New("the command line has an unclosed quote")
	errTrailingBackslash = errors.New("the command line ends with a backslash")
)

// splitCommand splits an SSH command line into arguments as a POSIX shell
// quotes them: blanks separate words; '…' is literal; "…" is literal but
// for \" and \\; a backslash elsewhere takes the next character as it is;
// quoted pieces next to each other make one word, and a pair of quotes
// with nothing between is an empty word.
//
// It takes time linear in the line's length. The SSH library's own
// splitter builds each word by string concatenation, so one long word
// costs quadratic time: a 250 KB command from a key no one knows took 45
// CPU-seconds (CPU amplification by a long command line).
func splitCommand(line string) ([]string, error) {
	var (
		args   []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		switch {
		case unicode.IsSpace(r):
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
			i += size
		case r == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errUnclosedQuote
			}
			word.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case r == '"':
			inWord = true
			i++
			closed := false
			for i < len(line) && !closed {
				switch c := line[i]; {
				case c == '"':
					closed = true
					i++
				case c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
					word.WriteByte(line[i+1])
					i += 2
				default:
					word.WriteByte(c)
					i++
				}
			}
			if !closed {
				return nil, errUnclosedQuote
			}
		case r == '\\':
			if i+1 >= len(line) {
				return nil, errTrailingBackslash
			}
			_, n := utf8.DecodeRuneInString(line[i+1:])
			word.WriteString(line[i+1 : i+1+n])
			inWord = true
			i += 1 + n
		default:
			word.WriteString(line[i : i+size])
			inWord = true
			i += size
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}

// redacted stands for a secret in logs.
const redacted = "[redacted]"

// secretArgCommands are the commands whose arguments are secrets.
var secretArgCommands = [][]string{{"signup", "set-key"}}

// redactArgs returns a copy of a command's arguments fit for a log: the
// command words stay, secrets become [redacted]. Secrets are the values of
// flags that carry them (--password…, --…-key but SSH public keys,
// --…token, --…secret, --webhook-url) and the arguments of commands that take one
// (signup set-key KEY). Signup keys given on the command line were logged
// in clear, so anyone reading the log could sign up to any org.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	var words []int // indexes of the words that aren't flags or their values
	for i := 0; i < len(out); i++ {
		a := out[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			words = append(words, i)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !secretFlag(name) {
			continue
		}
		if hasValue {
			out[i] = a[:strings.IndexByte(a, '=')+1] + redacted
		} else if i+1 < len(out) {
			i++
			out[i] = redacted
		}
	}
	for _, cmd := range secretArgCommands {
		if len(words) < len(cmd) {
			continue
		}
		match := true
		for j, w := range cmd {
			match = match && out[words[j]] == w
		}
		if !match {
			continue
		}
		// Every later word is an argument of the command (or a flag's
		// value, which costs nothing to hide).
		for _, i := range words[len(cmd):] {
			out[i] = redacted
		}
	}
	return out
}

// secretFlag reports whether the flag named name takes a secret value.
func secretFlag(name string) bool {
	name = strings.ToLower(name)
	switch {
	case strings.HasSuffix(name, "-stdin"), strings.HasPrefix(name, "with-"): // switches
		return false
	case strings.Contains(name, "password"), strings.Contains(name, "token"), strings.Contains(name, "secret"):
		return true
	case strings.Contains(name, "webhook"): // a webhook URL carries its credential in its path
		return true
	case strings.HasSuffix(name, "key"):
		return !strings.Contains(name, "ssh") // SSH public keys are public
	}
	return false
}

// maxLoggedCommand bounds the command line written to the log.
const maxLoggedCommand = 1 << 10

// logLine joins arguments for a log line, quoting the ones a reader
// couldn't tell apart otherwise, and cuts it at maxLoggedCommand.
func logLine(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' || r == '\'' }) {
			a = strconv.Quote(a)
		}
		b.WriteString(a)
		if b.Len() > maxLoggedCommand {
			break
		}
	}
	s := b.String()
	if len(s) > maxLoggedCommand {
		s = strings.ToValidUTF8(s[:maxLoggedCommand], "") + "…"
	}
	return s
}
