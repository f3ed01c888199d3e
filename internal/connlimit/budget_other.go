//go:build !unix

package connlimit

// DescriptorBudget is the default total of client connections.
func DescriptorBudget() int { return fallbackBudget }
