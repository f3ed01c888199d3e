package plural

import "testing"

func TestN(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 users"}, {1, "1 user"}, {2, "2 users"}} {
		if got := N(c.n, "user", "users"); got != c.want {
			t.Errorf("N(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestWord(t *testing.T) {
	if got := Word(1, "has", "have"); got != "has" {
		t.Errorf("Word(1) = %q", got)
	}
	if got := Word(3, "has", "have"); got != "have" {
		t.Errorf("Word(3) = %q", got)
	}
}
