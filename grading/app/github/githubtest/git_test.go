package githubtest

import (
	"maps"
	"net/http"
	"testing"

	"github.com/google/go-github/v66/github"
)

func TestGitDataBuildsABranchThatReadsBack(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	base := s.SetFiles(org, "learner", "main", map[string]string{"README.md": "old\n", "stage/1.md": "one\n", "stage/2.md": "two\n"})
	c := appClient(t, s, instID)

	blob, _, err := c.Git.CreateBlob(ctx(t), org, "learner", &github.Blob{Content: github.String("aGVsbG8K"), Encoding: github.String("base64")})
	if err != nil {
		t.Fatal(err)
	}
	if blob.GetSHA() != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Errorf("blob id = %s, want git's id of \"hello\\n\"", blob.GetSHA())
	}
	baseTree := s.treeOf(t, org, "learner", base)
	tree, _, err := c.Git.CreateTree(ctx(t), org, "learner", baseTree, []*github.TreeEntry{
		{Path: github.String("README.md"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("new\n")},
		{Path: github.String("hello.txt"), Mode: github.String("100644"), Type: github.String("blob"), SHA: blob.SHA},
		{Path: github.String("stage/2.md"), Mode: github.String("100644"), Type: github.String("blob")}, // no sha, no content: delete
	})
	if err != nil {
		t.Fatal(err)
	}
	commit, _, err := c.Git.CreateCommit(ctx(t), org, "learner", &github.Commit{
		Message: github.String("Stage 2"), Tree: &github.Tree{SHA: tree.SHA}, Parents: []*github.Commit{{SHA: github.String(base)}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Git.UpdateRef(ctx(t), org, "learner", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: commit.SHA}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Git.CreateRef(ctx(t), org, "learner", &github.Reference{Ref: github.String("refs/heads/stage/2"), Object: &github.GitObject{SHA: commit.SHA}}); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"README.md": "new\n", "hello.txt": "hello\n", "stage/1.md": "one\n"}
	for _, branch := range []string{"main", "stage/2"} {
		if got := s.Files(org, "learner", branch); !maps.Equal(got, want) {
			t.Errorf("Files(%s) = %v, want %v", branch, got, want)
		}
	}
	if s.Head(org, "learner", "main") != commit.GetSHA() {
		t.Errorf("main is at %s, want %s", s.Head(org, "learner", "main"), commit.GetSHA())
	}

	// Moving main back is not a fast-forward: GitHub refuses it without force.
	_, _, err = c.Git.UpdateRef(ctx(t), org, "learner", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(base)}}, false)
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("a non-fast-forward update: %v, want 422", err)
	}
	if _, _, err := c.Git.UpdateRef(ctx(t), org, "learner", &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(base)}}, true); err != nil {
		t.Errorf("a forced update: %v", err)
	}
}

func TestGitDataOnAnEmptyRepositoryIsAConflict(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	_, _, err := tokenClient(t, s, instID).Git.CreateBlob(ctx(t), org, "learner", &github.Blob{Content: github.String("x")})
	if statusOf(err) != http.StatusConflict {
		t.Errorf("a blob in an empty repository: %v, want 409 Git Repository is empty", err)
	}
}

// treeOf is the tree id of a commit, which the App would have from the push event.
func (s *Server) treeOf(t *testing.T, owner, name, commit string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustRepo(owner, name).git.commits[commit].tree
}
