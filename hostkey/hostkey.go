// Package hostkey reads, checks and makes SSH host keys: the private key
// the SSH server proves itself with, as an OpenSSH private key file.
package hostkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// makeHint is how an operator makes a key lamb can use.
const makeHint = `ssh-keygen -t ed25519 -N "" -f FILE`

// Generate returns a new Ed25519 host key in OpenSSH's private key format.
func Generate() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("encode host key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// Parse checks that key is an unencrypted SSH private key and returns its
// signer. Errors say what is wrong with it and how to make a good one.
func Parse(key []byte) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(key)
	if err == nil {
		return signer, nil
	}
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, errors.New(`is protected by a passphrase, which a server can't type: remove it with ssh-keygen -p -N "" -f FILE`)
	case isPublicKey(key):
		return nil, errors.New("holds a public key: give the private key (the file without .pub)")
	}
	return nil, fmt.Errorf("is not an SSH private key (%v); make one with %s", err, makeHint)
}

func isPublicKey(key []byte) bool {
	_, _, _, _, err := ssh.ParseAuthorizedKey(key)
	return err == nil
}

// Fingerprint is the SHA256 fingerprint of key's public half, as ssh
// shows it when it first meets a server ("SHA256:…"), or "" when key
// doesn't parse.
func Fingerprint(key []byte) string {
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(signer.PublicKey())
}

// Load reads the private key file at path and checks it. Errors name the
// path and say what to do.
func Load(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s does not exist: give the path of an SSH private key file (make one with %s)", path, makeHint)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s can't be read by lamb's user: let it read the file (and no one else)", path)
	case err != nil:
		return nil, fmt.Errorf("%s can't be read: %v", path, unwrapPath(err))
	}
	if _, err := Parse(key); err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return key, nil
}

// unwrapPath drops the path os puts in front of its errors, which the
// caller's message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadOrCreate reads the key file at path, making it (mode 0600, with its
// public key beside it in path.pub) when there is none, and reports
// whether it made it.
func LoadOrCreate(path string) (key []byte, created bool, err error) {
	key, err = Load(path)
	if err == nil {
		return key, false, nil
	}
	if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
		return nil, false, err
	}
	if key, err = Generate(); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	// Written aside, then linked into place: the file appears whole or
	// not at all, and a key another process put there first is kept.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".host-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("create host key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("write host key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		key, err := Load(path)
		return key, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("create host key %s: %w", path, err)
	}
	signer, _ := ssh.ParsePrivateKey(key)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + "\n"
	if err := os.WriteFile(path+".pub", []byte(pub), 0o644); err != nil {
		return nil, false, fmt.Errorf("write %s.pub: %w", path, err)
	}
	return key, true, nil
}
