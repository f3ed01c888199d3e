// Package safetext is lamb's one policy for text that people and peers
// send and that terminals later show. A terminal acts on some characters
// instead of showing them: ESC and the C1 controls start escape sequences
// (retitle the window, clear the screen, write the clipboard with OSC 52),
// a carriage return or backspace overwrites what is shown, and bidi
// overrides make text read differently from what it is. Such characters
// are refused where text is stored (Check) and escaped wherever text is
// drawn (Sanitize), so that data written before the check, or by a peer
// lamb doesn't control, is shown and not obeyed.
package safetext

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal from data: C0
// controls, DEL, C1 controls, bidi controls, line and paragraph
// separators, and invisible characters that hide text (zero-width space,
// word joiners, byte order mark). Zero-width joiners (U+200C, U+200D)
// stay: scripts and emoji need them. lines lets \n and \t through.
func unsafe(r rune, lines bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !lines
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // bidi marks
		r >= 0x202a && r <= 0x202e, // bidi embeddings and overrides
		r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0x200b, r >= 0x2060 && r <= 0x2064, r == 0xfeff: // invisible
		return true
	}
	return false
}

// ErrUnsafe is what Check and CheckLines return, wrapped with the
// character found.
var ErrUnsafe = errors.New("can't contain control characters")

// Check returns an error when s, one line of text (a name, an email, a
// model name), holds a character a terminal would act on, or isn't UTF-8.
// The message says which character and where, for the person to fix it.
func Check(s string) error { return check(s, false) }

// CheckLines is Check for text of several lines (a system prompt): it
// allows \n and \t too, and nothing else.
func CheckLines(s string) error { return check(s, true) }

func check(s string, lines bool) error {
	for i, n := 0, 1; i < len(s); n++ {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("isn't valid UTF-8 text (byte %d)", i+1)
		case unsafe(r, lines):
			allowed := "remove it"
			if lines {
				allowed = "only line breaks (\\n) and tabs are allowed"
			}
			return fmt.Errorf("%w or invisible formatting characters (found U+%04X at character %d); %s", ErrUnsafe, r, n, allowed)
		}
		i += size
	}
	return nil
}

// Sanitize returns s for one line of a terminal: every character Check
// refuses, \n and \t included, is written as a visible escape (\u001b),
// and bytes that aren't UTF-8 as U+FFFD. Text that passes Check is
// returned as it is.
func Sanitize(s string) string { return sanitize(s, false) }

// SanitizeLines is Sanitize for text of several lines: \n and \t stay.
// The escapes are JSON's own, so JSON written by encoding/json (which
// escapes C0 but leaves C1 and bidi characters raw) still decodes to the
// same values after SanitizeLines.
func SanitizeLines(s string) string { return sanitize(s, true) }

func sanitize(s string, lines bool) string {
	clean := true
	for _, r := range s { // invalid bytes come as RuneError, which is replaced
		if r == utf8.RuneError || unsafe(r, lines) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case unsafe(r, lines):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r) // RuneError, for an invalid byte, is written as U+FFFD
		}
	}
	return b.String()
}

// Writer passes what is written through SanitizeLines: every path that
// prints to a terminal through it is safe by construction. A character
// split across two writes is held until the next one (or Flush).
type Writer struct {
	w    io.Writer
	tail []byte // the start of a character whose rest hasn't come yet
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sanitizes p and writes it. It reports len(p) on success.
func (sw *Writer) Write(p []byte) (int, error) {
	buf := p
	if len(sw.tail) > 0 {
		buf = append(sw.tail, p...)
		sw.tail = nil
	}
	// Hold back an incomplete character at the end (at most 3 bytes).
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	sw.tail = append(sw.tail, buf[cut:]...)
	if _, err := io.WriteString(sw.w, SanitizeLines(string(buf[:cut]))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held incomplete character, as U+FFFD.
func (sw *Writer) Flush() error {
	if len(sw.tail) == 0 {
		return nil
	}
	tail := sw.tail
	sw.tail = nil
	_, err := io.WriteString(sw.w, SanitizeLines(string(tail)))
	return err
}
