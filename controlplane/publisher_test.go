package controlplane

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/regoresilience/rego/policy"
)

func newTestPublisher(t *testing.T, opts ...PublisherOption) *Publisher {
	t.Helper()
	p, err := NewPublisher("test-origin", append([]PublisherOption{WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	return p
}

// TestPublisherKeepsLastGood verifies that a Publisher publishes valid
// documents as strictly increasing versions, rejects an invalid one whole
// (keeping the snapshot in force and recording the error), and does not make a
// new version of an identical document.
func TestPublisherKeepsLastGood(t *testing.T) {
	p := newTestPublisher(t)
	inForce(t, provided{p}, 0, 0, SourceFallback)

	snap, err := p.Publish([]byte(docV2), SourceRemote, 0)
	if err != nil {
		t.Fatalf("Publish(docV2): %v", err)
	}
	if snap != p.Current() {
		t.Error("Publish did not return the snapshot in force")
	}
	inForce(t, provided{p}, 2, 1, SourceRemote)

	snap, err = p.Publish([]byte(docInvalid), SourceRemote, 0)
	le := wantLoadError(t, err, "test-origin", "max_attempts")
	if le.Origin != "test-origin" || !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Errorf("err = %#v, want Origin test-origin matching policy.ErrInvalidPolicy", le)
	}
	if snap != p.Current() {
		t.Error("a rejected Publish did not return the snapshot in force")
	}
	inForce(t, provided{p}, 2, 1, SourceRemote)
	st := p.Status()
	if st.LastError != err || st.ConsecutiveFailures != 1 {
		t.Errorf("Status = %+v, want LastError %v and 1 failure", st, err)
	}

	if _, err := p.Publish([]byte(docV2), SourceRemote, 0); err != nil {
		t.Fatalf("Publish(docV2 again): %v", err)
	}
	inForce(t, provided{p}, 2, 1, SourceRemote)
	if st := p.Status(); st.ConsecutiveFailures != 0 || st.LastSuccess.IsZero() {
		t.Errorf("Status after an identical document = %+v, want a success", st)
	}

	// The same bytes from another source are a new version: Source must say
	// where the policies in force came from.
	if _, err := p.Publish([]byte(docV2), SourceFile, 0); err != nil {
		t.Fatal(err)
	}
	inForce(t, provided{p}, 2, 2, SourceFile)
}

// TestPublisherVersionFollowsRevision verifies that a source revision becomes
// the version when it is above the version in force, that versions still
// increase when revisions restart lower, and that an identical document's
// revision reaches Status without a new version.
func TestPublisherVersionFollowsRevision(t *testing.T) {
	p := newTestPublisher(t)
	snap, err := p.Publish([]byte(docV2), SourceRemote, 7)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != 7 || snap.Revision != 7 {
		t.Errorf("Version, Revision = %d, %d; want 7, 7", snap.Version, snap.Revision)
	}
	snap, err = p.Publish([]byte(docV4), SourceRemote, 3) // a source rebuilt from scratch
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != 8 || snap.Revision != 3 {
		t.Errorf("Version, Revision = %d, %d; want 8, 3", snap.Version, snap.Revision)
	}
	if _, err := p.Publish([]byte(docV4), SourceRemote, 9); err != nil {
		t.Fatal(err)
	}
	inForce(t, provided{p}, 4, 8, SourceRemote)
	if st := p.Status(); st.Revision != 9 || st.Version != 8 {
		t.Errorf("Status Revision, Version = %d, %d; want 9, 8", st.Revision, st.Version)
	}
}

// TestPublisherMaxBytes verifies that a document over WithMaxBytes is rejected
// with ErrTooLarge and keeps the snapshot in force.
func TestPublisherMaxBytes(t *testing.T) {
	p := newTestPublisher(t, WithMaxBytes(int64(len(docV2))))
	if _, err := p.Publish([]byte(docV2), SourceRemote, 0); err != nil {
		t.Fatalf("a document of exactly the limit: %v", err)
	}
	_, err := p.Publish([]byte(docV4), SourceRemote, 0)
	wantLoadError(t, err, "test-origin")
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	inForce(t, provided{p}, 2, 1, SourceRemote)
}

// TestPublisherRecordFailure verifies that RecordFailure wraps a bare error in
// a *LoadError with the origin, keeps one that already is, ignores nil, and
// that RecordSuccess ends the streak while LastError stays visible.
func TestPublisherRecordFailure(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := newTestPublisher(t, WithClock(func() time.Time { return now }))
	cause := errors.New("connection refused")
	err := p.RecordFailure(cause)
	if le := wantLoadError(t, err, "test-origin", "connection refused"); !errors.Is(le, cause) {
		t.Errorf("err = %v, does not wrap the cause", err)
	}
	own := &LoadError{Origin: "elsewhere", Err: cause}
	if got := p.RecordFailure(own); got != own {
		t.Errorf("RecordFailure(*LoadError) = %v, want it unchanged", got)
	}
	if p.RecordFailure(nil) != nil {
		t.Error("RecordFailure(nil) != nil")
	}
	st := p.Status()
	if st.ConsecutiveFailures != 2 || st.LastError != own || !st.LastErrorAt.Equal(now) {
		t.Errorf("Status = %+v", st)
	}
	p.SetState("watching")
	p.RecordSuccess()
	st = p.Status()
	if st.ConsecutiveFailures != 0 || st.LastError != own || !st.LastSuccess.Equal(now) || st.State != "watching" {
		t.Errorf("Status after RecordSuccess = %+v", st)
	}
	inForce(t, provided{p}, 0, 0, SourceFallback)
}

// TestPublisherCacheFile verifies that an accepted document is written to the
// cache file, that LoadCache installs it in a new Publisher only while nothing
// is in force, and that an unusable cache file is an error that records nothing.
func TestPublisherCacheFile(t *testing.T) {
	cache := tempPath(t, "cache.json")
	p := newTestPublisher(t, WithCacheFile(cache))
	if _, err := p.LoadCache(); err == nil {
		t.Fatal("LoadCache of a missing file: nil error")
	}
	if st := p.Status(); st.LastError != nil {
		t.Errorf("LoadCache recorded %v", st.LastError)
	}
	if _, err := p.Publish([]byte(docV4), SourceRemote, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(cache); err != nil || string(got) != docV4 {
		t.Fatalf("cache file = %q, %v; want %q", got, err, docV4)
	}
	if _, err := p.Publish([]byte(docInvalid), SourceRemote, 0); err == nil {
		t.Fatal("invalid document accepted")
	}
	if got, _ := os.ReadFile(cache); string(got) != docV4 {
		t.Fatalf("a rejected document reached the cache file: %q", got)
	}

	q := newTestPublisher(t, WithCacheFile(cache))
	if ok, err := q.LoadCache(); !ok || err != nil {
		t.Fatalf("LoadCache = %v, %v; want true, nil", ok, err)
	}
	inForce(t, provided{q}, 4, 1, SourceCache)
	if _, err := q.Publish([]byte(docV4), SourceRemote, 0); err != nil {
		t.Fatal(err)
	}
	inForce(t, provided{q}, 4, 2, SourceRemote)
	if ok, err := q.LoadCache(); ok || err != nil {
		t.Fatalf("LoadCache over a remote document = %v, %v; want false, nil", ok, err)
	}
	inForce(t, provided{q}, 4, 2, SourceRemote)

	writeFile(t, cache, docInvalid)
	r := newTestPublisher(t, WithCacheFile(cache))
	if _, err := r.LoadCache(); !errors.Is(err, policy.ErrInvalidPolicy) {
		t.Fatalf("LoadCache of an invalid file = %v, want ErrInvalidPolicy", err)
	}
	inForce(t, provided{r}, 0, 0, SourceFallback)

	if _, err := newTestPublisher(t).LoadCache(); !errors.Is(err, ErrNoCacheFile) {
		t.Errorf("LoadCache without a cache file = %v, want ErrNoCacheFile", err)
	}
}

// TestNewPublisherInvalidOptions verifies that NewPublisher rejects what cannot
// work with errors wrapping ErrInvalidOption.
func TestNewPublisherInvalidOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		origin string
		opts   []PublisherOption
	}{
		"empty origin": {"", nil},
		"nil option":   {"o", []PublisherOption{nil}},
		"trigger":      {"o", []PublisherOption{WithTrigger(make(chan time.Time))}},
		"cache path":   {"o", []PublisherOption{WithCacheFile("")}},
		"max bytes":    {"o", []PublisherOption{WithMaxBytes(0)}},
		"nil logger":   {"o", []PublisherOption{WithLogger(nil)}},
	} {
		if _, err := NewPublisher(tc.origin, tc.opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestPublisherConcurrentVersionsIncrease verifies that versions seen by a
// reader strictly increase while several goroutines publish at once, and that
// every accepted document got its own version.
func TestPublisherConcurrentVersionsIncrease(t *testing.T) {
	p := newTestPublisher(t)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				doc := fmt.Sprintf(`{"policies": {"w%d.*": {"retry": {"max_attempts": %d}}}}`, w, i+1)
				if _, err := p.Publish([]byte(doc), SourceRemote, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last uint64
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		v := p.Current().Version
		if v < last {
			t.Fatalf("version went from %d to %d", last, v)
		}
		last = v
	}
	if v := p.Current().Version; v != writers*each {
		t.Errorf("final version = %d, want %d", v, writers*each)
	}
}

// provided is the smallest Provider built on a Publisher, as an outside
// provider would embed it.
type provided struct{ *Publisher }

func (provided) Close() error { return nil }
