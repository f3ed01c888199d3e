// Package testtool finds the programs some tests drive (Chromium, OpenSSH).
// On a laptop without them such a test skips and says what to install; in
// CI (.ci/run sets LAMB_REQUIRE_TEST_TOOLS=1) a missing program fails the
// test, so a regression test can never pass by not running.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of each named program, or ends the test: a
// failure in CI, a skip elsewhere. install says how to get them.
func Require(t testing.TB, install string, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, name := range names {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("LAMB_REQUIRE_TEST_TOOLS") != "" {
				t.Fatalf("%s is not installed and this run requires it: %s", name, install)
			}
			t.Skipf("%s is not installed; %s to run this test", name, install)
		}
		paths[i] = p
	}
	return paths
}
