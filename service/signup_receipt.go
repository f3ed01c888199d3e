package service

import (
	"context"
	"crypto/hmac"
	"errors"
	"strconv"
	"strings"
	"time"

	"lamb/store"
)

// SignupReceiptTTL is how long the page after a signup can be shown again
// (reloaded, or opened from the browser's history).
const SignupReceiptTTL = time.Hour

// SignupReceipt is a token that shows the result of a signup again: the
// signup form answers with a redirect to a result page, so that reloading
// it doesn't post the form a second time ("already exists"). It names the
// account, expires after SignupReceiptTTL and is signed with the server's
// key, so it can't be made up for another account.
func (s *Service) SignupReceipt(res SignupResult, keyAdded bool) string {
	k := "0"
	if keyAdded {
		k = "1"
	}
	body := strconv.FormatInt(res.ID, 10) + "." + strconv.FormatInt(s.now().Add(SignupReceiptTTL).Unix(), 10) + "." + k
	return body + "." + s.receiptMAC(body)
}

// SignupByReceipt returns the account a receipt names and whether it was
// signed up with an SSH key. A receipt that was altered or expired, or whose
// account is gone, is ErrNotFound.
func (s *Service) SignupByReceipt(ctx context.Context, receipt string) (SignupResult, bool, error) {
	gone := notFound("signup receipt")
	parts := strings.Split(receipt, ".")
	if len(parts) != 4 {
		return SignupResult{}, false, gone
	}
	body := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(s.receiptMAC(body))) {
		return SignupResult{}, false, gone
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || !s.now().Before(time.Unix(exp, 0)) {
		return SignupResult{}, false, gone
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return SignupResult{}, false, gone
	} else if err != nil {
		return SignupResult{}, false, err
	}
	o, err := s.st.OrgByID(ctx, u.OrganizationID)
	if err != nil {
		return SignupResult{}, false, storeErr(err, "organization")
	}
	return SignupResult{ID: u.ID, Email: u.Email, Name: u.Name, OrgSlug: o.Slug, OrgName: o.Name, Role: u.Role}, parts[2] == "1", nil
}

// receiptMAC signs a receipt's body. The prefix keeps these hashes apart
// from the signup keys' (whose characters exclude ':').
func (s *Service) receiptMAC(body string) string {
	return s.box.Hash("signup-receipt:" + body)[:32]
}
