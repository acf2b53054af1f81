package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// maxBody caps how much of an answer Check copies: a health answer is a few lines.
const maxBody = 4096

// LocalURL is the URL of path on a server listening on listen (HOST:PORT or :PORT), asked from
// the same host: an unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on
// loopback.
func LocalURL(listen, path string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%q is not HOST:PORT or :PORT (e.g. 127.0.0.1:9090)", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// Check GETs url and fails unless it answers 200 within timeout. The answer's body (at most
// 4 KiB: one line per part checked) goes to w either way, and a failure's error repeats it.
func Check(ctx context.Context, url string, timeout time.Duration, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w; is the process running and listening there?", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = w.Write(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
