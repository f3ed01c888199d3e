package service

import (
	"context"
	"errors"
	"testing"

	"lamb/config"
)

func TestExportImportPermissions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	org, err := e.st.CreateOrg(ctx, storeOrg("acme"))
	if err != nil {
		t.Fatal(err)
	}
	root := Actor{Role: RoleSystemAdmin, Email: "root@lamb.local"}
	ex, err := e.svc.ExportOrg(ctx, root, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Actor{{}, {Role: RoleOrgAdmin, OrgID: org.ID, OrgSlug: "acme", UserID: 1}, {Role: RoleMember, OrgID: org.ID},
		{Role: RoleAPIKey, OrgID: org.ID}, SystemActor()} {
		if _, err := e.svc.ExportOrg(ctx, a, "acme", false); !errors.Is(err, ErrForbidden) {
			t.Errorf("%v export: %v", a.Role, err)
		}
		ex.Organization.Slug = "copy"
		if _, err := e.svc.ImportOrg(ctx, a, ex, ImportOptions{}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%v import: %v", a.Role, err)
		}
	}
	// The system org can't be imported over, and a bad document names its field.
	ex.Organization.Slug = SystemSlug
	if _, err := e.svc.ImportOrg(ctx, root, ex, ImportOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("import as lamb: %v", err)
	}
	ex.Organization.Slug = "copy"
	ex.Users = []ExportUser{{Email: "x@copy.example", Name: "X", Role: "owner"}}
	if _, err := e.svc.ImportOrg(ctx, root, ex, ImportOptions{}); FieldOf(err) != "users[0].role" {
		t.Errorf("bad role: %v", err)
	}
	if _, err := e.st.OrgBySlug(ctx, "copy"); err == nil {
		t.Error("a failed import left the org behind")
	}
}

// FieldOf is the field an InvalidError names.
func FieldOf(err error) string {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Field
	}
	return ""
}
