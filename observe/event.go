package observe

import (
	"strconv"
	"time"
)

// EventKind says what an [Event] records. The zero value is not a valid kind.
type EventKind uint8

const (
	// EventBudgetDenied: a retry or hedge was refused by a budget
	// (Name = the budget's name).
	EventBudgetDenied EventKind = iota + 1
	// EventFallback: a missing or invalid component was replaced by its
	// fallback (Name = "classifier", "budget", "policy" or "key"; Detail says
	// what was wrong).
	EventFallback
	// EventDeadlineSkip: a retry was not started because its backoff would
	// end past the call's deadline (Duration = that backoff).
	EventDeadlineSkip
	// EventPushback: the server asked to wait (Duration = the wait applied,
	// after capping).
	EventPushback
	// EventHedgeFired: a hedge attempt was started (Attempt = its index).
	EventHedgeFired
	// EventPanic: the operation panicked; the panic is re-raised after the
	// observers ran (Detail = the panic value).
	EventPanic
	// EventBreakerOpen: the key's circuit breaker refused the call, or a
	// retry or hedge of it (Name = "breaker"; Detail says which and the
	// breaker's state).
	EventBreakerOpen
)

// String returns the kind's stable snake_case name: "budget_denied",
// "fallback", "deadline_skip", "pushback", "hedge_fired", "panic",
// "breaker_open" ("event(N)" for unknown values).
func (k EventKind) String() string {
	switch k {
	case EventBudgetDenied:
		return "budget_denied"
	case EventFallback:
		return "fallback"
	case EventDeadlineSkip:
		return "deadline_skip"
	case EventPushback:
		return "pushback"
	case EventHedgeFired:
		return "hedge_fired"
	case EventPanic:
		return "panic"
	case EventBreakerOpen:
		return "breaker_open"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is something notable that happened during a call besides the
// attempts themselves. Which fields are set depends on Kind.
type Event struct {
	Kind     EventKind     // what happened
	At       time.Time     // when it happened (engine clock)
	Attempt  int           // index of the attempt it concerns, -1 if none
	Name     string        // the component concerned (a budget name, "classifier", ...)
	Detail   string        // free text for humans; not for matching
	Duration time.Duration // a wait it concerns (pushback, skipped backoff); 0 if none
}
