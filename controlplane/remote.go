package controlplane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/regoresilience/rego/internal/retryafter"
)

// RemoteProvider serves the policies of a JSON document fetched from a control
// plane over HTTP(S), refreshed in the background. NewRemote returns one as a
// Provider; type-assert to *RemoteProvider (or to Reloader) to call Reload. Safe
// for concurrent use.
type RemoteProvider struct {
	pub *Publisher
	loader
	url       string // as given; used for requests
	origin    string // url with any password redacted; used in errors and logs
	cfg       remoteConfig
	ownClient bool // the client was built here: Close closes its idle connections

	ready     chan struct{} // closed at the first successful fetch
	readyOnce sync.Once

	// Owned by the sem holder.
	etag       string        // ETag of the last accepted 200 ...
	etagDigest string        // ... and the digest of its document
	retryAfter time.Duration // server pushback from the last failed response
}

var _ Reloader = (*RemoteProvider)(nil)

// StatusError reports an HTTP answer from the control plane other than 200, or
// a 304 the provider did not ask for. It matches errors.Is(err, ErrBadStatus).
type StatusError struct {
	StatusCode int
	Detail     string // optional explanation
}

// Error returns "unexpected HTTP status CODE TEXT[: DETAIL]".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("unexpected HTTP status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns ErrBadStatus.
func (e *StatusError) Unwrap() error { return ErrBadStatus }

// NewRemote returns a provider that fetches the policy document from rawURL (http
// or https) and keeps it current. It returns a *RemoteProvider once the first
// fetch succeeds, or once the initial timeout (WithInitialTimeout, default 3s)
// passes: then Current() is the cache file's document if WithCacheFile names a
// readable, valid one (Source SourceCache), else the fallback (Set nil: the
// engine default), and fetching goes on in the background. Status().LastError
// says why the first fetch failed. Only invalid options (an unparsable URL, a
// scheme other than http/https, a non-positive duration, ...) are errors; they wrap
// ErrInvalidOption.
//
// Each fetch is a GET with Accept: application/json and, when the document in
// force came from this URL with an ETag, If-None-Match. It must finish within the
// request timeout (WithRequestTimeout, default 5s). A 304 keeps the version in
// force. A 200 must have Content-Type application/json (or none) and a body of at
// most WithMaxBytes (default 1 MiB; never read past it), which must parse and
// validate as a whole document; a body identical to the document in force is not
// a new version. Anything else — a connection error, a timeout, another status, a
// wrong content type, an oversized, truncated or invalid body — is a failure: the
// previous snapshot stays in force, the error (a *LoadError naming the URL) goes
// to Status and the logger, and the next fetch comes after an exponential backoff
// with jitter (WithBackoff). While healthy, fetches repeat every refresh interval
// ±10% (WithRefreshInterval, default 30s). WithTrigger replaces both schedules.
//
// Current never waits for the network: it is one atomic load. Close cancels any
// fetch in flight and waits for the background goroutine.
func NewRemote(rawURL string, opts ...RemoteOption) (Provider, error) {
	cfg := remoteConfig{
		commonConfig:    defaultCommon(),
		requestTimeout:  DefaultRequestTimeout,
		refreshInterval: DefaultRefreshInterval,
		backoff:         Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax},
		initialTimeout:  DefaultInitialTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return nil, invalidOption("nil RemoteOption")
		}
		if err := o.applyRemote(&cfg); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, invalidOption("url: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalidOption("url %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, invalidOption("url %q: no host", u.Redacted())
	}
	p := &RemoteProvider{url: rawURL, origin: u.Redacted(), cfg: cfg, loader: newLoader(), ready: make(chan struct{})}
	if p.cfg.client == nil {
		tr, ok := http.DefaultTransport.(*http.Transport)
		if ok {
			tr = tr.Clone()
		} else { // a program replaced DefaultTransport: still never share our idle pool
			tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
		}
		p.cfg.client = &http.Client{Transport: tr}
		p.ownClient = true
	}
	if p.cfg.rand == nil {
		p.cfg.rand = rand.Float64
	}
	p.pub = newPublisher(p.origin, publisherConfig{commonConfig: cfg.commonConfig,
		cacheFile: cfg.cacheFile, afterCacheRead: cfg.afterCacheRead})
	go p.run()

	t := time.NewTimer(cfg.initialTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
	case <-t.C:
		p.startWithoutServer()
	}
	return p, nil
}

// Current returns the snapshot in force: one atomic load.
func (p *RemoteProvider) Current() *Snapshot { return p.pub.Current() }

// Status returns a copy of the provider's status.
func (p *RemoteProvider) Status() Status { return p.pub.Status() }

// Close cancels any fetch in flight, stops the background goroutine and waits for
// it. Idempotent; Current keeps returning the last snapshot.
func (p *RemoteProvider) Close() error {
	return p.close(func() {
		if p.ownClient {
			p.cfg.client.CloseIdleConnections()
		}
	})
}

// Reload fetches the document now and returns the fetch's error, if any (the
// snapshot in force is then unchanged), ctx's error if ctx ended first, or
// ErrClosed after Close. It waits for a fetch already in progress.
func (p *RemoteProvider) Reload(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	ctx, cancel := p.joinCtx(ctx)
	defer cancel()
	return p.fetch(ctx)
}

// run is the provider's goroutine: fetch, wait, fetch... until Close.
func (p *RemoteProvider) run() {
	defer close(p.done)
	trigger := p.cfg.trigger
	var delay time.Duration // computed under sem, since it reads retryAfter
	for first := true; ; first = false {
		if !first {
			var wait <-chan time.Time
			var t *time.Timer
			if p.cfg.trigger != nil {
				wait = trigger
			} else {
				t = time.NewTimer(delay)
				wait = t.C
			}
			select {
			case <-p.ctx.Done():
				if t != nil {
					t.Stop()
				}
				return
			case _, ok := <-wait:
				if !ok {
					trigger = nil // closed trigger: no more fetches, wait for Close
					continue
				}
			}
		}
		if p.acquire(p.ctx) != nil {
			return
		}
		err := p.fetch(p.ctx)
		delay = p.nextDelay()
		p.release()
		if p.cfg.afterCycle != nil {
			p.cfg.afterCycle(err)
		}
	}
}

// nextDelay is the wait before the next scheduled fetch. The caller holds sem.
func (p *RemoteProvider) nextDelay() time.Duration {
	return nextDelay(p.pub.consecutiveFailures(), p.cfg.refreshInterval,
		p.cfg.backoff.Initial, p.cfg.backoff.Max, p.retryAfter, p.cfg.rand())
}

// nextDelay computes a wait: the refresh interval ±10% while healthy (failures ==
// 0); otherwise Backoff.Delay, and at least the server's Retry-After up to
// limit. u is a uniform random number in [0,1).
func nextDelay(failures int, refresh, initial, limit, retryAfter time.Duration, u float64) time.Duration {
	if failures <= 0 {
		j := time.Duration((2*u - 1) * refreshJitter * float64(refresh))
		if j > 0 && refresh > math.MaxInt64-j {
			return math.MaxInt64 // a refresh interval meant as "never" must not wrap to a busy loop
		}
		return refresh + j
	}
	d := Backoff{Initial: initial, Max: limit}.Delay(failures, u)
	if retryAfter > d {
		d = min(retryAfter, limit)
	}
	return d
}

// fetch performs one GET; the caller holds sem.
func (p *RemoteProvider) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return p.failed(err)
	}
	req.Header.Set("Accept", "application/json")
	cur := p.Current()
	sentETag := ""
	if p.etag != "" && cur.Source == SourceRemote && cur.Digest == p.etagDigest {
		sentETag = p.etag
		req.Header.Set("If-None-Match", sentETag)
	}
	resp, err := p.cfg.client.Do(req)
	if err != nil {
		return p.failed(err)
	}
	defer func() {
		// Drain a little so the connection can be reused; never read unbounded.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	p.retryAfter = 0

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if sentETag == "" {
			return p.failed(&StatusError{StatusCode: resp.StatusCode, Detail: "no If-None-Match was sent"})
		}
		p.pub.RecordSuccess()
		p.markReady()
		return nil
	default:
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			p.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), p.cfg.now())
		}
		return p.failed(&StatusError{StatusCode: resp.StatusCode})
	}
	if err := checkContentType(resp.Header.Get("Content-Type")); err != nil {
		return p.failed(err)
	}
	if resp.ContentLength > p.cfg.maxBytes {
		return p.failed(fmt.Errorf("%w: Content-Length %d, limit %d", ErrTooLarge, resp.ContentLength, p.cfg.maxBytes))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.maxBytes+1))
	if err != nil {
		return p.failed(fmt.Errorf("reading body: %w", err))
	}
	if int64(len(data)) > p.cfg.maxBytes {
		return p.failed(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, p.cfg.maxBytes))
	}
	digest := digestOf(data)
	// accept writes an accepted document to the cache file before it returns,
	// so once NewRemote or Reload returns, the cache is written.
	if _, _, err := p.pub.accept(data, digest, SourceRemote, 0); err != nil {
		return p.failed(err)
	}
	p.etag, p.etagDigest = resp.Header.Get("ETag"), digest
	p.markReady()
	return nil
}

func (p *RemoteProvider) markReady() { p.readyOnce.Do(func() { close(p.ready) }) }

// failed wraps err with the URL, records it and logs it.
func (p *RemoteProvider) failed(err error) error { return p.pub.RecordFailure(err) }

// startWithoutServer runs when the initial timeout passed before a successful
// fetch: it installs the cache file's document if there is a usable one.
func (p *RemoteProvider) startWithoutServer() {
	l := p.cfg.logger
	if p.cfg.cacheFile == "" {
		l.Warn("controlplane: control plane not reachable within the initial timeout; using the engine default until it is",
			slog.String("url", p.origin), slog.Any("err", p.Status().LastError))
		return
	}
	if _, err := p.pub.LoadCache(); err != nil {
		l.Warn("controlplane: control plane not reachable within the initial timeout and the cache file is unusable; using the engine default until it is",
			slog.String("url", p.origin), slog.String("cache_file", p.cfg.cacheFile),
			slog.Any("err", p.Status().LastError), slog.Any("cache_err", err))
	}
}

// checkContentType accepts application/json (any parameters) or no content type.
func checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%w: %q, want application/json", ErrBadContentType, ct)
	}
	return nil
}

// maxRetryAfter is the longest Retry-After the provider honours; a server
// asking for more is ignored (the usual backoff applies).
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date); 0 if
// absent, unusable or longer than maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if d, ok := retryafter.Parse(v, now); ok && d <= maxRetryAfter {
		return d
	}
	return 0
}
