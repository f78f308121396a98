package controlplane

// Test hooks. They set unexported config fields that are nil in production.

// withAfterRead runs f between reading the file and the stat that checks the
// read was stable: the place where a concurrent writer would strike.
func withAfterRead(f func()) FileOption {
	return fileOption(func(c *fileConfig) error { c.afterRead = f; return nil })
}

// withAfterCycle runs f after each load of the background goroutine.
func withAfterCycle(f func(error)) Option {
	return commonOption(func(c *commonConfig) error { c.afterCycle = f; return nil })
}

// withRand replaces the jitter source.
func withRand(f func() float64) RemoteOption {
	return remoteOption(func(c *remoteConfig) error { c.rand = f; return nil })
}
