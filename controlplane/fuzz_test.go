package controlplane

import (
	"net/http"
	"sync"
	"testing"

	"github.com/regoresilience/rego/policy"
)

// FuzzRemoteBody serves arbitrary responses to a remote provider and checks the
// last-known-good rule: a failed fetch leaves the very same snapshot in force; a
// successful one either keeps it (same document, 304) or publishes version+1
// holding exactly the served document. Never a panic.
func FuzzRemoteBody(f *testing.F) {
	for _, seed := range []struct {
		ctype string
		body  string
	}{
		{"application/json", docV2},
		{"application/json", docV4},
		{"application/json; charset=utf-8", docV5},
		{"", docV4},
		{"application/json", docInvalid},
		{"application/json", docV4[:len(docV4)/2]},
		{"text/plain", docV4},
		{"application/json", `{"policies": {}}`},
		{"application/json", `{"policies": {"*": {}}} {}`},
		{"application/json", "\xef\xbb\xbf" + docV2},
		{"application/json", ""},
	} {
		f.Add(seed.ctype, []byte(seed.body))
	}

	// One server and one provider for all inputs: the provider's state carries
	// over, so the rule is checked from many different snapshots in force.
	var mu sync.Mutex
	ctype, body := "application/json", []byte(docV2)
	cp := newFakeControlPlane(f, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if ctype == "" {
			w.Header()["Content-Type"] = nil // no sniffing
		} else {
			w.Header()["Content-Type"] = []string{ctype}
		}
		_, _ = w.Write(body)
	})
	p, _ := newRemoteProvider(f, cp.URL())

	f.Fuzz(func(t *testing.T, ct string, b []byte) {
		mu.Lock()
		ctype, body = ct, b
		mu.Unlock()
		before := p.Current()
		err := reload(t, p)
		after := p.Current()
		switch {
		case err != nil:
			if after != before {
				t.Fatalf("failed fetch (%v) changed the snapshot: %+v -> %+v", err, before, after)
			}
		case after == before:
			if before.Digest != digestOf(b) {
				t.Fatalf("success without a new version, but the document differs")
			}
		default:
			if after.Version != before.Version+1 || after.Source != SourceRemote || after.Digest != digestOf(b) {
				t.Fatalf("new snapshot %+v after %+v", after, before)
			}
			want, perr := policy.ParseDocument(b)
			if perr != nil || !want.Equal(after.Set) {
				t.Fatalf("published a document that does not parse to the same set: %v", perr)
			}
		}
	})
}

// FuzzPublisherPublish hands arbitrary documents and revisions to one
// Publisher and checks the last-known-good rule: a rejected document leaves the
// very same snapshot in force; an accepted one either keeps it (the same
// document) or publishes a higher version holding exactly that document, with
// its revision. Never a panic.
func FuzzPublisherPublish(f *testing.F) {
	for _, seed := range []struct {
		doc string
		rev int64
	}{
		{docV2, 0}, {docV4, 7}, {docV5, 3}, {docInvalid, 9}, {docV4[:len(docV4)/2], 10},
		{`{"policies": {}}`, -1}, {"", 1}, {"\xef\xbb\xbf" + docV2, 1 << 62},
	} {
		f.Add([]byte(seed.doc), seed.rev)
	}
	p, err := NewPublisher("fuzz", WithLogger(quietLogger()), WithMaxBytes(4<<10))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte, rev int64) {
		before := p.Current()
		after, err := p.Publish(doc, SourceRemote, rev)
		if after != p.Current() {
			t.Fatal("Publish did not return the snapshot in force")
		}
		switch {
		case err != nil:
			if after != before {
				t.Fatalf("rejected document (%v) changed the snapshot", err)
			}
		case after == before:
			if before.Digest != digestOf(doc) {
				t.Fatal("success without a new version, but the document differs")
			}
		default:
			if after.Version <= before.Version || after.Digest != digestOf(doc) || after.Revision != rev ||
				(rev > 0 && after.Version < uint64(rev)) {
				t.Fatalf("new snapshot %+v after %+v (revision %d)", after, before, rev)
			}
			want, perr := policy.ParseDocument(doc)
			if perr != nil || !want.Equal(after.Set) {
				t.Fatalf("published a document that does not parse to the same set: %v", perr)
			}
		}
	})
}
