package service

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"

	"lamb/config"
	"lamb/secret"
)

// A database written before the key check existed is checked against the
// secrets it holds: another key is refused, its own key passes and the
// check is stored from then on.
func TestSecretKeyCheckOfADatabaseWithoutOne(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	k := "sk-sealed-0123456789"
	mustSync(t, e, config.System{OpenAIAPIKey: &k})
	if err := e.st.DeleteSetting(ctx, keyCheckSetting); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, secret.KeySize)
	rand.Read(other)
	box, _ := secret.NewBox(other)
	wrong := New(Deps{Store: e.st, Box: box, Logger: slog.New(slog.DiscardHandler)})
	defer wrong.Close()
	if err := wrong.CheckSecretKey(ctx); !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("another key: %v, want ErrWrongSecretKey", err)
	}
	if _, err := e.st.Setting(ctx, keyCheckSetting); err == nil {
		t.Fatal("a check was stored with the wrong key")
	}
	if err := e.svc.CheckSecretKey(ctx); err != nil {
		t.Fatalf("its own key: %v", err)
	}
	if _, err := e.st.Setting(ctx, keyCheckSetting); err != nil {
		t.Fatalf("no check stored: %v", err)
	}
	if err := wrong.CheckSecretKey(ctx); !errors.Is(err, ErrWrongSecretKey) {
		t.Fatalf("another key against the stored check: %v", err)
	}
}
