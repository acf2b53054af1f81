package github

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v66/github"

	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// retryTransport retries what GitHub asks to be retried: 5xx answers with backoff, and primary
// (403/429 with x-ratelimit-remaining: 0, until x-ratelimit-reset) and secondary (Retry-After)
// rate limits. A wait longer than maxWait is not waited: the answer goes back to the caller, whose
// job is retried later by River.
type retryTransport struct {
	next     http.RoundTripper
	attempts int
	maxWait  time.Duration
	log      *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.GetBody == nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r := req.Clone(req.Context())
		switch {
		case req.GetBody != nil:
			b, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = b
		case body != nil:
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil || attempt >= t.attempts {
			return resp, err
		}
		wait, retry := t.retryAfter(resp, backoff)
		if !retry || wait > t.maxWait || (resp.StatusCode >= 500 && creates(req)) {
			return resp, nil
		}
		if resp.StatusCode == 403 || resp.StatusCode == 429 {
			metrics.RateLimitWait(wait)
		}
		if t.log != nil {
			t.log.Warn("github: retrying", "method", req.Method, "path", req.URL.Path, "status", resp.StatusCode, "wait", wait, "attempt", attempt)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
		backoff *= 2
	}
}

// creates says whether req makes an object GitHub does not deduplicate: a check run or a
// comment. After a 5xx GitHub may have made it all the same, so the request is not repeated
// here; the caller's job retries it after looking for what it made (FindCheckRun, the comment's
// marker). A rate-limited request was not processed and is repeated as any other.
func creates(req *http.Request) bool {
	p := req.URL.Path
	return req.Method == http.MethodPost && (strings.HasSuffix(p, "/check-runs") || strings.HasSuffix(p, "/comments"))
}

// retryAfter decides whether and how long to wait before retrying resp.
func (t *retryTransport) retryAfter(resp *http.Response, backoff time.Duration) (time.Duration, bool) {
	if s := resp.Header.Get("Retry-After"); s != "" && (resp.StatusCode == 403 || resp.StatusCode == 429 || resp.StatusCode >= 500) {
		if secs, err := strconv.Atoi(s); err == nil {
			return time.Duration(secs) * time.Second, true
		}
	}
	if (resp.StatusCode == 403 || resp.StatusCode == 429) && resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(reset, 0))+time.Second, 0), true
		}
		return 0, false
	}
	if resp.StatusCode == 429 {
		return backoff, true
	}
	if resp.StatusCode >= 500 {
		return backoff, true
	}
	return 0, false
}

// Wait says how long GitHub asked for before the request that failed with err is tried again:
// until a primary rate limit resets, a secondary rate limit's Retry-After, or a Retry-After on
// any other answer. ok is false when GitHub named no time; the caller then backs off on its own.
func Wait(err error) (wait time.Duration, ok bool) {
	var primary *gh.RateLimitError
	if errors.As(err, &primary) {
		return max(time.Until(primary.Rate.Reset.Time)+time.Second, time.Second), true
	}
	var secondary *gh.AbuseRateLimitError
	if errors.As(err, &secondary) {
		if secondary.RetryAfter != nil {
			return max(*secondary.RetryAfter, time.Second), true
		}
		return time.Minute, true // GitHub: "wait at least one minute" without a Retry-After
	}
	var resp *http.Response
	var other *gh.ErrorResponse
	var token *ghinstallation.HTTPError // minting the installation token was refused
	switch {
	case errors.As(err, &other):
		resp = other.Response
	case errors.As(err, &token):
		resp = token.Response
	}
	if resp == nil {
		return 0, false
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second, true
	}
	if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) && resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if reset, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(reset, 0))+time.Second, time.Second), true
		}
	}
	return 0, false
}
