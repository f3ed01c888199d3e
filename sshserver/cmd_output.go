package sshserver

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
)

// show prints v as JSON with --json, and as text otherwise. Both reach the
// terminal through the session's safetext.Writer (see runCommand): the C1
// and bidi characters encoding/json leaves raw come out as JSON escapes,
// so the JSON decodes to the same values and the terminal obeys none.
func (c *cli) show(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	w := cmd.OutOrStdout()
	if c.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// table prints aligned columns. Each cell is one line: a line break or tab
// in data is shown escaped, so it can't forge rows or break alignment.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = safetext.Sanitize(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { _ = t.tw.Flush() }

// fields prints "name:  value" lines, aligned, each value on one line.
func fields(w io.Writer, kv ...string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], safetext.Sanitize(kv[i+1]))
	}
	_ = tw.Flush()
}

// pageHint says on stderr that a list has more rows than it printed.
func pageHint(cmd *cobra.Command, offset, shown, total int) {
	if offset+shown < total {
		fmt.Fprintf(cmd.ErrOrStderr(), "showing %d-%d of %d; use --offset %d for more\n",
			offset+1, offset+shown, total, offset+shown)
	}
}

// listFlags are the paging and filter flags of list commands.
type listFlags struct {
	filter        string
	offset, limit int
}

func (l *listFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.filter, "filter", "", "show only rows that contain this text")
	cmd.Flags().IntVar(&l.limit, "limit", 100, "rows to show (1-500)")
	cmd.Flags().IntVar(&l.offset, "offset", 0, "rows to skip")
}

func (l *listFlags) check() error {
	if l.limit < 1 || l.limit > 500 {
		return usageErrorf("--limit must be 1-500, got %d", l.limit)
	}
	if l.offset < 0 {
		return usageErrorf("--offset can't be negative, got %d", l.offset)
	}
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func enabledText(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// maxStdin caps what a command reads from stdin (an org config).
const maxStdin = 1 << 20

// readAll reads stdin up to max bytes; more is a failure naming what.
func readAll(cmd *cobra.Command, what string, max int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if len(data) > max {
		return nil, failf("%s: larger than %d KiB", what, max>>10)
	}
	return data, nil
}

// maxLine caps a line read from stdin (a password, an SSH key).
const maxLine = 16 << 10

// lineReader reads lines from stdin without waiting for its end, so
// `password` works typed as well as piped.
type lineReader struct{ r *bufio.Reader }

func newLineReader(cmd *cobra.Command) *lineReader {
	return &lineReader{bufio.NewReaderSize(cmd.InOrStdin(), maxLine)}
}

// line returns the next line without its line ending; what names it in
// errors.
func (l *lineReader) line(what string) (string, error) {
	s, err := l.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", failf("%s: line longer than %d KiB", what, maxLine>>10)
	case errors.Is(err, io.EOF) && len(s) == 0:
		return "", failf("%s: expected a line on stdin, got the end of input", what)
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	return strings.TrimRight(string(s), "\r\n"), nil
}

// parseSince reads --since: a duration back from now ("7d", "12h", "30m")
// or a date ("2026-01-31", RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "month" {
		now = now.UTC()
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), nil
	}
	t, ok := parseWhen(s, now, -1)
	if !ok {
		return time.Time{}, usageErrorf("--since %q: want a positive duration such as 7d, 12h or 30m, a date such as 2026-01-31, or month (this calendar month)", s)
	}
	return t, nil
}

// parseWhen reads a time given as a duration from now ("30d", "12h"),
// backwards for dir -1 and forwards for dir 1, or as a date ("2026-12-31",
// its first instant in UTC) or an RFC 3339 time. "" is the zero time.
func parseWhen(s string, now time.Time, dir int) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 && days <= 100*366 {
			return now.AddDate(0, 0, dir*days), true
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(time.Duration(dir) * d), true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// writeCSV prints a header and rows as CSV (RFC 4180 quoting, by
// encoding/csv; lines end in \n). A cell that a spreadsheet would take
// for a formula (=, +, -, @, or a tab first) gets a ' in front: names
// are typed by people, and a CSV export is opened in spreadsheets.
func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		for i, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				r[i] = "'" + cell
			}
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// outputFlags is --csv beside the global --json, for reports.
type outputFlags struct{ csv bool }

func (o *outputFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.csv, "csv", false, "print CSV (a header row, then one row per line) instead of text")
}

// check refuses --csv with --json.
func (o *outputFlags) check(c *cli) error {
	if o.csv && c.json {
		return usageErrorf("--csv and --json can't be combined: choose one")
	}
	return nil
}
