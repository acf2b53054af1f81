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
}

// NewClient returns a client for the agent whose control API is at base (http://IP:9090).
func NewClient(base, token string) *Client {
	return &Client{base: base, token: token, http: &http.Client{Timeout: 10 * time.Second}}
}

// Healthy reports whether the control API answers.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Fault applies f to the named link ("postgres", "redis", "provider").
func (c *Client) Fault(ctx context.Context, link string, f Fault) error {
	return c.do(ctx, http.MethodPost, "/links/"+link, f, nil)
}

// Reset clears every link fault and every provider and downstream behaviour; the ledger and
// the downstream's record of calls stay.
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/reset", nil, nil)
}

// Provider sets how the provider fake answers the next requests.
func (c *Client) Provider(ctx context.Context, b ProviderBehaviour) error {
	return c.do(ctx, http.MethodPost, "/provider/behaviour", b, nil)
}

// Ledger returns every charge the provider has made in this run.
func (c *Client) Ledger(ctx context.Context) (LedgerSnapshot, error) {
	var l LedgerSnapshot
	err := c.do(ctx, http.MethodGet, "/provider/ledger", nil, &l)
	return l, err
}

// Downstream sets how the downstream fake answers paths under b.PathPrefix.
func (c *Client) Downstream(ctx context.Context, b DownstreamBehaviour) error {
	return c.do(ctx, http.MethodPost, "/downstream/behaviour", b, nil)
}

// Calls returns the calls the downstream fake received after the one numbered since (0: all),
// in arrival order.
func (c *Client) Calls(ctx context.Context, since int) ([]Call, error) {
	var out []Call
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/downstream/calls?since=%d", since), nil, &out)
	return out, err
}

// LastCall returns the number of the downstream's latest call (0 before any): what a scenario
// passes to Calls afterwards to see only its own calls, without fetching the whole record.
func (c *Client) LastCall(ctx context.Context) (int, error) {
	var out struct {
		Seq int `json:"seq"`
	}
	err := c.do(ctx, http.MethodGet, "/downstream/last", nil, &out)
	return out.Seq, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
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
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("agent %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("agent %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}
