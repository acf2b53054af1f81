package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client drives an agent's control API from the harness.
type Client struct {
	base  string
	token string
	http  *http.Client
	// events, when set (Record), gets the faults and behaviours this client sets, on the
	// caller's clock: the timeline orders them exactly against the caller's own requests.
	events *EventLog
}

// Record makes the client record each fault and behaviour it sets in l. Call it before the
// client is used.
func (c *Client) Record(l *EventLog) { c.events = l }

// NewClient returns a client for the agent whose control API is at base (http://IP:9090).
func NewClient(base, token string) *Client {
	// The timeout covers reading the answer: the largest record the fakes keep (MaxCalls calls)
	// streams in well under it.
	return &Client{base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// Healthy reports whether the control API answers.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Fault applies f to the named link ("postgres", "redis", "provider").
func (c *Client) Fault(ctx context.Context, link string, f Fault) error {
	return c.recorded(faultEvent(link, f), c.do(ctx, http.MethodPost, "/links/"+link, f, nil))
}

// Reset clears every link fault and every provider and downstream behaviour; the ledger and
// the downstream's record of calls stay.
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/reset", nil, nil)
}

// Provider sets how the provider fake answers the next requests.
func (c *Client) Provider(ctx context.Context, b ProviderBehaviour) error {
	return c.recorded(providerEvent(b), c.do(ctx, http.MethodPost, "/provider/behaviour", b, nil))
}

// Ledger returns every charge the provider has made in this run. When the app went beyond a
// fake's bounds since the last reset, the error is an *OverflowError and nothing is read.
func (c *Client) Ledger(ctx context.Context) (LedgerSnapshot, error) {
	var l LedgerSnapshot
	err := c.observe(ctx, "/provider/ledger", &l)
	return l, err
}

// Overflows returns the fakes' bounds the app went beyond since the last reset.
func (c *Client) Overflows(ctx context.Context) ([]Overflow, error) {
	var out []Overflow
	err := c.do(ctx, http.MethodGet, "/overflow", nil, &out)
	return out, err
}

// Downstream sets how the downstream fake answers paths under b.PathPrefix.
func (c *Client) Downstream(ctx context.Context, b DownstreamBehaviour) error {
	return c.recorded(downstreamEvent(b), c.do(ctx, http.MethodPost, "/downstream/behaviour", b, nil))
}

// recorded records e once the agent has applied it (err == nil), stamped then: from that moment
// the fault is in force.
func (c *Client) recorded(e Event, err error) error {
	if err == nil {
		c.events.Add(e)
	}
	return err
}

// Calls returns the calls the downstream fake received after the one numbered since (0: all),
// in arrival order.
func (c *Client) Calls(ctx context.Context, since int) ([]Call, error) {
	var out []Call
	err := c.observeEach(ctx, fmt.Sprintf("/downstream/calls?since=%d", since), func(dec *json.Decoder) error {
		return decodeEach(dec, &out)
	})
	return out, err
}

// LastCall returns the number of the downstream's latest call (0 before any): what a scenario
// passes to Calls afterwards to see only its own calls, without fetching the whole record.
func (c *Client) LastCall(ctx context.Context) (int, error) {
	var out struct {
		Seq int `json:"seq"`
	}
	err := c.observe(ctx, "/downstream/last", &out)
	return out.Seq, err
}

// observe reads one of the fakes' records; it fails with an *OverflowError when the app went
// beyond their bounds since the last reset.
func (c *Client) observe(ctx context.Context, path string, out any) error {
	return c.observeEach(ctx, path, func(dec *json.Decoder) error { return dec.Decode(out) })
}

// observeEach is observe with a decoder of its own, for records read element by element.
func (c *Client) observeEach(ctx context.Context, path string, decode func(*json.Decoder) error) error {
	var over []Overflow
	if err := c.call(ctx, http.MethodGet, path, nil, decode, &over); err != nil {
		return err
	}
	if len(over) > 0 {
		return &OverflowError{Overflows: over}
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var decode func(*json.Decoder) error
	if out != nil {
		decode = func(dec *json.Decoder) error { return dec.Decode(out) }
	}
	return c.call(ctx, method, path, in, decode, nil)
}

// decodeEach reads a JSON array one element at a time: json.Decoder.Decode would hold the whole
// array's text in memory beside what it decodes.
func decodeEach[T any](dec *json.Decoder, out *[]T) error {
	tok, err := dec.Token()
	if err != nil || tok == nil { // null: no elements
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want a JSON array, got %v", tok)
	}
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*out = append(*out, v)
	}
	_, err = dec.Token()
	return err
}

// call sends one request and decodes the answer as it streams in: what the fakes keep is
// bounded, not the size of one answer. over, when not nil, receives OverflowHeader.
func (c *Client) call(ctx context.Context, method, path string, in any, decode func(*json.Decoder) error, over *[]Overflow) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("agent %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if over != nil {
		if h := resp.Header.Get(OverflowHeader); h != "" {
			if err := json.Unmarshal([]byte(h), over); err != nil {
				return fmt.Errorf("agent %s %s: %s header: %w", method, path, OverflowHeader, err)
			}
			return nil // the record cannot be judged: not worth reading
		}
	}
	if decode != nil {
		if err := decode(json.NewDecoder(resp.Body)); err != nil {
			return fmt.Errorf("agent %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// Clock returns the agent's clock now, the one its events' At are on.
func (c *Client) Clock(ctx context.Context) (time.Duration, error) {
	var out EventsAnswer
	err := c.do(ctx, http.MethodGet, "/clock", nil, &out)
	return out.Now, err
}

// Events returns what the agent recorded since the last Reset (the app's calls to the fakes and
// its connections through the links), with its clock when it answered.
func (c *Client) Events(ctx context.Context) (EventsAnswer, error) {
	var out EventsAnswer
	err := c.do(ctx, http.MethodGet, "/events", nil, &out)
	return out, err
}
