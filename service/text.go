package service

import "lamb/internal/safetext"

// checkText refuses one line of text that a terminal would act on (an
// escape sequence, a C1 control, a bidi override): every text a person or
// a peer stores passes here, because admins' consoles draw it later.
func checkText(field, s string) error {
	if err := safetext.Check(s); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

// checkLines is checkText for text of several lines (a system prompt),
// which may also hold line breaks and tabs.
func checkLines(field, s string) error {
	if err := safetext.CheckLines(s); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}
