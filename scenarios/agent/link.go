package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
)

// Link is one proxied connection path, e.g. the app's view of Postgres.
type Link struct {
	Name     string // what the harness calls it: "postgres", "redis", "provider"
	Listen   string // address the proxy listens on inside the agent, e.g. ":5432"
	Upstream string // where it forwards, e.g. "hf-abc-postgres:5432"
}

// ParseLinks reads the agent's link table in the form
// "postgres=:5432>db:5432,redis=:6379>cache:6379".
func ParseLinks(s string) ([]Link, error) {
	var links []Link
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rest, ok := strings.Cut(part, "=")
		listen, upstream, ok2 := strings.Cut(rest, ">")
		if !ok || !ok2 || name == "" || listen == "" || upstream == "" {
			return nil, fmt.Errorf("link %q: want NAME=LISTEN>UPSTREAM", part)
		}
		if _, _, err := net.SplitHostPort(listen); err != nil {
			return nil, fmt.Errorf("link %q: listen address: %w", part, err)
		}
		if _, _, err := net.SplitHostPort(upstream); err != nil {
			return nil, fmt.Errorf("link %q: upstream address: %w", part, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("link %q: name %q given twice", part, name)
		}
		seen[name] = true
		links = append(links, Link{Name: name, Listen: listen, Upstream: upstream})
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("no links in %q", s)
	}
	return links, nil
}

// FaultKind names what a fault does to a link.
type FaultKind string

const (
	// FaultLatency delays data in both directions by Fault.LatencyMS (± JitterMS).
	FaultLatency FaultKind = "latency"
	// FaultTimeout blackholes the link: connections stay open but no data passes.
	FaultTimeout FaultKind = "timeout"
	// FaultReset resets every connection with a TCP RST as soon as data flows.
	FaultReset FaultKind = "reset"
	// FaultDown closes every open connection and refuses new ones until FaultUp.
	FaultDown FaultKind = "down"
	// FaultUp undoes FaultDown.
	FaultUp FaultKind = "up"
	// FaultClear removes every fault and brings the link up.
	FaultClear FaultKind = "clear"
)

// Fault is one change to a link, as sent to POST /links/{name}.
type Fault struct {
	Kind      FaultKind `json:"kind"`
	LatencyMS int64     `json:"latency_ms,omitempty"`
	JitterMS  int64     `json:"jitter_ms,omitempty"`
}

// toxicFor turns a fault into a Toxiproxy toxic definition. Each kind gets a fixed toxic name
// per direction, so applying the same fault twice replaces rather than stacks.
func toxicFor(f Fault, stream string) ([]byte, error) {
	var typ string
	attrs := map[string]int64{}
	switch f.Kind {
	case FaultLatency:
		if f.LatencyMS <= 0 {
			return nil, fmt.Errorf("latency fault needs latency_ms > 0")
		}
		typ = "latency"
		attrs["latency"] = f.LatencyMS
		attrs["jitter"] = f.JitterMS
	case FaultTimeout:
		typ = "timeout"
		attrs["timeout"] = 0 // 0 means hold the data forever
	case FaultReset:
		typ = "reset_peer"
		attrs["timeout"] = 0
	default:
		return nil, fmt.Errorf("fault kind %q is not a toxic", f.Kind)
	}
	return json.Marshal(map[string]any{
		"name": string(f.Kind) + "_" + stream, "type": typ, "stream": stream,
		"toxicity": 1.0, "attributes": attrs,
	})
}

// applyFault changes one proxy. The proxy's own lock serialises it against other calls.
func applyFault(ctx context.Context, p *toxiproxy.Proxy, f Fault) error {
	switch f.Kind {
	case FaultDown:
		p.Stop()
		return nil
	case FaultUp:
		return startProxy(p)
	case FaultClear:
		p.Toxics.ResetToxics(ctx)
		return startProxy(p)
	}
	for _, stream := range []string{"upstream", "downstream"} {
		if f.Kind == FaultReset && stream == "upstream" {
			continue // one RST is enough; both directions would race to send it
		}
		body, err := toxicFor(f, stream)
		if err != nil {
			return err
		}
		_ = p.Toxics.RemoveToxic(ctx, string(f.Kind)+"_"+stream)
		if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
			return fmt.Errorf("add %s toxic: %w", f.Kind, err)
		}
	}
	return nil
}

func startProxy(p *toxiproxy.Proxy) error {
	if err := p.Start(); err != nil && err != toxiproxy.ErrProxyAlreadyStarted {
		return fmt.Errorf("start proxy %s: %w", p.Name, err)
	}
	return nil
}
