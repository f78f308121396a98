package controlplane

import "time"

// Backoff is the retry schedule WithBackoff configures for NewRemote, for
// providers built on a [Publisher] that retry their own transport (an etcd
// watch, a message bus) and should back off the same way. It is a value with
// no state: the provider owns its failure count and its random source.
type Backoff struct {
	Initial time.Duration // the wait after the first failure of a streak
	Max     time.Duration // the longest wait, however long the streak
}

// Validate reports an error wrapping ErrInvalidOption unless
// 0 < Initial <= Max.
func (b Backoff) Validate() error {
	if err := positive("backoff initial", b.Initial); err != nil {
		return err
	}
	if b.Max < b.Initial {
		return invalidOption("backoff max %v must be >= initial %v", b.Max, b.Initial)
	}
	return nil
}

// Delay returns the wait after the failures-th consecutive failure (counting
// from 1): Initial·2^(failures-1) capped at Max, with equal jitter, uniform in
// [d/2, d] as u goes over [0,1). Pass a fresh random u per call (rand.Float64);
// jitter keeps a fleet that failed together from retrying in lockstep. Delay
// never overflows, whatever failures and Max are.
func (b Backoff) Delay(failures int, u float64) time.Duration {
	d := b.Initial
	for i := 1; i < failures && d < b.Max; i++ {
		if d > b.Max/2 {
			d = b.Max
			break
		}
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(u*float64(d-d/2))
}
