package policy_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/regoresilience/rego/policy"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Key
		str  string
	}{
		{"svc.Method", policy.Key{Namespace: "svc", Name: "Method"}, "svc.Method"},
		{"db.Users.Query", policy.Key{Namespace: "db", Name: "Users.Query"}, "db.Users.Query"},
		{"svc", policy.Key{Namespace: "svc"}, "svc"},
		{"", policy.Key{}, ""},
		{".", policy.Key{}, ""},
		{"svc.", policy.Key{Namespace: "svc"}, "svc"},
		{".Method", policy.Key{Name: "Method"}, ".Method"},
		{"a..b", policy.Key{Namespace: "a", Name: ".b"}, "a..b"},
		{"ns.*", policy.Key{Namespace: "ns", Name: "*"}, "ns.*"},
		{"\xff.\x00", policy.Key{Namespace: "\xff", Name: "\x00"}, "\xff.\x00"},
	}
	for _, tt := range tests {
		got := policy.ParseKey(tt.in)
		if got != tt.want {
			t.Errorf("ParseKey(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParseKey(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
		if again := policy.ParseKey(got.String()); again != got {
			t.Errorf("ParseKey(%q) does not round-trip: %#v then %#v", tt.in, got, again)
		}
	}
}

func TestKeyIsZero(t *testing.T) {
	if !(policy.Key{}).IsZero() {
		t.Error("Key{}.IsZero() = false")
	}
	for _, k := range []policy.Key{{Namespace: "a"}, {Name: "b"}} {
		if k.IsZero() {
			t.Errorf("%#v.IsZero() = true", k)
		}
	}
}

// TestKeyValidate verifies which keys are accepted, which are merely invalid
// and which are flagged as high-cardinality.
func TestKeyValidate(t *testing.T) {
	const (
		ok       = iota
		invalid  // ErrInvalidKey only
		highCard // ErrInvalidKey and ErrHighCardinalityKey
	)
	tests := []struct {
		key    policy.Key
		want   int
		reason string // substring of KeyError.Reason
	}{
		{policy.ParseKey("users.GetUser"), ok, ""},
		{policy.ParseKey("db.Users.Query"), ok, ""},
		{policy.ParseKey("user-service.get_user_v2"), ok, ""},
		{policy.ParseKey("billing.Charge2024"), ok, ""},
		{policy.ParseKey("svc.Op12345"), ok, ""},                               // 5 digits: fine
		{policy.ParseKey("cache.deadbeefcafe1"), ok, ""},                       // 13 hex chars: fine
		{policy.ParseKey("svc.abcdefabcdefabcdef"), ok, ""},                    // long hex run without a digit: a word
		{policy.ParseKey("kafka.orders.v1.created"), ok, ""},                   // dots in the name
		{policy.ParseKey("café.Commander"), ok, ""},                            // non-ASCII letters
		{policy.Key{Namespace: "svc", Name: strings.Repeat("a", 124)}, ok, ""}, // exactly 128 bytes

		{policy.Key{}, invalid, "empty namespace"},
		{policy.ParseKey("svc"), invalid, "empty name"},
		{policy.ParseKey("svc."), invalid, "empty name"},
		{policy.ParseKey(".Op"), invalid, "empty namespace"},
		{policy.Key{Namespace: "a.b", Name: "c"}, invalid, "namespace contains '.'"},

		{policy.Key{Namespace: "svc", Name: strings.Repeat("a", 125)}, highCard, "longer than 128"},
		{policy.ParseKey("http.GET /users"), highCard, "whitespace"},
		{policy.ParseKey("svc.Op\t"), highCard, "whitespace"},
		{policy.ParseKey("svc.a\u00a0b"), highCard, "whitespace"},
		{policy.ParseKey("users.Get/42"), highCard, "'/'"},
		{policy.ParseKey(`fs.C:\tmp`), highCard, "':'"},
		{policy.ParseKey(`fs.a\b`), highCard, `'\\'`},
		{policy.ParseKey("api.search?q"), highCard, "'?'"},
		{policy.ParseKey("api.id=7"), highCard, "'='"},
		{policy.ParseKey("db.host:5432"), highCard, "':'"},
		{policy.ParseKey("svc.*"), highCard, "'*'"},
		{policy.ParseKey("api.a&b"), highCard, "'&'"},
		{policy.ParseKey("web.page#top"), highCard, "'#'"},
		{policy.ParseKey("mail.bob@example"), highCard, "'@'"},
		{policy.ParseKey("api.a%20b"), highCard, "'%'"},
		{policy.ParseKey("api.a,b"), highCard, "','"},
		{policy.ParseKey("api.a;b"), highCard, "';'"},
		{policy.ParseKey("orders.Get123456"), highCard, "6+ digits"},
		{policy.ParseKey("1700000000.Get"), highCard, "6+ digits"},
		{policy.ParseKey("trace.a3f9c2e1b7d4e8f0"), highCard, "16+ hex"},
		{policy.ParseKey("obj.550e8400-e29b-41d4-a716-446655440000"), highCard, "digits"},
		{policy.ParseKey("obj.abcdefab-cdef-abcd-efab-cdefabcdefab"), highCard, "UUID"},
		{policy.ParseKey("svc.a\x00b"), highCard, "non-printable"},
		{policy.ParseKey("svc.a\u200bb"), highCard, "non-printable"}, // zero-width space
		{policy.ParseKey("svc.\xff"), highCard, "invalid UTF-8"},
		{policy.ParseKey("svc.\ufffd"), highCard, "U+FFFD"},
	}
	for _, tt := range tests {
		err := tt.key.Validate()
		if tt.want == ok {
			if err != nil {
				t.Errorf("%#v.Validate() = %v, want nil", tt.key, err)
			}
			continue
		}
		var ke *policy.KeyError
		if !errors.As(err, &ke) {
			t.Errorf("%#v.Validate() = %v, want a *KeyError", tt.key, err)
			continue
		}
		if !errors.Is(err, policy.ErrInvalidKey) {
			t.Errorf("%#v.Validate(): errors.Is(ErrInvalidKey) = false", tt.key)
		}
		if got := errors.Is(err, policy.ErrHighCardinalityKey); got != (tt.want == highCard) {
			t.Errorf("%#v.Validate() = %v: errors.Is(ErrHighCardinalityKey) = %v, want %v",
				tt.key, err, got, tt.want == highCard)
		}
		if !strings.Contains(ke.Reason, tt.reason) {
			t.Errorf("%#v.Validate() reason = %q, want it to contain %q", tt.key, ke.Reason, tt.reason)
		}
		if ke.Key != tt.key.String() {
			t.Errorf("KeyError.Key = %q, want %q", ke.Key, tt.key.String())
		}
	}
}

func TestKeyErrorMessage(t *testing.T) {
	err := policy.ParseKey("svc").Validate()
	want := `policy: invalid key "svc": empty name (want "namespace.Name")`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	// Huge keys are elided in the message but kept whole in the error.
	long := "svc." + strings.Repeat("x", 10_000)
	err = policy.ParseKey(long).Validate()
	var ke *policy.KeyError
	if !errors.As(err, &ke) || ke.Key != long {
		t.Fatalf("got %v, want a *KeyError holding the whole key", err)
	}
	if n := len(err.Error()); n > 300 {
		t.Errorf("message is %d bytes, want it bounded: %s", n, err)
	}
}

func TestKeyValidateDoesNotAllocate(t *testing.T) {
	k := policy.ParseKey("users.GetUserProfileV2")
	if n := testing.AllocsPerRun(100, func() { _ = k.Validate() }); n != 0 {
		t.Errorf("Validate of a good key: %v allocs, want 0", n)
	}
}

// referenceHighCard is the high-cardinality rule written the slow, obvious
// way, to check the table-driven scanner in Key.Validate against.
func referenceHighCard(k policy.Key) bool {
	s := k.String()
	if len(s) > policy.MaxKeyLength || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) || strings.ContainsRune(`/\?=:*&#@%,;`, r) {
			return true
		}
	}
	for _, run := range hexRun.FindAllString(s, -1) {
		if len(run) >= 16 && strings.ContainsAny(run, "0123456789") {
			return true
		}
	}
	return digitRun.MatchString(s) || uuid.MatchString(s)
}

var (
	hexRun   = regexp.MustCompile(`[0-9a-fA-F]+`)
	digitRun = regexp.MustCompile(`[0-9]{6}`)
	uuid     = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
)

// TestKeyValidateAgainstReference compares Key.Validate with
// referenceHighCard on random keys built from streaks of digits, hex
// letters, ordinary letters and troublesome characters.
func TestKeyValidateAgainstReference(t *testing.T) {
	r := newRand(5)
	good := []string{"0123456789", "abcdefABCDEF0123456789", "ghxyzGHXYZ_", "-"}
	bad := []string{"é\u00a0\u200b\ufffd", "/?:*& \t\x00\x7f.", "\xff"}
	part := func() string {
		var b strings.Builder
		for range 1 + r.IntN(5) {
			alpha := good[r.IntN(len(good))]
			if r.IntN(25) == 0 {
				alpha = bad[r.IntN(len(bad))]
			}
			for range 1 + r.IntN(8) {
				if alpha == bad[0] {
					rs := []rune(alpha)
					b.WriteRune(rs[r.IntN(len(rs))])
				} else {
					b.WriteByte(alpha[r.IntN(len(alpha))])
				}
			}
		}
		return b.String()
	}
	valid := 0
	for i := range 20_000 {
		k := policy.Key{Namespace: strings.ReplaceAll(part(), ".", ""), Name: part()}
		if k.Namespace == "" {
			continue
		}
		err := k.Validate()
		if err == nil {
			valid++
		}
		if got, want := errors.Is(err, policy.ErrHighCardinalityKey), referenceHighCard(k); got != want {
			t.Fatalf("#%d %q: Validate() = %v; reference says high-cardinality = %v", i, k.String(), err, want)
		}
		if err != nil && !errors.Is(err, policy.ErrHighCardinalityKey) {
			t.Fatalf("#%d %q: unexpected structural error %v", i, k.String(), err)
		}
	}
	t.Logf("%d of 20000 keys valid", valid)
	if valid < 1000 || valid > 19_000 {
		t.Errorf("%d of 20000 keys valid; the generator no longer exercises both sides", valid)
	}
}
