package observe

// White-box hooks for the external tests.
var (
	FmtDur  = fmtDur
	OneLine = oneLine
)
