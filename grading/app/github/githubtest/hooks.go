package githubtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fake is also GitHub's delivery side: Deliver posts an event to the App's webhook as
// GitHub does, and the deliveries API (apps/list-webhook-deliveries,
// apps/get-webhook-delivery, apps/redeliver-webhook-delivery) shows and repeats what was
// delivered.

const (
	// deliveryTimeout is GitHub's: a webhook that has not answered in 10 seconds has timed
	// out.
	deliveryTimeout = 10 * time.Second
	// deliveryRetention is how long GitHub keeps deliveries: 3 days. Older ones are neither
	// listed nor found nor redelivered by the API (Deliveries still returns them).
	deliveryRetention = 3 * 24 * time.Hour
	// maxHookResponse caps the webhook answer body kept for apps/get-webhook-delivery.
	maxHookResponse = 1 << 20
	// hookshotAgent is the User-Agent of GitHub's deliveries.
	hookshotAgent = "GitHub-Hookshot/6d7a7c5"
)

// webhook is the App's webhook (SetWebhook).
type webhook struct {
	url    string
	secret []byte
	id     int64 // X-GitHub-Hook-ID
}

// Delivery is one webhook delivery the fake made, first or again.
type Delivery struct {
	// ID is the delivery's own id; a redelivery has a new one.
	ID int64
	// GUID is X-GitHub-Delivery, the event's id; a redelivery keeps it.
	GUID  string
	Event string
	// Action is the payload's action; empty if it has none.
	Action string
	// StatusCode is the webhook's answer; 0 if there was none.
	StatusCode int
	// Status is GitHub's account of it: "OK" for a 2xx answer, "Invalid HTTP Response: 500"
	// for another, "failed to connect" or "timed out" without one.
	Status      string
	Redelivery  bool
	DeliveredAt time.Time
	Payload     []byte
}

// delivery is a Delivery with what the deliveries API shows besides.
type delivery struct {
	Delivery
	hasAction       bool
	url             string
	duration        float64 // seconds
	installationID  *int64
	repositoryID    *int64
	requestHeaders  map[string]string
	responseHeaders map[string]string // nil without an answer
	responseBody    *string           // nil without an answer
}

func newHookClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // each delivery is a new connection, as GitHub's are
	return &http.Client{
		Transport: tr,
		Timeout:   deliveryTimeout,
		// GitHub does not follow redirects: a 3xx is the webhook's answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SetWebhook sets where the App's webhook is and its secret. Deliveries are signed with the
// secret (X-Hub-Signature-256 and X-Hub-Signature); with an empty one they are not signed,
// as GitHub does not sign for a webhook without a secret.
func (s *Server) SetWebhook(url string, secret []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhook.id == 0 {
		s.webhook.id = s.nextID()
	}
	s.webhook.url, s.webhook.secret = url, bytes.Clone(secret)
}

// Deliver sends an event to the App's webhook now, as GitHub does: payload (a JSON object)
// is POSTed with GitHub's headers, a new GUID and a new delivery id, and GitHub's 10-second
// timeout. The delivery is recorded for the deliveries API and Deliveries, whatever its
// fate. Deliver returns the GUID (X-GitHub-Delivery) and the webhook's status code, 0 if it
// did not answer. The webhook may call the fake back while it is being delivered to.
func (s *Server) Deliver(event string, payload []byte) (guid string, status int) {
	s.t.Helper()
	return s.deliver(event, payload, newGUID(), false)
}

// Deliveries returns copies of every delivery made so far (redeliveries included, the ones
// past GitHub's 3-day retention too), oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.sortedDeliveries() {
		c := d.Delivery
		c.Payload = bytes.Clone(c.Payload)
		out = append(out, c)
	}
	return out
}

// WaitDeliveries waits until the redeliveries requested so far (they run in the background,
// as on GitHub) have been made and recorded.
func (s *Server) WaitDeliveries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitBackground()
}

// waitBackground waits, with s.mu held, until no redelivery is in flight.
func (s *Server) waitBackground() {
	for s.background > 0 {
		s.backgroundDone.Wait()
	}
}

// deliver makes one delivery of payload under guid. It must not be called with s.mu held:
// the webhook may call the fake back.
func (s *Server) deliver(event string, payload []byte, guid string, redelivery bool) (string, int) {
	var fields struct {
		Action       *string `json:"action"`
		Installation *struct {
			ID *int64 `json:"id"`
		} `json:"installation"`
		Repository *struct {
			ID *int64 `json:"id"`
		} `json:"repository"`
	}
	var object map[string]json.RawMessage
	if err := json.Unmarshal(payload, &object); err != nil || object == nil || event == "" {
		s.t.Errorf("githubtest: Deliver(%q): GitHub delivers an event with a JSON object as payload (%v)", event, err)
		return "", 0
	}
	_ = json.Unmarshal(payload, &fields) // a field of another type is simply not read

	s.mu.Lock()
	hook := s.webhook
	d := &delivery{
		Delivery: Delivery{ID: s.nextID(), GUID: guid, Event: event, Redelivery: redelivery, DeliveredAt: s.now(), Payload: bytes.Clone(payload)},
		url:      hook.url,
	}
	s.mu.Unlock()
	if hook.url == "" {
		s.t.Errorf("githubtest: Deliver(%q): the App has no webhook (call SetWebhook first)", event)
		return "", 0
	}
	if fields.Action != nil {
		d.Action, d.hasAction = *fields.Action, true
	}
	if fields.Installation != nil {
		d.installationID = fields.Installation.ID
	}
	if fields.Repository != nil {
		d.repositoryID = fields.Repository.ID
	}

	req, err := http.NewRequest(http.MethodPost, hook.url, bytes.NewReader(payload))
	if err != nil {
		s.t.Errorf("githubtest: Deliver(%q): webhook URL %q: %v", event, hook.url, err)
		return "", 0
	}
	d.requestHeaders = map[string]string{
		"Accept": "*/*", "Content-Type": "application/json", "User-Agent": hookshotAgent,
		"X-GitHub-Delivery": guid, "X-GitHub-Event": event,
		"X-GitHub-Hook-ID":                       strconv.FormatInt(hook.id, 10),
		"X-GitHub-Hook-Installation-Target-ID":   strconv.FormatInt(s.AppID, 10),
		"X-GitHub-Hook-Installation-Target-Type": "integration",
	}
	if len(hook.secret) > 0 {
		d.requestHeaders["X-Hub-Signature"] = "sha1=" + mac(sha1.New, hook.secret, payload)
		d.requestHeaders["X-Hub-Signature-256"] = "sha256=" + mac(sha256.New, hook.secret, payload)
	}
	for k, v := range d.requestHeaders {
		req.Header[k] = []string{v} // GitHub's spelling, not Go's canonical X-Github-Event
	}

	start := time.Now()
	resp, err := s.hookClient.Do(req)
	if err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHookResponse))
		resp.Body.Close()
		text := string(body)
		d.responseBody = &text
		d.responseHeaders = map[string]string{}
		for k, vs := range resp.Header {
			d.responseHeaders[k] = strings.Join(vs, ", ")
		}
		d.StatusCode = resp.StatusCode
	}
	d.duration = time.Since(start).Seconds()
	var netErr net.Error
	switch {
	case err != nil && errors.As(err, &netErr) && netErr.Timeout():
		d.Status = "timed out"
	case err != nil:
		d.Status = "failed to connect"
	case d.StatusCode >= 200 && d.StatusCode <= 299:
		d.Status = "OK"
	default:
		d.Status = fmt.Sprintf("Invalid HTTP Response: %d", d.StatusCode)
	}

	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return guid, d.StatusCode
}

func mac(h func() hash.Hash, key, data []byte) string {
	m := hmac.New(h, key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// newGUID is a random UUID, the form of GitHub's delivery GUIDs.
func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// sortedDeliveries is every delivery by id, that is by when it started.
func (s *Server) sortedDeliveries() []*delivery {
	out := slices.Clone(s.deliveries)
	slices.SortFunc(out, func(a, b *delivery) int { return int(a.ID - b.ID) })
	return out
}

// retained says whether the deliveries API still shows d.
func (s *Server) retained(d *delivery) bool {
	return d.DeliveredAt.After(s.now().Add(-deliveryRetention))
}

// retainedDelivery is the delivery with id (a path parameter) within the retention, or nil.
func (s *Server) retainedDelivery(id string) *delivery {
	for _, d := range s.deliveries {
		if strconv.FormatInt(d.ID, 10) == id && s.retained(d) {
			return d
		}
	}
	return nil
}

// cursorPrefix starts the fake's pagination cursors, which are opaque to clients, as
// GitHub's are: v1_ and the id of the first delivery of the page.
const cursorPrefix = "v1_"

// listDeliveries is apps/list-webhook-deliveries: the retained deliveries, newest first,
// status=success keeping status codes 200–399 and status=failure 400–599 (so a delivery
// without an answer is in neither). Pages are cut by cursor, as on GitHub: the Link header's
// rel="next" carries the cursor of the next page, and there is none after the last one.
func (s *Server) listDeliveries(rq *request) response {
	perPage, err := strconv.Atoi(rq.query.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	lo, hi := 0, 599
	switch rq.query.Get("status") {
	case "success":
		lo, hi = 200, 399
	case "failure":
		lo, hi = 400, 599
	}
	var list []*delivery
	for _, d := range slices.Backward(s.sortedDeliveries()) {
		if s.retained(d) && d.StatusCode >= lo && d.StatusCode <= hi {
			list = append(list, d)
		}
	}
	if cursor := rq.query.Get("cursor"); cursor != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(cursor, cursorPrefix), 10, 64)
		if !strings.HasPrefix(cursor, cursorPrefix) || err != nil {
			return validationFailed("HookDelivery", "cursor", "invalid", "cursor "+strconv.Quote(cursor)+" is not one this API gave")
		}
		if !slices.ContainsFunc(s.deliveries, func(d *delivery) bool { return d.ID == id }) {
			return validationFailed("HookDelivery", "cursor", "missing", "cursor "+strconv.Quote(cursor)+" names no delivery")
		}
		i := slices.IndexFunc(list, func(d *delivery) bool { return d.ID <= id })
		if i < 0 {
			i = len(list)
		}
		list = list[i:]
	}
	var header http.Header
	if len(list) > perPage {
		q := url.Values{}
		for k, v := range rq.query {
			q[k] = v
		}
		q.Set("cursor", cursorPrefix+strconv.FormatInt(list[perPage].ID, 10))
		q.Set("per_page", strconv.Itoa(perPage))
		u := url.URL{Path: rq.prefix + rq.path, RawQuery: q.Encode()}
		header = http.Header{"Link": {fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, u.String())}}
		list = list[:perPage]
	}
	items := []map[string]any{}
	for _, d := range list {
		items = append(items, d.itemJSON())
	}
	return response{status: http.StatusOK, header: header, body: items}
}

// getDelivery is apps/get-webhook-delivery. An unknown id is not documented for the
// operation; the fake answers it 422, one of the documented errors.
func (s *Server) getDelivery(rq *request) response {
	d := s.retainedDelivery(rq.vars["delivery_id"])
	if d == nil {
		return unknownDelivery(rq)
	}
	m := d.itemJSON()
	m["url"] = d.url
	m["request"] = map[string]any{"headers": d.requestHeaders, "payload": json.RawMessage(d.Payload)}
	m["response"] = map[string]any{"headers": d.responseHeaders, "payload": d.responseBody}
	return reply(http.StatusOK, m)
}

// redeliver is apps/redeliver-webhook-delivery: 202 at once, and the same payload is
// delivered again in the background as a new delivery with the same GUID (WaitDeliveries
// waits for it).
func (s *Server) redeliver(rq *request) response {
	d := s.retainedDelivery(rq.vars["delivery_id"])
	if d == nil {
		return unknownDelivery(rq)
	}
	if !s.closed {
		s.background++
		event, payload, guid := d.Event, d.Payload, d.GUID
		go func() {
			s.deliver(event, payload, guid, true)
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.background--; s.background == 0 {
				s.backgroundDone.Broadcast()
			}
		}()
	}
	return reply(http.StatusAccepted, map[string]any{})
}

func unknownDelivery(rq *request) response {
	return validationFailed("HookDelivery", "delivery_id", "missing", "no delivery "+rq.vars["delivery_id"]+" of this App's webhook in the last 3 days")
}

// itemJSON is a hook-delivery-item.
func (d *delivery) itemJSON() map[string]any {
	var action any
	if d.hasAction {
		action = d.Action
	}
	return map[string]any{
		"id": d.ID, "guid": d.GUID, "delivered_at": d.DeliveredAt.Format(time.RFC3339),
		"redelivery": d.Redelivery, "duration": d.duration, "status": d.Status, "status_code": d.StatusCode,
		"event": d.Event, "action": action, "installation_id": d.installationID, "repository_id": d.repositoryID,
		"throttled_at": nil,
	}
}
