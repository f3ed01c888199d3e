package config

import (
	"bufio"
	"fmt"
	"strings"
)

// parseDotenv reads KEY=VALUE lines. It accepts `export KEY=…`, # comments,
// single quotes (taken literally), and double quotes (with \n, \" and \\
// escapes) that may span several lines, which is how a list of SSH keys is
// usually written.
func parseDotenv(text string) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", lineNo)
		}
		val = strings.TrimSpace(val)
		switch {
		case strings.HasPrefix(val, `"`):
			body := val[1:]
			start := lineNo
			for !closesDoubleQuote(body) {
				if !sc.Scan() {
					return nil, fmt.Errorf("line %d: %s: unterminated double quote", start, key)
				}
				lineNo++
				body += "\n" + sc.Text()
			}
			end := closingQuote(body)
			val = unescape(body[:end])
		case strings.HasPrefix(val, `'`):
			end := strings.Index(val[1:], `'`)
			if end < 0 {
				return nil, fmt.Errorf("line %d: %s: unterminated single quote", lineNo, key)
			}
			val = val[1 : end+1]
		default:
			if i := strings.Index(val, " #"); i >= 0 {
				val = strings.TrimSpace(val[:i])
			}
		}
		vals[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return vals, nil
}

func closesDoubleQuote(s string) bool { return closingQuote(s) >= 0 }

// closingQuote returns the index of the first unescaped double quote, or -1.
func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
