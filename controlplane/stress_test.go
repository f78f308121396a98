package controlplane

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRemoteReadersSeeConsistentVersions hammers Current from several
// goroutines while versions are swapped in, and checks that each reader sees
// versions in increasing order and that every snapshot's policies are those of
// its version (no torn read). Run with -race.
func TestRemoteReadersSeeConsistentVersions(t *testing.T) {
	const versions = 8
	// Document k (k = 1..versions) sets max_attempts k+1.
	doc := func(k int) string {
		return fmt.Sprintf(`{"policies": {"svc.*": {"retry": {"max_attempts": %d}}}}`, k+1)
	}
	var served atomic.Int64
	served.Store(1)
	cp := newFakeControlPlane(t, func(w http.ResponseWriter, r *http.Request) {
		k := int(served.Load())
		serveDoc(doc(k), fmt.Sprintf(`"%d"`, k))(w, r)
	})
	p, _ := newRemoteProvider(t, cp.URL())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				s := p.Current()
				if s.Version < last {
					errs <- fmt.Errorf("version went back from %d to %d", last, s.Version)
					return
				}
				last = s.Version
				pol, _, ok := s.Set.Resolve(svcOp)
				if !ok || pol.Retry.MaxAttempts != int(s.Version)+1 {
					errs <- fmt.Errorf("version %d holds max_attempts %d", s.Version, pol.Retry.MaxAttempts)
					return
				}
				select {
				case <-stop:
					return
				default:
					runtime.Gosched() // 2-core machines: leave room for the server and the loader
				}
			}
		}()
	}
	for k := 2; k <= versions; k++ {
		served.Store(int64(k))
		if err := reload(t, p); err != nil {
			t.Fatal(err)
		}
		if err := reload(t, p); err != nil { // a 304
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	inForce(t, p, versions+1, versions, SourceRemote)
}
