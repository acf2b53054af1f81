package repos_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

const org = "holdfast-org"

func setup(t *testing.T) (*repos.Provisioner, *githubtest.Server, *store.Store) {
	t.Helper()
	st, _ := storetest.New(t)
	if err := st.SyncChallenges(context.Background(), []grading.Challenge{{Slug: "idempotent-payments", Title: "x"}}); err != nil {
		t.Fatal(err)
	}
	fake := githubtest.New(t)
	fake.AddInstallation(9, org)
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &repos.Provisioner{Store: st, GitHub: app, Installation: 9, Org: org, Templates: os.DirFS("../../../templates"),
		Challenges: []string{"idempotent-payments"}}, fake, st
}

func TestPublishIsIdempotentAndSendsOnlyTheTemplate(t *testing.T) {
	t.Parallel()
	p, fake, _ := setup(t)
	ctx := context.Background()
	res, err := p.PublishTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // one template repository per starter language: the brief and the starter only
		"holdfast-idempotent-payments-go":     ".holdfast.yaml Dockerfile README.md go.mod go.sum main.go",
		"holdfast-idempotent-payments-python": ".dockerignore .holdfast.yaml Dockerfile README.md app.py requirements.txt",
		"holdfast-idempotent-payments-ts":     ".dockerignore .holdfast.yaml Dockerfile README.md package-lock.json package.json src/index.ts tsconfig.json",
	}
	if len(res) != len(want) {
		t.Fatalf("first publish: %+v; want %d repositories", res, len(want))
	}
	for _, r := range res {
		name := strings.TrimPrefix(r.Repo, org+"/")
		files := fake.Files(org, name, "main")
		if !r.Created || r.Commit == "" || strings.Join(keys(files), " ") != want[name] {
			t.Fatalf("%s: %+v with files %v; want %s", name, r, keys(files), want[name])
		}
		for p, body := range files {
			if strings.Contains(body, "BROKEN variant") || strings.Contains(body, "reference solution") {
				t.Fatalf("%s/%s looks like solution material", name, p)
			}
		}
	}
	blobs, commits := count(fake, "git/create-blob"), count(fake, "git/create-commit")
	again, err := p.PublishTemplates(ctx)
	if err != nil || count(fake, "git/create-blob") != blobs || count(fake, "git/create-commit") != commits {
		t.Fatalf("second publish without changes: %+v %v; blobs %d→%d, commits %d→%d", again, err, blobs, count(fake, "git/create-blob"), commits, count(fake, "git/create-commit"))
	}
	for _, r := range again {
		if r.Commit != "" {
			t.Fatalf("second publish committed to %s", r.Repo)
		}
	}
}

func TestPublishSendsOnlyChangedFiles(t *testing.T) {
	t.Parallel()
	p, fake, _ := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	copyTemplate(t, "../../../templates/idempotent-payments", dir+"/idempotent-payments")
	p.Templates = os.DirFS(dir)
	if _, err := p.PublishTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir+"/idempotent-payments/starter/go/main.go", "package main\n\nfunc main() {}\n")
	removeFile(t, dir+"/idempotent-payments/starter/go/go.sum")
	writeFile(t, dir+"/idempotent-payments/starter/go/extra.go", "package main\n")
	res, err := p.PublishTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res[0].Changed, ",") != "extra.go,main.go" || strings.Join(res[0].Deleted, ",") != "go.sum" {
		t.Fatalf("changed %v deleted %v", res[0].Changed, res[0].Deleted)
	}
	files := fake.Files(org, "holdfast-idempotent-payments-go", "main")
	if _, ok := files["go.sum"]; ok || files["main.go"] != "package main\n\nfunc main() {}\n" || files["README.md"] == "" {
		t.Fatalf("tree after the update: %v", keys(files))
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	p, fake, st := setup(t)
	ctx := context.Background()
	if _, err := p.PublishTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	fake.SetGenerateLag(3) // the new repository looks empty for a few requests, as on GitHub
	deadline := time.Now().Add(72 * time.Hour)
	a, err := p.Assign(ctx, repos.AssignRequest{Challenge: "idempotent-payments", User: "Alice-1", Format: "take-home", Deadline: &deadline})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "idempotent-payments-alice-1" || a.RepoID == 0 || a.Format != "take-home" {
		t.Fatalf("assignment %+v", a)
	}
	if perm := fake.Collaborators(org, a.Name)["alice-1"]; perm != "push" {
		t.Fatalf("collaborators %v; want alice-1 with push", fake.Collaborators(org, a.Name))
	}
	if got, err := st.AssignmentByRepo(ctx, a.RepoID, "", ""); err != nil || got.User != "Alice-1" {
		t.Fatalf("stored: %+v %v", got, err)
	}
	for _, c := range fake.Calls() {
		if c.OperationID == "repos/create-using-template" && !strings.Contains(string(c.Body), `"private":true`) {
			t.Fatalf("a take-home repository must be private: %s", c.Body)
		}
	}
}

func TestAssignRejectsBadRequests(t *testing.T) {
	t.Parallel()
	p, fake, _ := setup(t)
	past := time.Now().Add(-time.Hour)
	for _, c := range []struct {
		r   repos.AssignRequest
		say string
	}{
		{repos.AssignRequest{Challenge: "nope", User: "alice"}, "unknown challenge"},
		{repos.AssignRequest{Challenge: "idempotent-payments", User: "-bad-"}, "not a GitHub login"},
		{repos.AssignRequest{Challenge: "idempotent-payments", User: "alice", Format: "exam"}, "not practice or take-home"},
		{repos.AssignRequest{Challenge: "idempotent-payments", User: "alice", Format: "take-home"}, "needs a deadline"},
		{repos.AssignRequest{Challenge: "idempotent-payments", User: "alice", Deadline: &past}, "already passed"},
	} {
		_, err := p.Assign(context.Background(), c.r)
		if !errors.Is(err, repos.ErrInvalid) || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%+v: got %v, want ErrInvalid saying %q", c.r, err, c.say)
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("%d calls to GitHub for invalid requests; want none", n)
	}
}

func count(fake *githubtest.Server, op string) int {
	n := 0
	for _, c := range fake.Calls() {
		if c.OperationID == op {
			n++
		}
	}
	return n
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
