package connlimit

const (
	// reserve is the descriptors kept for what isn't a client connection.
	reserve = 256
	// maxDefaultBudget bounds the default where descriptors are plenty:
	// past it, memory for idle connections is the limit.
	maxDefaultBudget = 16384
	// fallbackBudget is the default where the limit can't be read.
	fallbackBudget = 1024
)

// budgetFor is DescriptorBudget for a descriptor limit of limit.
func budgetFor(limit uint64) int {
	if limit > maxDefaultBudget*2+reserve {
		return maxDefaultBudget
	}
	return max(32, (int(limit)-reserve)/2)
}
