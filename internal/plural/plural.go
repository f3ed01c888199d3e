// Package plural writes counts people read: "1 user", "2 users".
package plural

import "strconv"

// N is n followed by one or many, as n asks.
func N(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Word is one or many, as n asks, without the count: "this email has",
// "these emails have".
func Word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
