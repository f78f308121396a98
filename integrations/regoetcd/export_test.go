package regoetcd

// Test hooks. They set unexported config fields that are nil in production.

// withAfterGet runs f in the provider's goroutine after each successful Get,
// before the Watch starts: where a compaction would strike.
func withAfterGet(f func()) Option {
	return optionFunc(func(c *config) error { c.afterGet = f; return nil })
}

// withAfterEvent runs f in the provider's goroutine after anything that may
// change Current or Status, so tests wait on a signal instead of sleeping.
func withAfterEvent(f func()) Option {
	return optionFunc(func(c *config) error { c.afterEvent = f; return nil })
}
