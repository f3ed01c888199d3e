package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"lamb/hostkey"
	"lamb/store"
)

// Behind a load balancer a person's SSH client meets whichever instance
// it is sent to. Each must prove itself with the same host key, or the
// client warns of a man in the middle (and refuses, with strict checking)
// every time it lands on another one.

// hostKeySetting holds the shared host key, sealed with the secret key.
const hostKeySetting = "ssh_host_key"

// HostKeySources say where the SSH host key may come from, first match
// wins: Configured (LAMB_SSH_HOST_KEY); with a database several instances
// share, the key stored in it; else the key file in the data directory.
type HostKeySources struct {
	// Configured is the key of LAMB_SSH_HOST_KEY, read and checked by
	// config; nil when unset.
	Configured []byte
	// File is the key file of the data directory. With SQLite it is the
	// host key, made on the first start. With a shared database it is
	// only the key a database without one adopts: the instance that ran
	// alone before keeps the key its users know.
	File string
}

// HostKey is the SSH server's private key and where it came from.
type HostKey struct {
	PEM         []byte // OpenSSH private key
	From        string // "LAMB_SSH_HOST_KEY", "database", or the file's path
	Fingerprint string // SHA256:…, as clients show it
	Created     bool   // made by this call
}

// SSHHostKey returns the host key the SSH server presents, by the rule of
// HostKeySources. In a shared database the first instance to start stores
// its key (insert-if-absent) and every instance, that one included, uses
// what the database holds afterwards, so instances starting at the same
// moment agree.
func (s *Service) SSHHostKey(ctx context.Context, src HostKeySources) (HostKey, error) {
	switch {
	case src.Configured != nil:
		return newHostKey(src.Configured, "LAMB_SSH_HOST_KEY", false), nil
	case !s.st.Shared():
		key, created, err := hostkey.LoadOrCreate(src.File)
		if err != nil {
			return HostKey{}, fmt.Errorf("ssh host key: %w", err)
		}
		return newHostKey(key, src.File, created), nil
	}
	sealed, err := s.st.Setting(ctx, hostKeySetting)
	if err == nil {
		return s.openHostKey(sealed, src.File, false)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return HostKey{}, fmt.Errorf("read the ssh host key: %w", err)
	}
	key, err := s.adoptableHostKey(src.File)
	if err != nil {
		return HostKey{}, err
	}
	mine, err := s.box.Seal(string(key))
	if err != nil {
		return HostKey{}, fmt.Errorf("seal the ssh host key: %w", err)
	}
	held, err := s.st.SettingOrAdd(ctx, hostKeySetting, mine)
	if err != nil {
		return HostKey{}, fmt.Errorf("store the ssh host key: %w", err)
	}
	return s.openHostKey(held, src.File, held == mine)
}

// adoptableHostKey is the key a shared database without one is offered:
// the data directory's key file when there is one, else a new key.
func (s *Service) adoptableHostKey(file string) ([]byte, error) {
	if file != "" {
		key, err := hostkey.Load(file)
		if err == nil {
			return key, nil
		}
		if _, serr := os.Stat(file); !errors.Is(serr, fs.ErrNotExist) {
			// A key file that is there but unusable is a mistake to fix,
			// not a reason to give every instance another key.
			return nil, fmt.Errorf("ssh host key: %w; fix or remove it, or set LAMB_SSH_HOST_KEY", err)
		}
	}
	return hostkey.Generate()
}

// openHostKey opens the host key sealed in the database.
func (s *Service) openHostKey(sealed, file string, created bool) (HostKey, error) {
	plain, err := s.box.Open(sealed)
	if err != nil {
		return HostKey{}, fmt.Errorf("open the ssh host key stored in the database: %w; start lamb with the LAMB_SECRET_KEY the other instances use", err)
	}
	key := []byte(plain)
	if _, err := hostkey.Parse(key); err != nil {
		return HostKey{}, fmt.Errorf("the ssh host key stored in the database %w; set LAMB_SSH_HOST_KEY to a key file to use instead", err)
	}
	if !created && file != "" {
		if own, err := os.ReadFile(file); err == nil && hostkey.Fingerprint(own) != hostkey.Fingerprint(key) {
			s.log.Warn("the data directory's ssh host key is not the one the instances of this database share; the shared one is used",
				"file", file, "file_fingerprint", hostkey.Fingerprint(own), "shared_fingerprint", hostkey.Fingerprint(key))
		}
	}
	return newHostKey(key, "database", created), nil
}

func newHostKey(key []byte, from string, created bool) HostKey {
	return HostKey{PEM: key, From: from, Fingerprint: hostkey.Fingerprint(key), Created: created}
}
