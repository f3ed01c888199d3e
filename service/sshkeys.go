package service

import (
	"strings"

	"golang.org/x/crypto/ssh"
)

// parsedKey is an SSH public key checked and normalized for storage.
type parsedKey struct {
	key         ssh.PublicKey
	line        string // authorized-key line without options or comment
	fingerprint string // SHA256:…
	comment     string
}

// parseSSHKey accepts one authorized-key line ("ssh-ed25519 AAAA… comment").
func parseSSHKey(field, line string) (parsedKey, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return parsedKey{}, invalid(field, "is empty; paste a public key line such as \"ssh-ed25519 AAAA… you@laptop\"")
	}
	if strings.Contains(line, "PRIVATE KEY") {
		return parsedKey{}, invalid(field, "this is a private key; paste the public key (the .pub file) instead")
	}
	k, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return parsedKey{}, invalid(field, "not an SSH public key; paste one line of a .pub file such as \"ssh-ed25519 AAAA… you@laptop\"")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return parsedKey{}, invalid(field, "holds more than one key; add them one at a time")
	}
	return parsedKey{
		key:         k,
		line:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))),
		fingerprint: ssh.FingerprintSHA256(k),
		comment:     comment,
	}, nil
}
