package service

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// UsageRanges are the named ranges of days the usage screens switch
// between, in their order; UsageRange reads them (and "Nd" for any N).
var UsageRanges = []string{"7d", "30d", "90d", "month", "last-month"}

// maxUsageDays bounds the days of one report: a chart of every day, or a
// report by day, stays a size that a terminal and a script can take.
const maxUsageDays = 3660

// UsageRangeLabel names a range for people: "last 7 days", "this month".
func UsageRangeLabel(name string) string {
	switch name {
	case "month":
		return "this month"
	case "last-month":
		return "last month"
	}
	if n, ok := rangeDays(name); ok {
		if n == 1 {
			return "today"
		}
		return fmt.Sprintf("last %d days", n)
	}
	return name
}

// UsageRange is the first and last day (UTC, inclusive) of a named range
// at now: "7d" is the 7 days ending today, "month" this calendar month so
// far, "last-month" the calendar month before it. Months are calendar
// months in UTC, as budgets count them.
func UsageRange(name string, now time.Time) (from, to time.Time, err error) {
	today := now.UTC().Truncate(24 * time.Hour)
	switch name = strings.TrimSpace(name); name {
	case "month":
		return monthStart(now), today, nil
	case "last-month":
		this := monthStart(now)
		return this.AddDate(0, -1, 0), this.AddDate(0, 0, -1), nil
	}
	n, ok := rangeDays(name)
	if !ok {
		return time.Time{}, time.Time{}, invalid("since", "want 7d, 30d, 90d (any number of days up to %d), month or last-month, got %q",
			maxUsageDays, name)
	}
	return today.AddDate(0, 0, 1-n), today, nil
}

// rangeDays reads "Nd".
func rangeDays(name string) (int, bool) {
	s, ok := strings.CutSuffix(name, "d")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxUsageDays {
		return 0, false
	}
	return n, true
}
