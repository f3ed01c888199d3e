package member

// Modal is true while a deletion is being confirmed.
func (m *Assistants) Modal() bool { return m.mode == asstConfirmDelete }
