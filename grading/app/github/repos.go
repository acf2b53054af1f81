package github

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v66/github"
)

// GenerateRepo creates owner/name from a template repository and waits until its content
// exists: GitHub answers at once, but copies the template's files in the background.
func (i *Installation) GenerateRepo(ctx context.Context, templateOwner, templateRepo, owner, name string, private bool) (*gh.Repository, error) {
	repo, _, err := i.client.Repositories.CreateFromTemplate(ctx, templateOwner, templateRepo, &gh.TemplateRepoRequest{
		Name: gh.String(name), Owner: gh.String(owner), Private: gh.Bool(private),
		Description: gh.String("Holdfast challenge repository"),
	})
	if err != nil {
		return nil, fmt.Errorf("generate %s/%s from %s/%s: %w", owner, name, templateOwner, templateRepo, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for repo.GetSize() == 0 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s/%s was created but its content did not appear within 2 minutes", owner, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if repo, _, err = i.client.Repositories.Get(ctx, owner, name); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("wait for %s/%s: %w", owner, name, err)
		}
		if repo == nil {
			repo = &gh.Repository{}
		}
	}
	return repo, nil
}

// AddCollaborator gives login the permission ("push", "pull", …) on owner/name.
func (i *Installation) AddCollaborator(ctx context.Context, owner, name, login, permission string) error {
	if _, _, err := i.client.Repositories.AddCollaborator(ctx, owner, name, login, &gh.RepositoryAddCollaboratorOptions{Permission: permission}); err != nil {
		return fmt.Errorf("add %s to %s/%s: %w", login, owner, name, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var e *gh.ErrorResponse
	return errors.As(err, &e) && e.Response != nil && e.Response.StatusCode == http.StatusNotFound
}

// EnsureTemplateRepo creates org/name as a private template repository with an initial commit,
// unless it exists. It returns whether it created it.
func (i *Installation) EnsureTemplateRepo(ctx context.Context, org, name, description string) (bool, error) {
	_, _, err := i.client.Repositories.Get(ctx, org, name)
	if err == nil {
		return false, nil
	}
	if !isNotFound(err) {
		return false, fmt.Errorf("look up %s/%s: %w", org, name, err)
	}
	_, _, err = i.client.Repositories.Create(ctx, org, &gh.Repository{Name: gh.String(name), Private: gh.Bool(true),
		AutoInit: gh.Bool(true), IsTemplate: gh.Bool(true), Description: gh.String(description)})
	if err != nil {
		return false, fmt.Errorf("create %s/%s: %w", org, name, err)
	}
	return true, nil
}

// Commit is one commit made through the git data API.
type Commit struct {
	Parent   string            // "" for the first publication: the branch is then reset to it
	BaseTree string            // tree the changes apply to ("" for none)
	Changed  map[string][]byte // path → new content
	Deleted  []string
	Message  string
}

// PushCommit writes c to branch with the git data API (blobs, tree, commit, ref) and returns
// the new commit's and tree's shas.
func (i *Installation) PushCommit(ctx context.Context, owner, name, branch string, c Commit) (commitSHA, treeSHA string, err error) {
	var entries []*gh.TreeEntry
	for path, content := range c.Changed {
		b, _, err := i.client.Git.CreateBlob(ctx, owner, name, &gh.Blob{Content: gh.String(base64Encode(content)), Encoding: gh.String("base64")})
		if err != nil {
			return "", "", fmt.Errorf("blob %s: %w", path, err)
		}
		entries = append(entries, &gh.TreeEntry{Path: gh.String(path), Mode: gh.String(fileMode(path)), Type: gh.String("blob"), SHA: b.SHA})
	}
	for _, path := range c.Deleted {
		entries = append(entries, &gh.TreeEntry{Path: gh.String(path), Mode: gh.String("100644"), Type: gh.String("blob")})
	}
	tree, _, err := i.client.Git.CreateTree(ctx, owner, name, c.BaseTree, entries)
	if err != nil {
		return "", "", fmt.Errorf("tree: %w", err)
	}
	commit := &gh.Commit{Message: gh.String(c.Message), Tree: &gh.Tree{SHA: tree.SHA}}
	if c.Parent != "" {
		commit.Parents = []*gh.Commit{{SHA: gh.String(c.Parent)}}
	}
	made, _, err := i.client.Git.CreateCommit(ctx, owner, name, commit, nil)
	if err != nil {
		return "", "", fmt.Errorf("commit: %w", err)
	}
	ref := &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: made.SHA}}
	if _, _, err := i.client.Git.UpdateRef(ctx, owner, name, ref, c.Parent == ""); err != nil {
		if !isUnprocessable(err) {
			return "", "", fmt.Errorf("move %s: %w", branch, err)
		}
		// No such branch yet: create it.
		if _, _, err := i.client.Git.CreateRef(ctx, owner, name, ref); err != nil {
			return "", "", fmt.Errorf("create %s: %w", branch, err)
		}
	}
	return made.GetSHA(), tree.GetSHA(), nil
}

func fileMode(path string) string {
	if strings.HasSuffix(path, ".sh") {
		return "100755"
	}
	return "100644"
}

func isUnprocessable(err error) bool {
	var e *gh.ErrorResponse
	return errors.As(err, &e) && e.Response != nil && e.Response.StatusCode == http.StatusUnprocessableEntity
}

func base64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
