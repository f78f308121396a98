package policy

import (
	"fmt"
	"strconv"
)

// Jitter selects how retry backoffs are randomised. Randomising keeps many
// clients that failed together from retrying together. The zero value is
// JitterFull, the recommended default.
type Jitter uint8

// Jitter modes. The JSON/text names are "full", "equal", "decorrelated" and
// "none". The formulas below use base = min(MaxBackoff,
// InitialBackoff*Multiplier^retry); the engine implements them.
const (
	// JitterFull waits a uniform random time in [0, base].
	JitterFull Jitter = iota
	// JitterEqual waits base/2 plus a uniform random time in [0, base/2].
	JitterEqual
	// JitterDecorrelated waits a uniform random time in
	// [InitialBackoff, previous wait*3], capped at MaxBackoff.
	JitterDecorrelated
	// JitterNone waits exactly base. Use only when a single client retries.
	JitterNone
)

var jitterNames = [...]string{
	JitterFull:         "full",
	JitterEqual:        "equal",
	JitterDecorrelated: "decorrelated",
	JitterNone:         "none",
}

// valid reports whether j is one of the defined modes.
func (j Jitter) valid() bool { return int(j) < len(jitterNames) }

// String returns the mode's name, or "Jitter(N)" for an undefined value.
func (j Jitter) String() string {
	if j.valid() {
		return jitterNames[j]
	}
	return "Jitter(" + strconv.Itoa(int(j)) + ")"
}

// MarshalText implements encoding.TextMarshaler. Undefined values are an
// error rather than a number nobody could read back.
func (j Jitter) MarshalText() ([]byte, error) {
	if !j.valid() {
		return nil, fmt.Errorf("%w: jitter: undefined value %d", ErrInvalidPolicy, uint8(j))
	}
	return []byte(jitterNames[j]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Names are matched
// exactly (lower case); anything else is an error that lists the choices.
func (j *Jitter) UnmarshalText(text []byte) error {
	v, ok := parseJitter(string(text))
	if !ok {
		return fmt.Errorf("%w: jitter: %s", ErrInvalidPolicy, jitterChoices(string(text)))
	}
	*j = v
	return nil
}

func parseJitter(s string) (Jitter, bool) {
	for i, name := range jitterNames {
		if s == name {
			return Jitter(i), true
		}
	}
	return 0, false
}

func jitterChoices(got string) string {
	return `unknown mode ` + quoteShort(got) + ` (want "full", "equal", "decorrelated" or "none")`
}
