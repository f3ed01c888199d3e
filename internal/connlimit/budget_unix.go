//go:build unix

package connlimit

import "syscall"

// DescriptorBudget is the default total of client connections: what the
// descriptor limit (RLIMIT_NOFILE) leaves after a reserve for the
// database, key files and listeners, halved, since each client connection
// may need a second descriptor of its own (a completion's call to its
// provider or knowledge base). At most maxDefaultBudget.
func DescriptorBudget() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return fallbackBudget
	}
	return budgetFor(r.Cur)
}
