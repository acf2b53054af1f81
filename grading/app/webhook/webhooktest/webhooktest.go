// Package webhooktest delivers GitHub's real webhook payloads (../shared/github/webhooks, copied
// byte for byte from octokit/webhooks) to a handler under test: it loads a fixture, lets the test
// patch only what identifies the repository and the commit, signs it and posts it.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/webhook"
)

// SharedDir finds ../shared beside the repository root (HOLDFAST_SHARED_DIR overrides).
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("HOLDFAST_SHARED_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Payload is a decoded fixture.
type Payload map[string]any

// Load reads shared/github/webhooks/NAME.json.
func Load(t testing.TB, name string) Payload {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(SharedDir(t), "github", "webhooks", name+".json"))
	if err != nil {
		t.Fatalf("fixture %s: %v (the fixtures live in ../shared/github/webhooks)", name, err)
	}
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Set replaces the value at a dotted path, e.g. "repository.owner.login".
func (p Payload) Set(path string, v any) Payload {
	m := map[string]any(p)
	keys := splitPath(path)
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
	return p
}

func splitPath(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// Repo points a payload at a repository (id, owner, name, full name) and an installation.
func (p Payload) Repo(installation, id int64, owner, name string) Payload {
	return p.Set("repository.id", id).Set("repository.name", name).Set("repository.full_name", owner+"/"+name).
		Set("repository.owner.login", owner).Set("installation.id", installation)
}

// Push makes a push fixture an ordinary push of sha to branch (there is no such example
// upstream: only a branch creation and a tag deletion).
func (p Payload) Push(branch, before, sha string) Payload {
	return p.Set("ref", "refs/heads/"+branch).Set("before", before).Set("after", sha).Set("created", false).
		Set("deleted", false).Set("head_commit.id", sha).
		Set("commits", []any{map[string]any{"id": sha, "message": "Update", "timestamp": time.Now().Format(time.RFC3339)}})
}

// Deliver signs body with secret (unless sig is given) and posts it to url.
func Deliver(t testing.TB, url, secret, event, delivery string, p Payload, sig ...string) (*http.Response, map[string]any) {
	t.Helper()
	body, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	switch {
	case len(sig) > 0 && sig[0] != "":
		req.Header.Set("X-Hub-Signature-256", sig[0])
	case len(sig) == 0:
		req.Header.Set("X-Hub-Signature-256", webhook.Signature([]byte(secret), body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}
