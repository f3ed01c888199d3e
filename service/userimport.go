package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/store"
)

// MaxUserImportRows bounds a user import: all of it is one transaction,
// and every bad row is named in one answer.
const MaxUserImportRows = 10_000

// UserImportInput is a list of users to create in one org at once: CSV
// with a header row naming the columns email, name, role (optional: member
// or admin, default member) and ssh_key (optional), or JSON lines with the
// same fields.
type UserImportInput struct {
	OrgSlug string
	Data    []byte
	DryRun  bool
}

// ImportedUser is one user a list created (or, dry, would create). A user
// without an SSH key gets a one-time password, shown once.
type ImportedUser struct {
	Line            int    `json:"line"`
	Email           string `json:"email"`
	Name            string `json:"name"`
	Role            string `json:"role"`
	SSHKey          string `json:"ssh_key_fingerprint,omitempty"`
	OneTimePassword string `json:"one_time_password,omitempty"`
}

// UserImportResult is what a user import did.
type UserImportResult struct {
	Org    string         `json:"organization"`
	Format string         `json:"format"` // csv or jsonl
	Users  []ImportedUser `json:"users"`
	DryRun bool           `json:"dry_run"`
}

// Passwords counts the one-time passwords the import generated.
func (r UserImportResult) Passwords() int {
	n := 0
	for _, u := range r.Users {
		if u.OneTimePassword != "" {
			n++
		}
	}
	return n
}

// RowError is what is wrong with one row of a list; Line 0 is about the
// list as a whole.
type RowError struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e RowError) String() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// RowErrors are every bad row of a list, in line order: nothing of the
// list was imported. errors.Is(err, ErrInvalid) holds.
type RowErrors []RowError

func (e RowErrors) Error() string {
	lines := make([]string, 0, len(e)+1)
	rows := 0
	for _, r := range e {
		if r.Line > 0 && (len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], fmt.Sprintf("line %d: ", r.Line))) {
			rows++
		}
		lines = append(lines, r.String())
	}
	head := "the list can't be imported, so nothing was; fix it and send the whole list again:"
	if rows > 0 {
		head = fmt.Sprintf("%s can't be imported, so nothing was; fix %s and send the whole list again:",
			plural.N(rows, "row", "rows"), plural.Word(rows, "it", "them"))
	}
	return head + "\n" + strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e RowErrors) Is(target error) bool { return target == ErrInvalid }

// rowOrder sorts row errors by line, those about the whole list last.
func rowOrder(e RowError) int {
	if e.Line == 0 {
		return MaxUserImportRows * 10
	}
	return e.Line
}

// userRow is one row of a list as written.
type userRow struct {
	line                      int
	email, name, role, sshKey string
}

// userColumns are the columns a CSV list may have.
var userColumns = []string{"email", "name", "role", "ssh_key"}

// parseUserList reads a list: JSON lines when its first character is "{",
// CSV otherwise (comma- or semicolon-separated, as spreadsheets save it).
// It returns the rows and every row it couldn't read.
func parseUserList(data []byte) ([]userRow, string, RowErrors, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's byte order mark
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, "", nil, invalid("users", "the list is empty; send CSV with a header row (email,name,role,ssh_key) or JSON lines ({\"email\":…,\"name\":…})")
	}
	if trimmed[0] == '{' {
		rows, errs, err := parseJSONLines(data)
		return rows, "jsonl", errs, err
	}
	rows, errs, err := parseCSV(data)
	return rows, "csv", errs, err
}

func tooMany(n int) error {
	return invalid("users", "the list has more than %d rows; split it and import each part", MaxUserImportRows)
}

func parseCSV(data []byte) ([]userRow, RowErrors, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.Contains(first, []byte(";")) && !bytes.Contains(first, []byte(",")) {
		r.Comma = ';'
	}
	header, err := r.Read()
	if err != nil {
		return nil, nil, invalid("users", "the header row can't be read (%v); start the list with a row such as email,name,role,ssh_key", err)
	}
	col := map[string]int{}
	var errs RowErrors
	for i, h := range header {
		name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(h)), " ", "_")
		switch {
		case !slices.Contains(userColumns, name):
			errs = append(errs, RowError{Line: 1, Message: fmt.Sprintf("column %q is not one of %s", h, strings.Join(userColumns, ", "))})
		case col[name] != 0:
			errs = append(errs, RowError{Line: 1, Message: fmt.Sprintf("column %q comes twice", h)})
		default:
			col[name] = i + 1 // 0: absent
		}
	}
	for _, need := range []string{"email", "name"} {
		if col[need] == 0 {
			errs = append(errs, RowError{Line: 1, Message: fmt.Sprintf("the header has no %s column; the first row must name the columns, e.g. email,name,role,ssh_key", need)})
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	cell := func(rec []string, name string) string {
		if i := col[name]; i > 0 && i <= len(rec) {
			return rec[i-1]
		}
		return ""
	}
	var rows []userRow
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			errs = append(errs, RowError{Line: pe.StartLine, Message: fmt.Sprintf("not valid CSV (%v); quote a value that holds a comma or a quote", pe.Err)})
			continue
		} else if err != nil {
			return nil, nil, err
		}
		line, _ := r.FieldPos(0)
		if len(rows)+len(errs) >= MaxUserImportRows {
			return nil, nil, tooMany(MaxUserImportRows)
		}
		if len(rec) != len(header) {
			errs = append(errs, RowError{Line: line, Message: fmt.Sprintf("has %d values; the header has %d columns (%s)",
				len(rec), len(header), strings.Join(header, ","))})
			continue
		}
		rows = append(rows, userRow{line: line, email: cell(rec, "email"), name: cell(rec, "name"),
			role: cell(rec, "role"), sshKey: cell(rec, "ssh_key")})
	}
	return rows, errs, nil
}

func parseJSONLines(data []byte) ([]userRow, RowErrors, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var (
		rows []userRow
		errs RowErrors
	)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if len(rows)+len(errs) >= MaxUserImportRows {
			return nil, nil, tooMany(MaxUserImportRows)
		}
		var v struct {
			Email  string `json:"email"`
			Name   string `json:"name"`
			Role   string `json:"role"`
			SSHKey string `json:"ssh_key"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			errs = append(errs, RowError{Line: line, Message: fmt.Sprintf(
				"not a JSON object of email, name, role and ssh_key (%v)", err)})
			continue
		}
		if dec.More() {
			errs = append(errs, RowError{Line: line, Message: "holds more than one JSON object; put each user on a line of their own"})
			continue
		}
		rows = append(rows, userRow{line: line, email: v.Email, name: v.Name, role: v.Role, sshKey: v.SSHKey})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, invalid("users", "a line can't be read (%v); each line holds one user", err)
	}
	return rows, errs, nil
}

// checkedRow is a row whose fields passed.
type checkedRow struct {
	line              int
	email, name, role string
	key               *parsedKey
}

// checkUserRows checks each row's fields and that no email or key comes
// twice, naming every problem.
func checkUserRows(rows []userRow) ([]checkedRow, RowErrors) {
	var (
		out   []checkedRow
		errs  RowErrors
		email = map[string]int{} // → first line
		key   = map[string]int{}
	)
	fieldErr := func(line int, err error) {
		var ie *InvalidError
		if errors.As(err, &ie) {
			errs = append(errs, RowError{Line: line, Field: ie.Field, Message: ie.Message})
			return
		}
		errs = append(errs, RowError{Line: line, Message: err.Error()})
	}
	for _, r := range rows {
		ok := true
		c := checkedRow{line: r.line}
		var err error
		if c.email, err = normalizeEmail(r.email); err != nil {
			fieldErr(r.line, err)
			ok = false
		} else if first, dup := email[c.email]; dup {
			errs = append(errs, RowError{Line: r.line, Field: "email", Message: fmt.Sprintf("%s is also on line %d", c.email, first)})
			ok = false
		} else {
			email[c.email] = r.line
		}
		if c.name, err = checkName("name", r.name); err != nil {
			fieldErr(r.line, err)
			ok = false
		}
		switch c.role = strings.ToLower(strings.TrimSpace(r.role)); c.role {
		case "":
			c.role = store.RoleMember
		case store.RoleMember, store.RoleAdmin:
		default:
			errs = append(errs, RowError{Line: r.line, Field: "role", Message: fmt.Sprintf("must be member or admin (or empty: member), got %q", r.role)})
			ok = false
		}
		if strings.TrimSpace(r.sshKey) != "" {
			k, err := parseSSHKey("ssh_key", r.sshKey)
			switch {
			case err != nil:
				fieldErr(r.line, err)
				ok = false
			case key[k.fingerprint] != 0:
				errs = append(errs, RowError{Line: r.line, Field: "ssh_key", Message: fmt.Sprintf("this key (%s) is also on line %d", k.fingerprint, key[k.fingerprint])})
				ok = false
			default:
				key[k.fingerprint] = r.line
				c.key = &k
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, errs
}

// ImportUsers creates the users of a list in one org, all in one
// transaction: every row is checked first (fields, duplicates, emails and
// keys that already have accounts), and if any is wrong, every bad row is
// named by its line and nothing is created. The org's max_users counts the
// whole list. Users without an SSH key get a one-time password, returned
// once. With DryRun everything is checked and nothing kept. System admins,
// and that org's admins.
func (s *Service) ImportUsers(ctx context.Context, a Actor, in UserImportInput) (UserImportResult, error) {
	// Admins only, before the list is read: its rows are no one else's business.
	if err := requireOrgAdmin(a, a.OrgID); err != nil {
		return UserImportResult{}, err
	}
	rows, format, errs, err := parseUserList(in.Data)
	if err != nil {
		return UserImportResult{}, err
	}
	checked, fieldErrs := checkUserRows(rows)
	errs = append(errs, fieldErrs...)
	if len(checked) == 0 && len(errs) == 0 {
		return UserImportResult{}, invalid("users", "the list has a header and no users; add a row for each user")
	}
	if err := s.requireUniquenessProbeAllowed(ctx, a); err != nil {
		return UserImportResult{}, err
	}
	// One-time passwords are made before the transaction; they cost a
	// SHA-256 each (see newOneTimePassword).
	res := UserImportResult{Format: format, DryRun: in.DryRun, Users: make([]ImportedUser, len(checked))}
	hashes := make([]string, len(checked))
	for i, c := range checked {
		res.Users[i] = ImportedUser{Line: c.line, Email: c.email, Name: c.name, Role: c.role}
		if c.key != nil {
			res.Users[i].SSHKey = c.key.fingerprint
		} else if !in.DryRun {
			if res.Users[i].OneTimePassword, hashes[i], err = s.newOneTimePassword(ctx); err != nil {
				return UserImportResult{}, err
			}
		}
	}
	hidden := 0 // "already used" answers about other orgs, counted as probes
	errDry := errors.New("dry run")
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		hidden = 0
		o, err := s.orgForAdmin(ctx, tx.Queries, a, in.OrgSlug)
		if err != nil {
			return err
		}
		res.Org = o.Slug
		taken, n, err := s.userImportConflicts(ctx, tx.Queries, a, checked)
		if err != nil {
			return err
		}
		hidden = n
		if all := append(slices.Clone(errs), taken...); len(all) > 0 {
			slices.SortStableFunc(all, func(x, y RowError) int { return rowOrder(x) - rowOrder(y) })
			return all
		}
		if err := s.checkMaxUsersFor(ctx, tx.Queries, o, len(checked)); err != nil {
			return err
		}
		users := make([]store.User, len(checked))
		for i, c := range checked {
			users[i] = store.User{OrganizationID: o.ID, Email: c.email, Name: c.name, Role: c.role, Enabled: true, PasswordHash: hashes[i]}
		}
		created, err := tx.CreateUsers(ctx, users)
		if errors.Is(err, store.ErrConflict) {
			return conflict("users: an email of the list got an account meanwhile; send the list again to see which")
		} else if err != nil {
			return err
		}
		var keys []store.SSHKey
		events := make([]store.AuditEvent, 0, len(created)+1)
		for i, u := range created {
			if k := checked[i].key; k != nil {
				keys = append(keys, store.SSHKey{OrganizationID: o.ID, UserID: u.ID, Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment})
			}
			ev, err := auditEvent(a, o.ID, "user.create", u.Email, map[string]any{"role": u.Role, "import": true, "ssh_key": checked[i].key != nil})
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		if err := tx.AddSSHKeys(ctx, keys); errors.Is(err, store.ErrConflict) {
			return conflict("users: an SSH key of the list got an account meanwhile; send the list again to see which")
		} else if err != nil {
			return err
		}
		ev, err := auditEvent(a, o.ID, "user.import", o.Slug, map[string]any{"users": len(created), "ssh_keys": len(keys),
			"without_ssh_key": len(created) - len(keys), "format": format})
		if err != nil {
			return err
		}
		if err := tx.InsertAudits(ctx, append(events, ev)); err != nil {
			return err
		}
		if in.DryRun {
			return errDry
		}
		return nil
	})
	for range hidden {
		s.countUniquenessProbe(ctx, a)
	}
	if err != nil && !errors.Is(err, errDry) {
		return UserImportResult{}, err
	}
	return res, nil
}

// userImportConflicts names the rows whose email or SSH key already has an
// account. Attack: a list is a batch of probes — an org admin could learn
// which of 10,000 addresses have accounts elsewhere in one answer. So an
// address or key of another org (which the actor may not see) is answered
// as user create answers it, without saying it exists, and like there each
// such answer counts toward the actor's limit of them: past the limit the
// rest are not named, only counted. It returns the errors and how many
// answers about other orgs were given.
func (s *Service) userImportConflicts(ctx context.Context, q *store.Queries, a Actor, rows []checkedRow) (RowErrors, int, error) {
	emails, fps := make([]string, 0, len(rows)), []string{}
	for _, r := range rows {
		emails = append(emails, r.email)
		if r.key != nil {
			fps = append(fps, r.key.fingerprint)
		}
	}
	users, err := q.UsersByEmails(ctx, emails)
	if err != nil {
		return nil, 0, err
	}
	keys, err := q.SSHKeysByFingerprints(ctx, fps)
	if err != nil {
		return nil, 0, err
	}
	left := MaxUserImportRows
	if !seesAllOrgs(a) {
		seen, err := s.uniqueness.look(ctx, s.now(), probeKey(a))
		if err != nil {
			return nil, 0, err
		}
		left = max(uniquenessProbes-seen.count(probeKey(a)), 0)
	}
	var out RowErrors
	hidden, unnamed := 0, 0
	mayKnow := func(orgID int64) bool {
		return seesAllOrgs(a) || (a.Role == RoleOrgAdmin && orgID == a.OrgID)
	}
	for _, r := range rows {
		if u, ok := users[r.email]; ok {
			switch {
			case mayKnow(u.OrganizationID):
				out = append(out, RowError{Line: r.line, Field: "email", Message: r.email + " is already registered"})
			case hidden < left:
				hidden++
				out = append(out, RowError{Line: r.line, Field: "email", Message: "can't be used for a new account (choose another address, or ask a system admin if the person already has an account)"})
			default:
				unnamed++
			}
		}
		if r.key == nil {
			continue
		}
		if k, ok := keys[r.key.fingerprint]; ok {
			switch {
			case mayKnow(k.OrganizationID):
				out = append(out, RowError{Line: r.line, Field: "ssh_key", Message: fmt.Sprintf("this key (%s) is already linked to an account", r.key.fingerprint)})
			case hidden < left:
				hidden++
				out = append(out, RowError{Line: r.line, Field: "ssh_key", Message: "this key can't be added (use another key, or ask a system admin if it should move from another account)"})
			default:
				unnamed++
			}
		}
	}
	if unnamed > 0 {
		out = append(out, RowError{Message: fmt.Sprintf("%d more %s an address or key that can't be used; %s named once your recent answers of that kind are older than %s",
			unnamed, plural.Word(unnamed, "row uses", "rows use"), plural.Word(unnamed, "it is", "they are"), waitText(uniquenessWindow))})
	}
	return out, hidden, nil
}

// checkMaxUsersFor enforces limits.max_users of an org for n new users at
// once. The count and the inserts share the caller's transaction, which
// PostgreSQL runs serializable: two lists for one org can't both fit.
func (s *Service) checkMaxUsersFor(ctx context.Context, q *store.Queries, o store.Org, n int) error {
	cfg, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return err
	}
	limit := cfg.EffectiveLimits().MaxUsers
	if limit == config.Unlimited {
		return nil
	}
	c, err := q.CountOrg(ctx, o.ID)
	if err != nil {
		return err
	}
	if int64(c.Users)+int64(n) <= limit {
		return nil
	}
	room := max(limit-int64(c.Users), 0)
	return &LimitError{Limit: "max_users", Message: fmt.Sprintf(
		"%s has %s and limits.max_users is %d: %d of these %d fit; import fewer, or ask an admin to raise limits.max_users",
		o.Slug, plural.N(c.Users, "user", "users"), limit, room, n)}
}
