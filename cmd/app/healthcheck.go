package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck asks the App serving on listen (HOLDFAST_LISTEN) whether it is ready: GET /readyz
// must answer 200 within 5 s. It is the container's health check (deploy/compose.yaml), since
// the image has neither curl nor wget.
func healthcheck(ctx context.Context, listen string, stdout io.Writer) error {
	return probe(ctx, localURL(listen, "/readyz"), stdout)
}

// localURL is the URL of path on a server listening on listen, from the same host: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on loopback.
func localURL(listen, path string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + path
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// probe GETs url and fails unless it answers 200; the answer's body goes to stdout either way.
func probe(ctx context.Context, url string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
