package service

import "lamb/config"

// Credentials the platform hands an org ("copy system providers") are the
// org's to use, not to read. Attack: the copy gave a new org's admins the
// platform's provider key in clear (org config get --with-secrets), and an
// admin who pointed base_url at their own server would have received it
// with the next request. So the copy marks them config.SourceSystem; org
// admins see them masked, and a platform credential only ever goes to the
// URL it came with.

// markPlatformCredentials marks every credential of c that holds a secret
// as the platform's, for an org that gets a copy of the system org's setups.
func markPlatformCredentials(c *config.Org) {
	for _, cr := range c.Credentials() {
		if cr.HasSecret() {
			*cr.Source = config.SourceSystem
		}
	}
}

// hidePlatformCredentials masks the platform's credentials of c for an
// actor who may not read them: they are shown as when secrets aren't asked
// for, and writing them back keeps them (keepMaskedSecrets).
func hidePlatformCredentials(a Actor, c *config.Org) {
	if seesAllOrgs(a) {
		return
	}
	for _, cr := range c.Credentials() {
		if *cr.Source == config.SourceSystem {
			*cr.Secret = config.Mask(*cr.Secret)
			*cr.URL = config.MaskURL(*cr.URL)
		}
	}
}

// guardPlatformCredentials is the rule for a config change (next, secrets
// already restored from cur): a credential that is the platform's stays
// marked as such wherever it is (a setup copied with it, say), and only an
// actor who sees all orgs may send it to another URL than the one it came
// with. Every other credential is the org's own: the mark can't be put on
// it, and setting an own key in place of the platform's removes the mark.
func guardPlatformCredentials(a Actor, cur, next *config.Org) error {
	type pair struct{ secret, url string }
	held := map[pair]bool{}
	heldSecrets, heldURLs := map[string]bool{}, map[string]bool{}
	for _, cr := range cur.Credentials() {
		if *cr.Source != config.SourceSystem {
			continue
		}
		held[pair{*cr.Secret, *cr.URL}] = true
		if *cr.Secret != "" {
			heldSecrets[*cr.Secret] = true
		}
		if config.URLIsSecret(*cr.URL) {
			heldURLs[*cr.URL] = true
		}
	}
	for _, cr := range next.Credentials() {
		platform := held[pair{*cr.Secret, *cr.URL}] || heldSecrets[*cr.Secret] || heldURLs[*cr.URL]
		if !platform || !cr.HasSecret() {
			*cr.Source = ""
			continue
		}
		*cr.Source = config.SourceSystem
		if !held[pair{*cr.Secret, *cr.URL}] && heldSecrets[*cr.Secret] && !seesAllOrgs(a) {
			return invalid(cr.URLPath, "the key here is the platform's and is only sent to the URL it came with; "+
				"to use another URL, set your own key in the same change (or clear the key)")
		}
	}
	return nil
}
