package sshserver

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) kbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kb",
		Short: "Look into your organization's knowledge base (admins)",
		Long: "Look into the knowledge base of a setup of your organization (the active setup unless\n" +
			"--setup names another): list its collections, or try retrieval as an assistant would.\n" +
			"Org admins work on their own organization; system admins name one with --org.",
		RunE: groupRunE,
	}
	cmd.AddCommand(c.kbCollectionsCommand(), c.kbQueryCommand())
	return cmd
}

func (c *cli) kbCollectionsCommand() *cobra.Command {
	var org, setup string
	cmd := &cobra.Command{
		Use:     "collections [--org SLUG] [--setup NAME]",
		Short:   "List the collections of the organization's knowledge base",
		Example: c.example("SSH kb collections", "SSH kb collections --org acme --json"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			slug, err := c.orgFlag(org)
			if err != nil {
				return err
			}
			list, err := c.svc.KBCollections(cmd.Context(), c.actor, slug, setup)
			if err != nil {
				return err
			}
			return c.show(cmd, list, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "The knowledge base has no collections.")
					return
				}
				t := newTable(w, "ID", "NAME", "DESCRIPTION")
				for _, col := range list {
					t.row(col.ID, col.Name, col.Description)
				}
				t.flush()
			})
		},
	}
	orgFlag(cmd, &org)
	cmd.Flags().StringVar(&setup, "setup", "", "setup whose knowledge base to use (default: the active setup)")
	return cmd
}

func (c *cli) kbQueryCommand() *cobra.Command {
	var (
		org, setup string
		topK       int
	)
	cmd := &cobra.Command{
		Use:   `query COLLECTION "TEXT" [--org SLUG] [--top-k N]`,
		Short: "Try retrieval: the chunks of a collection most similar to TEXT",
		Example: c.example(`SSH 'kb query 1 "What is entropy?"'`,
			`SSH 'kb query syllabus "exam dates" --org acme --top-k 5 --json'`),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug, err := c.orgFlag(org)
			if err != nil {
				return err
			}
			results, err := c.svc.KBQuery(cmd.Context(), c.actor, slug, setup, args[0], args[1], topK)
			if err != nil {
				return err
			}
			return c.show(cmd, results, func(w io.Writer) {
				if len(results) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "Nothing found.")
					return
				}
				for i, r := range results {
					fmt.Fprintf(w, "%d. similarity %s  %s  %s\n", i+1, strconv.FormatFloat(r.Similarity, 'f', 3, 64),
						safetext.Sanitize(r.Title), safetext.Sanitize(r.URL))
					fmt.Fprintln(w, usageIndent+safetext.Sanitize(r.Data))
				}
			})
		},
	}
	orgFlag(cmd, &org)
	cmd.Flags().StringVar(&setup, "setup", "", "setup whose knowledge base to use (default: the active setup)")
	cmd.Flags().IntVar(&topK, "top-k", service.DefaultTopK, "how many chunks to return (1-20)")
	return cmd
}
