package controlplane

import (
	"math"
	"testing"
	"time"
)

// TestMaxBytesNoLimitReadsWholeDocument verifies that WithMaxBytes(math.MaxInt64)
// ("no limit") reads whole documents: the readers ask for limit+1 bytes, which
// must not wrap negative.
func TestMaxBytesNoLimitReadsWholeDocument(t *testing.T) {
	path := tempPath(t, "p.json")
	writeFile(t, path, docV2)
	p, err := NewFile(path, WithLogger(quietLogger()), WithMaxBytes(math.MaxInt64))
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	closeProvider(t, p)
	inForce(t, p, 2, 1, SourceFile)

	cp := newFakeControlPlane(t, serveDoc(docV4, `"v4"`))
	r, _ := newRemoteProvider(t, cp.URL(), WithMaxBytes(math.MaxInt64))
	inForce(t, r, 4, 1, SourceRemote)
}

// TestRefreshIntervalHugeDoesNotWrap verifies that a huge refresh interval
// (meant as "never") plus positive jitter stays huge instead of wrapping to a
// negative delay, which would be a busy fetch loop.
func TestRefreshIntervalHugeDoesNotWrap(t *testing.T) {
	for _, u := range []float64{0, 0.5, 0.99} {
		got := nextDelay(0, time.Duration(math.MaxInt64), time.Second, time.Minute, 0, u)
		if got < time.Duration(math.MaxInt64)/10*8 {
			t.Errorf("nextDelay(refresh=MaxInt64, u=%v) = %v, want at least 0.8 x MaxInt64", u, got)
		}
	}
}
