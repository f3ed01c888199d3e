package sshserver

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) assistantCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "assistant",
		Short: "Manage assistants: your own, or (admins) your organization's",
		Long: "Manage assistants. Everyone manages their own; org admins also manage every assistant of\n" +
			"their organization and create assistants for its users with --owner. Callers (an LMS,\n" +
			"Open WebUI, any OpenAI client) name an assistant by its model id, lamb_assistant.ID.",
		RunE: groupRunE,
	}
	cmd.AddCommand(
		c.assistantListCommand(),
		c.assistantShowCommand(),
		c.assistantCreateCommand(),
		c.assistantUpdateCommand(),
		c.assistantEnableCommand("enable", true),
		c.assistantEnableCommand("disable", false),
		c.assistantDeleteCommand(),
		c.assistantModelsCommand(),
	)
	return cmd
}

// parseAssistantID reads an assistant id as callers write it
// ("lamb_assistant.12") or bare ("12").
func parseAssistantID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), service.ModelPrefix), 10, 64)
	if err != nil || n <= 0 {
		return 0, usageErrorf("assistant ID %q: want a number such as 12, or a model id such as %s12", s, service.ModelPrefix)
	}
	return n, nil
}

func (c *cli) assistantListCommand() *cobra.Command {
	var (
		lf  listFlags
		all bool
		org string
	)
	cmd := &cobra.Command{
		Use:   "list [--all]",
		Short: "List your assistants (admins: --all for every assistant of the organization)",
		Example: c.example("SSH assistant list",
			"SSH assistant list --all --filter tutor",
			"SSH assistant list --org acme --json"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			var (
				page service.Page[service.Assistant]
				err  error
			)
			if all || org != "" {
				if org, err = c.orgFlag(org); err != nil {
					return err
				}
				page, err = c.svc.ListOrgAssistants(cmd.Context(), c.actor, org, lf.filter, lf.offset, lf.limit)
			} else {
				page, err = c.svc.ListMyAssistants(cmd.Context(), c.actor, lf.filter, lf.offset, lf.limit)
			}
			if err != nil {
				return err
			}
			return c.show(cmd, page, func(w io.Writer) {
				t := newTable(w, "MODEL ID", "NAME", "OWNER", "PROVIDER", "MODEL", "SETUP", "STATUS")
				for _, a := range page.Items {
					t.row(a.Model, a.Name, a.Owner, a.Provider, a.LLM, setupText(a.Setup), enabledText(a.Enabled))
				}
				t.flush()
				pageHint(cmd, lf.offset, len(page.Items), page.Total)
				if !all && org == "" && lf.filter == "" {
					c.othersHint(cmd, page.Total)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every assistant of the organization (admins)")
	cmd.Flags().StringVar(&org, "org", "", "organization slug, implies --all (system admins: required with --all)")
	lf.add(cmd)
	return cmd
}

// othersHint tells an admin whose own list is shorter than the
// organization's where the others are: an assistant made for a user with
// --owner is that user's, and shows only with --all.
func (c *cli) othersHint(cmd *cobra.Command, own int) {
	a := c.actor
	if a.Role != service.RoleOrgAdmin && a.Role != service.RoleSystemAdmin {
		return
	}
	w := cmd.ErrOrStderr()
	if a.Role == service.RoleSystemAdmin && !a.ActingSystemAdmin {
		if own == 0 {
			fmt.Fprintln(w, "You own no assistants; `assistant list --org SLUG` lists an organization's.")
		}
		return
	}
	p, err := c.svc.ListOrgAssistants(cmd.Context(), a, a.OrgSlug, "", 0, 1)
	if err != nil || p.Total <= own {
		return
	}
	if own == 0 {
		fmt.Fprintf(w, "You own no assistants; %s has %s: `%s` lists them.\n", safetext.Sanitize(a.OrgSlug),
			plural.N(p.Total, "assistant", "assistants"), c.listAllHint(a.OrgSlug))
		return
	}
	fmt.Fprintf(w, "These are yours; %s has %s more: `%s` lists them all.\n", safetext.Sanitize(a.OrgSlug),
		plural.N(p.Total-own, "assistant", "assistants"), c.listAllHint(a.OrgSlug))
}

// listAllHint is the command that lists every assistant of org for the
// actor: --all in their own org, --org for a system admin.
func (c *cli) listAllHint(org string) string {
	if c.actor.Role == service.RoleSystemAdmin && !c.actor.ActingSystemAdmin {
		return "assistant list --org " + safetext.Sanitize(org)
	}
	return "assistant list --all"
}

func setupText(s string) string {
	if s == "" {
		return "(active)"
	}
	return s
}

func temperatureText(t *float64) string {
	if t == nil {
		return "provider default"
	}
	return strconv.FormatFloat(*t, 'g', -1, 64)
}

// printAssistant prints one assistant as text, the system prompt last and
// whole (its lines indented).
func printAssistant(w io.Writer, a service.Assistant) {
	setup := a.Setup
	if setup == "" {
		setup = "the organization's active setup"
	}
	kv := []string{
		"model id", a.Model,
		"name", a.Name,
		"owner", a.Owner,
		"organization", a.OrgSlug,
		"provider", a.Provider,
		"model", a.LLM,
		"temperature", temperatureText(a.Temperature),
		"setup", setup,
		"knowledge base", kbText(a.KnowledgeBase),
		"status", enabledText(a.Enabled),
		"description", a.Description,
		"created", when(a.CreatedAt),
		"updated", when(a.UpdatedAt),
	}
	if a.SystemPrompt == "" {
		kv = append(kv, "system prompt", "(none)")
	}
	if a.KnowledgeBase != nil && a.PromptTemplate == "" {
		kv = append(kv, "prompt template", "(built-in)")
	}
	fields(w, kv...)
	printLines(w, "system prompt", a.SystemPrompt)
	if a.KnowledgeBase != nil {
		printLines(w, "prompt template", a.PromptTemplate)
	}
}

// printLines prints a text of several lines under its label, indented;
// nothing for an empty text.
func printLines(w io.Writer, label, text string) {
	if text == "" {
		return
	}
	fmt.Fprintln(w, label+":")
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		fmt.Fprintln(w, usageIndent+safetext.Sanitize(line))
	}
}

func kbText(kb *service.AssistantKB) string {
	if kb == nil {
		return "none"
	}
	return fmt.Sprintf("collections %s, top %d, threshold %s, on error %s", strings.Join(kb.Collections, ","), kb.TopK,
		strconv.FormatFloat(kb.Threshold, 'g', -1, 64), kb.OnError)
}

func (c *cli) assistantShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show one assistant with its system prompt",
		Example: c.example("SSH assistant show lamb_assistant.12", "SSH assistant show 12 --json"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAssistantID(args[0])
			if err != nil {
				return err
			}
			a, err := c.svc.GetAssistant(cmd.Context(), c.actor, id)
			if err != nil {
				return err
			}
			return c.show(cmd, a, func(w io.Writer) { printAssistant(w, a) })
		},
	}
}

// assistantFlags are the settings flags shared by create and update.
type assistantFlags struct {
	name, description, systemPrompt string
	provider, model, temperature    string
	setup                           string
	promptStdin                     bool
	kbCollections, kbOnError        string
	kbTopK                          int
	kbThreshold                     float64
	promptTemplate                  string
}

func (f *assistantFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.name, "name", "", "name, unique among the owner's assistants (1-100 characters)")
	fs.StringVar(&f.provider, "provider", "", "openai or ollama; it must be enabled in the setup used ('assistant models' lists them)")
	fs.StringVar(&f.model, "model", "", "a model the provider offers (default: the provider's default model)")
	fs.StringVar(&f.systemPrompt, "system-prompt", "", "the system prompt, sent before the caller's messages")
	fs.BoolVar(&f.promptStdin, "system-prompt-stdin", false, "read the system prompt from stdin (all of it)")
	fs.StringVar(&f.description, "description", "", "a description for people")
	fs.StringVar(&f.temperature, "temperature", "", "sampling temperature 0-2 (--temperature= : the provider's default)")
	fs.StringVar(&f.setup, "setup", "", "pin a setup of the organization (--setup= : the active setup)")
	fs.StringVar(&f.kbCollections, "kb-collections", "", "knowledge-base collection ids to answer from, comma-separated, at most 10 (--kb-collections= : none)")
	fs.IntVar(&f.kbTopK, "kb-top-k", service.DefaultTopK, "how many chunks of context to use (1-20)")
	fs.Float64Var(&f.kbThreshold, "kb-threshold", 0, "least similarity of a chunk to be used (0-1)")
	fs.StringVar(&f.kbOnError, "kb-on-error", service.KBFail, "when the knowledge base fails: fail (answer 502) or continue (answer without context)")
	fs.StringVar(&f.promptTemplate, "prompt-template", "", "where context goes: text with {context} and {user_input} (--prompt-template= : the built-in one)")
	cmd.MarkFlagsMutuallyExclusive("system-prompt", "system-prompt-stdin")
}

// apply copies the flags given on the command line into in; flags not
// given leave in as it is.
func (f *assistantFlags) apply(cmd *cobra.Command, in *service.AssistantInput) error {
	changed := cmd.Flags().Changed
	if changed("name") {
		in.Name = f.name
	}
	if changed("provider") {
		if f.provider != in.Provider && !changed("model") {
			in.Model = "" // the new provider's default, rather than a model it may not offer
		}
		in.Provider = f.provider
	}
	if changed("model") {
		in.Model = f.model
	}
	if changed("description") {
		in.Description = f.description
	}
	if changed("setup") {
		in.Setup = f.setup
	}
	if changed("temperature") {
		in.Temperature = nil
		if s := strings.TrimSpace(f.temperature); s != "" {
			t, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return usageErrorf("--temperature %q: want a number from 0 to 2, or nothing (--temperature=) for the provider's default", f.temperature)
			}
			in.Temperature = &t
		}
	}
	if changed("prompt-template") {
		in.PromptTemplate = f.promptTemplate
	}
	if changed("kb-collections") || changed("kb-top-k") || changed("kb-threshold") || changed("kb-on-error") {
		kb := service.AssistantKB{}
		if in.KnowledgeBase != nil {
			kb = *in.KnowledgeBase
		}
		if changed("kb-collections") {
			kb.Collections = nil
			for _, id := range strings.Split(f.kbCollections, ",") {
				if id = strings.TrimSpace(id); id != "" {
					kb.Collections = append(kb.Collections, id)
				}
			}
		}
		if changed("kb-top-k") {
			kb.TopK = f.kbTopK
			if kb.TopK == 0 {
				return usageErrorf("--kb-top-k 0: want a number from 1 to 20")
			}
		}
		if changed("kb-threshold") {
			kb.Threshold = f.kbThreshold
		}
		if changed("kb-on-error") {
			kb.OnError = f.kbOnError
		}
		in.KnowledgeBase = &kb
	}
	switch {
	case changed("system-prompt"):
		in.SystemPrompt = f.systemPrompt
	case f.promptStdin:
		data, err := readAll(cmd, "system prompt", maxStdin)
		if err != nil {
			return err
		}
		in.SystemPrompt = strings.TrimRight(string(data), "\r\n")
	}
	return nil
}

func (c *cli) assistantCreateCommand() *cobra.Command {
	var (
		f     assistantFlags
		owner string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --provider P [--model M] [--owner EMAIL]",
		Short: "Create an assistant (admins: for a user of their organization with --owner)",
		Long: "Create an assistant, yours or (org admins) one for a user of your organization with\n" +
			"--owner. The provider must be enabled in the setup the assistant uses, and the model one it\n" +
			"offers: 'assistant models' lists them. The organization's limits max_assistants and\n" +
			"max_assistants_per_user apply. Callers use the model id printed.",
		Example: c.example(`SSH 'assistant create --name "Essay tutor" --provider openai --model gpt-4o-mini --temperature 0.3'`,
			`SSH assistant create --name Grader --provider openai --system-prompt-stdin < prompt.txt`,
			`SSH 'assistant create --name Tutor --provider ollama --setup lab --owner ana@acme.example'`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := service.AssistantInput{Owner: owner, Enabled: true}
			if err := f.apply(cmd, &in); err != nil {
				return err
			}
			a, err := c.svc.CreateAssistant(cmd.Context(), c.actor, in)
			if err != nil {
				return err
			}
			return c.show(cmd, a, func(w io.Writer) {
				fmt.Fprintf(w, "Created assistant %s for %s: %s %s.\n", safetext.Sanitize(a.Name), safetext.Sanitize(a.Owner), a.Provider, safetext.Sanitize(a.LLM))
				fmt.Fprintf(w, "Callers use the model id %s.\n", a.Model)
				if !strings.EqualFold(a.Owner, c.actor.Email) {
					fmt.Fprintf(w, "It is %s's: `assistant list` shows your own, `%s` the organization's.\n", safetext.Sanitize(a.Owner), c.listAllHint(a.OrgSlug))
				}
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&owner, "owner", "", "email of the owner (org admins: a user of their organization; default: you)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("provider")
	return cmd
}

// assistantSettingFlags are the flags update may change.
var assistantSettingFlags = []string{"name", "provider", "model", "system-prompt", "system-prompt-stdin",
	"description", "temperature", "setup", "kb-collections", "kb-top-k", "kb-threshold", "kb-on-error", "prompt-template"}

func (c *cli) assistantUpdateCommand() *cobra.Command {
	var f assistantFlags
	cmd := &cobra.Command{
		Use:   "update ID [--name N] [--provider P] [--model M] [--system-prompt T | --system-prompt-stdin] ...",
		Short: "Change an assistant's settings; flags not given keep their value",
		Long: "Change an assistant's settings. Only the flags given change; an empty value\n" +
			"(--description=, --temperature=, --setup=) clears the description, the temperature or the\n" +
			"setup pin. Changing --provider without --model picks the new provider's default model.\n" +
			"The owner can't change.",
		Example: c.example("SSH assistant update lamb_assistant.12 --model gpt-4o",
			"SSH assistant update 12 --system-prompt-stdin < prompt.txt",
			"SSH assistant update 12 --temperature= --setup="),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAssistantID(args[0])
			if err != nil {
				return err
			}
			given := false
			for _, n := range assistantSettingFlags {
				given = given || cmd.Flags().Changed(n)
			}
			if !given {
				return usageErrorf("nothing to change: give at least one of --%s", strings.Join(assistantSettingFlags, ", --"))
			}
			cur, err := c.svc.GetAssistant(cmd.Context(), c.actor, id)
			if err != nil {
				return err
			}
			in := service.AssistantInput{Name: cur.Name, Description: cur.Description, SystemPrompt: cur.SystemPrompt,
				Provider: cur.Provider, Model: cur.LLM, Temperature: cur.Temperature, Setup: cur.Setup, Enabled: cur.Enabled,
				KnowledgeBase: cur.KnowledgeBase, PromptTemplate: cur.PromptTemplate}
			if err := f.apply(cmd, &in); err != nil {
				return err
			}
			a, err := c.svc.UpdateAssistant(cmd.Context(), c.actor, id, in)
			if err != nil {
				return err
			}
			return c.show(cmd, a, func(w io.Writer) {
				fmt.Fprintf(w, "Updated assistant %s (%s): %s %s, %s.\n", safetext.Sanitize(a.Name), a.Model, a.Provider, safetext.Sanitize(a.LLM), enabledText(a.Enabled))
			})
		},
	}
	f.add(cmd)
	return cmd
}

func (c *cli) assistantEnableCommand(verb string, enable bool) *cobra.Command {
	short := "Enable an assistant"
	if !enable {
		short = "Disable an assistant: callers get model not found until it is enabled again"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAssistantID(args[0])
			if err != nil {
				return err
			}
			if err := c.svc.SetMyAssistantEnabled(cmd.Context(), c.actor, id, enable); err != nil {
				return err
			}
			a, err := c.svc.GetAssistant(cmd.Context(), c.actor, id)
			if err != nil {
				return err
			}
			return c.show(cmd, a, func(w io.Writer) {
				fmt.Fprintf(w, "Assistant %s (%s) is %s.\n", safetext.Sanitize(a.Name), a.Model, enabledText(a.Enabled))
			})
		},
	}
}

func (c *cli) assistantDeleteCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ID --yes",
		Short: "Delete an assistant (its usage history stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAssistantID(args[0])
			if err != nil {
				return err
			}
			if !yes {
				// Only for assistants the actor may see: the same answer as
				// the deletion would give for anyone else's.
				a, err := c.svc.GetAssistant(cmd.Context(), c.actor, id)
				if err != nil {
					return err
				}
				return failf("not deleted: deleting %s (%s) breaks every caller that uses it; its usage history stays. Re-run with --yes to delete",
					safetext.Sanitize(a.Name), a.Model)
			}
			if err := c.svc.DeleteAssistant(cmd.Context(), c.actor, id); err != nil {
				return err
			}
			model := service.ModelPrefix + strconv.FormatInt(id, 10)
			return c.show(cmd, map[string]string{"deleted": model}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted assistant %s.\n", model)
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

func (c *cli) assistantModelsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "models",
		Short: "List the providers and models your organization offers for assistants",
		Long: "List the providers enabled in each setup of your organization (the active setup first),\n" +
			"with the models they offer: what 'assistant create' accepts for --provider, --model and --setup.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			choices, err := c.svc.ModelChoices(cmd.Context(), c.actor)
			if err != nil {
				return err
			}
			return c.show(cmd, choices, func(w io.Writer) {
				if len(choices) == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "No provider is enabled in your organization; ask one of its admins to set one up.")
					return
				}
				t := newTable(w, "SETUP", "PROVIDER", "DEFAULT", "MODELS")
				for _, ch := range choices {
					t.row(ch.Setup, ch.Provider, ch.DefaultModel, strings.Join(ch.Models, ", "))
				}
				t.flush()
			})
		},
	}
}
