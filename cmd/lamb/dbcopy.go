package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"lamb/config"
	"lamb/store"
)

const dbUsage = "Usage: lamb db copy --to postgres://user:password@host:5432/dbname [--data-dir DIR]"

// runDB runs "lamb db …": for now the one subcommand, copy.
func runDB(ctx context.Context, args []string, dataDir, envFile string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "lamb db: unknown command %q\n", args[0])
		}
		fmt.Fprintln(stderr, dbUsage)
		return 2
	}
	return runDBCopy(ctx, args[1:], dataDir, envFile, stdout, stderr)
}

// runDBCopy copies the SQLite database of a stopped lamb into an empty
// PostgreSQL database, and says how to start lamb on it.
func runDBCopy(ctx context.Context, args []string, dataDir, envFile string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("lamb db copy", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprintln(stderr, dbUsage)
		fmt.Fprintln(stderr, "\nCopies the SQLite database of a stopped lamb (lamb.db in its data directory) into an")
		fmt.Fprintln(stderr, "empty PostgreSQL database, in one transaction: nothing is written when a check fails.")
		fset.PrintDefaults()
	}
	to := fset.String("to", "", "URL of the empty PostgreSQL database to copy into")
	dir := fset.String("data-dir", dataDir, "data directory of the lamb to copy (LAMB_DATA_DIR, default ./data)")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "lamb db copy: unexpected argument %q\n%s\n", fset.Arg(0), dbUsage)
		return 2
	}
	// The URL is never repeated: it may hold a password.
	switch {
	case *to == "":
		fmt.Fprintln(stderr, "lamb db copy: --to is required: the URL of an empty PostgreSQL database, e.g. --to postgres://lamb:PASSWORD@db.example.edu:5432/lamb")
		return 2
	case !store.IsPostgresURL(*to):
		fmt.Fprintln(stderr, "lamb db copy: --to: want a postgres://user:password@host:5432/dbname URL of an empty PostgreSQL database")
		return 2
	}

	cfg, err := config.Load(envFile)
	if err != nil {
		fmt.Fprintln(stderr, "lamb db copy: configuration:", err)
		return 1
	}
	if *dir != "" {
		cfg.DataDir = *dir
	}
	path := filepath.Join(cfg.DataDir, "lamb.db")
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "lamb db copy: no lamb database at %s: give the data directory of the lamb to copy with --data-dir (or LAMB_DATA_DIR)\n", path)
		return 1
	}
	target := store.Redacted(*to)
	dst, err := store.OpenURL(ctx, *to, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "lamb db copy: --to: %v\n", err)
		return 1
	}
	defer dst.Close()

	fmt.Fprintf(stdout, "Copying %s into %s, in one transaction…\n", path, target)
	rep, err := store.CopySQLite(ctx, path, dst)
	if err != nil {
		fmt.Fprintf(stderr, "lamb db copy: %v\nNothing was written to %s.\n", err, target)
		return 1
	}
	printCopyReport(stdout, rep)
	fmt.Fprintf(stdout, "\nEvery count matches. %s is unchanged: keep it until lamb runs on PostgreSQL.\n", path)
	printNextSteps(stdout, cfg, *to)
	return 0
}

// printCopyReport prints a line per table with its rows on both sides.
func printCopyReport(w io.Writer, rep store.CopyReport) {
	fmt.Fprintf(w, "Schema version %d. Rows per table:\n\n", rep.SchemaVersion)
	nameW, numW := len("total"), len("PostgreSQL")
	var total int64
	for _, t := range rep.Tables {
		nameW = max(nameW, len(t.Name))
		numW = max(numW, len(strconv.FormatInt(t.Source, 10)))
		total += t.Source
	}
	line := func(name string, a, b any) {
		fmt.Fprintf(w, "  %-*s  %*v  %*v\n", nameW, name, numW, a, numW, b)
	}
	line("table", "SQLite", "PostgreSQL")
	for _, t := range rep.Tables {
		line(t.Name, t.Source, t.Target)
	}
	line("total", total, rep.Rows())
}

// printNextSteps says how to start lamb on the copy: the database URL,
// the secret key that the copied secrets are still sealed with, and the
// SSH host key that users already trust.
func printNextSteps(w io.Writer, cfg *config.Config, rawURL string) {
	redacted := store.Redacted(rawURL)
	keyFile, _ := filepath.Abs(filepath.Join(cfg.DataDir, "secret.key"))
	hostKey, _ := filepath.Abs(filepath.Join(cfg.DataDir, "ssh_host_ed25519_key"))
	fmt.Fprintln(w, "\nTo run lamb on the copy:")
	key := ""
	switch _, err := os.Stat(keyFile); {
	case cfg.SecretKey != nil:
		fmt.Fprintln(w, "  - the copied secrets are sealed with the LAMB_SECRET_KEY set now: keep it as it is;")
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(w, "  - no secret key was found (LAMB_SECRET_KEY is unset, %s is missing): set LAMB_SECRET_KEY to the key this deployment's secrets were sealed with;\n", keyFile)
		key = "LAMB_SECRET_KEY=… "
	default:
		fmt.Fprintf(w, "  - the copied secrets are sealed with the key in %s: give lamb the same key as LAMB_SECRET_KEY;\n", keyFile)
		key = fmt.Sprintf(`LAMB_SECRET_KEY="$(cat %s)" `, keyFile)
	}
	if _, err := os.Stat(hostKey); err == nil {
		fmt.Fprintf(w, "  - the SSH host key that users already trust is %s: give it to every instance with LAMB_SSH_HOST_KEY;\n", hostKey)
	}
	if strings.Contains(redacted, "xxxxx") {
		fmt.Fprintln(w, "  - put the database password in place of xxxxx below.")
	}
	fmt.Fprintf(w, "Next: LAMB_DATABASE_URL='%s' %slamb\n", redacted, key)
}
