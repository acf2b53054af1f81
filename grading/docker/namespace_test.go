package docker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

// TestNewRefusesABadNamespace: a namespace that is not a valid label value is refused before any
// engine is asked, with a sentence saying what is allowed.
func TestNewRefusesABadNamespace(t *testing.T) {
	for _, ns := range []string{"Prod", "has space", "-leading", strings.Repeat("a", 64)} {
		_, err := docker.New(context.Background(), docker.Config{Namespace: ns}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "HOLDFAST_NAMESPACE") || !strings.Contains(err.Error(), "lowercase letters") {
			t.Errorf("namespace %q: err %v; want a refusal naming HOLDFAST_NAMESPACE and what is allowed", ns, err)
		}
	}
}
