package repos

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// Published says what a publish did to one template repository.
type Published struct {
	Repo    string
	Created bool     // the repository was created
	Changed []string // files sent
	Deleted []string
	Commit  string // "" when nothing changed
}

// TemplateFiles returns what a learner receives for slug in lang from templates (laid out like
// templates/): the brief (README.md) and the starter's files, keyed by their path in the
// template repository. A starter's README.md becomes STARTER.md (the brief owns README.md),
// and a _go.mod becomes go.mod: a challenge pack stores its Go starters' go.mod under that
// name, since Go neither embeds nor ships in a module a directory that holds a go.mod.
func TemplateFiles(templates fs.FS, slug, lang string) (map[string][]byte, error) {
	files := map[string][]byte{}
	brief, err := fs.ReadFile(templates, path.Join(slug, "README.md"))
	if err != nil {
		return nil, fmt.Errorf("brief of %s: %w", slug, err)
	}
	files["README.md"] = brief
	starter := path.Join(slug, "starter", lang)
	err = fs.WalkDir(templates, starter, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel := strings.TrimPrefix(p, starter+"/")
		b, err := fs.ReadFile(templates, p)
		if err != nil {
			return err
		}
		switch {
		case rel == "README.md":
			rel = "STARTER.md"
		case path.Base(rel) == "_go.mod":
			rel = path.Join(path.Dir(rel), "go.mod")
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("starter %s/%s: %w", slug, lang, err)
	}
	return files, nil
}

// blobSHA is git's object id of a file's content, computed locally to find what changed.
func blobSHA(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// PublishTemplates creates or updates one template repository per challenge and starter
// language. It is idempotent: a repository whose files did not change gets no commit, and a
// changed one gets only its changed and deleted files.
func (p *Provisioner) PublishTemplates(ctx context.Context) ([]Published, error) {
	inst := p.GitHub.Installation(p.Installation)
	var out []Published
	for _, slug := range p.Challenges {
		langs, err := fs.ReadDir(p.Templates, path.Join(slug, "starter"))
		if err != nil {
			return out, fmt.Errorf("starters of %s: %w", slug, err)
		}
		for _, l := range langs {
			if !l.IsDir() {
				continue
			}
			res, err := p.publishOne(ctx, inst, slug, l.Name())
			if err != nil {
				return out, err
			}
			out = append(out, res)
		}
	}
	return out, nil
}

func (p *Provisioner) publishOne(ctx context.Context, inst *github.Installation, slug, lang string) (Published, error) {
	name := TemplateRepo(slug, lang)
	res := Published{Repo: p.Org + "/" + name}
	files, err := TemplateFiles(p.Templates, slug, lang)
	if err != nil {
		return res, err
	}
	if res.Created, err = inst.EnsureTemplateRepo(ctx, p.Org, name, fmt.Sprintf("Holdfast challenge template: %s (%s)", slug, lang)); err != nil {
		return res, err
	}
	prev, err := p.Store.TemplateState(ctx, p.Org, name)
	if errors.Is(err, store.ErrNotFound) || res.Created {
		prev = store.TemplateState{} // first publication (or the repository was recreated)
	} else if err != nil {
		return res, err
	}
	shas := map[string]string{}
	changed := map[string][]byte{}
	for path, b := range files {
		shas[path] = blobSHA(b)
		if prev.Files[path] != shas[path] {
			changed[path] = b
			res.Changed = append(res.Changed, path)
		}
	}
	for path := range prev.Files {
		if _, ok := files[path]; !ok {
			res.Deleted = append(res.Deleted, path)
		}
	}
	sort.Strings(res.Changed)
	sort.Strings(res.Deleted)
	if len(changed) == 0 && len(res.Deleted) == 0 {
		return res, nil
	}
	msg := "Publish the " + slug + " template (" + lang + ")"
	if prev.Commit != "" {
		msg = "Update the " + slug + " template: " + strings.Join(append(append([]string{}, res.Changed...), res.Deleted...), ", ")
	}
	commit, tree, err := inst.PushCommit(ctx, p.Org, name, "main", github.Commit{Parent: prev.Commit, BaseTree: prev.Tree,
		Changed: changed, Deleted: res.Deleted, Message: msg})
	if err != nil {
		return res, fmt.Errorf("publish %s: %w", res.Repo, err)
	}
	res.Commit = commit
	return res, p.Store.SaveTemplateState(ctx, p.Org, name, store.TemplateState{Commit: commit, Tree: tree, Files: shas})
}
