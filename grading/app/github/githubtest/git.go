package githubtest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// gitStore is a repository's object database, simplified: a tree is flat (path → entry, with
// blobs and submodules only, directories implied by the paths), and tree and commit ids are
// SHA-1s of the fake's own encoding, not git's. Blob ids are git's.
type gitStore struct {
	blobs   map[string][]byte
	trees   map[string]map[string]treeEntry
	commits map[string]*gitCommit
	refs    map[string]string // full name (refs/heads/main) → commit id
}

type treeEntry struct {
	mode string // 100644, 100755, 120000 or 160000
	kind string // blob or commit
	sha  string
}

type gitCommit struct {
	sha, tree, message string
	parents            []string
	author, committer  gitPerson
}

type gitPerson struct {
	name, email string
	date        time.Time
}

func newGitStore() *gitStore {
	return &gitStore{blobs: map[string][]byte{}, trees: map[string]map[string]treeEntry{}, commits: map[string]*gitCommit{}, refs: map[string]string{}}
}

func (g *gitStore) putBlob(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	sha := hex.EncodeToString(h.Sum(nil))
	g.blobs[sha] = content
	return sha
}

func (g *gitStore) putTree(entries map[string]treeEntry) string {
	h := sha1.New()
	h.Write([]byte("tree\x00"))
	for _, path := range slices.Sorted(maps.Keys(entries)) {
		e := entries[path]
		fmt.Fprintf(h, "%s %s %s\t%s\n", e.mode, e.kind, e.sha, path)
	}
	sha := hex.EncodeToString(h.Sum(nil))
	g.trees[sha] = entries
	return sha
}

func (g *gitStore) putCommit(c *gitCommit) string {
	h := sha1.New()
	fmt.Fprintf(h, "commit\x00%s\n%s\n%s <%s> %d\n%s <%s> %d\n\n%s", c.tree, strings.Join(c.parents, " "),
		c.author.name, c.author.email, c.author.date.Unix(), c.committer.name, c.committer.email, c.committer.date.Unix(), c.message)
	c.sha = hex.EncodeToString(h.Sum(nil))
	g.commits[c.sha] = c
	return c.sha
}

// commitFiles commits exactly files (path → content) on branch, on top of its head if any,
// and moves the branch. It returns the commit id.
func (g *gitStore) commitFiles(branch string, files map[string]string, message string, when time.Time) string {
	entries := map[string]treeEntry{}
	for path, content := range files {
		entries[path] = treeEntry{mode: "100644", kind: "blob", sha: g.putBlob([]byte(content))}
	}
	c := &gitCommit{tree: g.putTree(entries), message: message,
		author: gitPerson{"githubtest", "githubtest@example.com", when}, committer: gitPerson{"GitHub", "noreply@github.com", when}}
	if head, ok := g.refs["refs/heads/"+branch]; ok {
		c.parents = []string{head}
	}
	sha := g.putCommit(c)
	g.refs["refs/heads/"+branch] = sha
	return sha
}

// files is the content of every blob of a commit's tree; nil for an unknown commit.
func (g *gitStore) files(commit string) map[string]string {
	c := g.commits[commit]
	if c == nil {
		return nil
	}
	out := map[string]string{}
	for path, e := range g.trees[c.tree] {
		if e.kind == "blob" {
			out[path] = string(g.blobs[e.sha])
		}
	}
	return out
}

// sizeKB is GitHub's size of a repository whose default branch is at commit.
func (g *gitStore) sizeKB(commit string) int {
	total, any := 0, false
	for _, content := range g.files(commit) {
		total, any = total+len(content), true
	}
	if !any {
		return 0
	}
	return total/1024 + 1
}

// resolve finds the commit a ref names: a full ref, a branch, a tag, or a commit id or its
// unambiguous prefix of at least 7 hex digits.
func (g *gitStore) resolve(ref string) (string, bool) {
	for _, full := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if sha, ok := g.refs[full]; ok {
			return sha, true
		}
	}
	if len(ref) < 7 || !isHex(ref) {
		return "", false
	}
	var found []string
	for sha := range g.commits {
		if strings.HasPrefix(sha, strings.ToLower(ref)) {
			found = append(found, sha)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

// isAncestor says whether commit a is reachable from commit b (a == b included).
func (g *gitStore) isAncestor(a, b string) bool {
	seen := map[string]bool{}
	for queue := []string{b}; len(queue) > 0; queue = queue[1:] {
		sha := queue[0]
		if sha == a {
			return true
		}
		if c := g.commits[sha]; c != nil && !seen[sha] {
			seen[sha] = true
			queue = append(queue, c.parents...)
		}
	}
	return false
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s[:len(s)/2*2])
	return err == nil
}

// SetFiles commits exactly files (path → content) on branch of owner/name, on top of the
// branch's head if it has one, as a push would. It returns the new commit's id. Use it to
// seed a template or a learner's repository.
func (s *Server) SetFiles(owner, name, branch string, files map[string]string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.mustRepo(owner, name)
	rp.updated = s.now()
	return rp.git.commitFiles(branch, files, "githubtest: SetFiles", s.now())
}

// Files is the file tree of branch of owner/name (path → content), as the git data API left
// it; nil if the branch does not exist.
func (s *Server) Files(owner, name, branch string) map[string]string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.mustRepo(owner, name)
	sha, ok := rp.git.refs["refs/heads/"+branch]
	if !ok {
		return nil
	}
	return rp.git.files(sha)
}

// Head is the commit id branch of owner/name points at; empty if there is no such branch.
func (s *Server) Head(owner, name, branch string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustRepo(owner, name).git.refs["refs/heads/"+branch]
}

// emptyRepo is GitHub's answer to the git data API on a repository without commits.
func emptyRepo(rq *request) (response, bool) {
	if rq.lagging || len(rq.repo.git.refs) == 0 {
		return errorReply(http.StatusConflict, "Git Repository is empty."), true
	}
	return response{}, false
}

func (s *Server) gitURL(rp *repo, kind, sha string) string {
	return fmt.Sprintf("%s/repos/%s/git/%s/%s", s.URL, rp.fullName(), kind, sha)
}

func created(body any, location string) response {
	return response{status: http.StatusCreated, body: body, header: http.Header{"Location": {location}}}
}

func (s *Server) createBlob(rq *request) response {
	if resp, empty := emptyRepo(rq); empty {
		return resp
	}
	in, err := decode[struct {
		Content  string `json:"content"`
		Encoding string `json:"encoding"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	content := []byte(in.Content)
	switch in.Encoding {
	case "", "utf-8":
	case "base64":
		if content, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(in.Content, "\n", "")); err != nil {
			return validationFailed("Blob", "content", "invalid", "content is not valid Base64")
		}
	default:
		return validationFailed("Blob", "encoding", "invalid", fmt.Sprintf("encoding %q is not utf-8 or base64", in.Encoding))
	}
	sha := rq.repo.git.putBlob(content)
	u := s.gitURL(rq.repo, "blobs", sha)
	return created(map[string]any{"sha": sha, "url": u}, u)
}

// createTree builds a tree from base_tree and the entries: an entry with content adds a
// blob, one with sha adds that blob, tree (placed under the path) or submodule, and one with
// sha null deletes the path and everything below it.
func (s *Server) createTree(rq *request) response {
	if resp, empty := emptyRepo(rq); empty {
		return resp
	}
	in, err := decode[struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path    string          `json:"path"`
			Mode    string          `json:"mode"`
			Type    string          `json:"type"`
			SHA     json.RawMessage `json:"sha"` // absent, null (delete) or a string
			Content *string         `json:"content"`
		} `json:"tree"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	g := rq.repo.git
	entries := map[string]treeEntry{}
	if in.BaseTree != "" {
		base, ok := g.trees[in.BaseTree]
		if !ok {
			return validationFailed("Tree", "base_tree", "invalid", "base_tree "+in.BaseTree+" is not a tree of this repository")
		}
		maps.Copy(entries, base)
	}
	for i, e := range in.Tree {
		field := fmt.Sprintf("tree[%d]", i)
		if e.Path == "" || strings.HasPrefix(e.Path, "/") || strings.HasSuffix(e.Path, "/") {
			return validationFailed("Tree", field+".path", "invalid", "tree.path must be relative and name a file: "+e.Path)
		}
		var sha *string
		if len(e.SHA) > 0 && string(e.SHA) != "null" {
			if err := json.Unmarshal(e.SHA, &sha); err != nil {
				return s.badBody(err)
			}
		}
		mode := e.Mode
		if mode == "" {
			mode = map[string]string{"tree": "040000", "commit": "160000"}[e.Type]
		}
		if mode == "" {
			mode = "100644"
		}
		removePath(entries, e.Path)
		switch {
		case len(e.SHA) > 0 && e.Content != nil:
			return validationFailed("Tree", field, "invalid", "give tree.sha or tree.content, not both")
		case string(e.SHA) == "null":
			// deleted above
		case e.Content != nil:
			if e.Type != "blob" {
				return validationFailed("Tree", field+".type", "invalid", "content needs type blob")
			}
			entries[e.Path] = treeEntry{mode: mode, kind: "blob", sha: g.putBlob([]byte(*e.Content))}
		case sha == nil:
			return validationFailed("Tree", field, "missing_field", "tree.sha or tree.content is required")
		case e.Type == "tree":
			sub, ok := g.trees[*sha]
			if !ok || mode != "040000" {
				return validationFailed("Tree", field+".sha", "invalid", *sha+" is not a tree of this repository (or mode is not 040000)")
			}
			for p, se := range sub {
				entries[e.Path+"/"+p] = se
			}
		case e.Type == "blob":
			if _, ok := g.blobs[*sha]; !ok || mode == "040000" || mode == "160000" {
				return validationFailed("Tree", field+".sha", "invalid", *sha+" is not a blob of this repository (or mode is not a file's)")
			}
			entries[e.Path] = treeEntry{mode: mode, kind: "blob", sha: *sha}
		case e.Type == "commit":
			entries[e.Path] = treeEntry{mode: "160000", kind: "commit", sha: *sha}
		}
	}
	sha := g.putTree(entries)
	return created(s.treeJSON(rq.repo, sha), s.gitURL(rq.repo, "trees", sha))
}

// removePath deletes path and everything below it, and any file that is a parent directory
// of it, so that the new entry at path does not clash.
func removePath(entries map[string]treeEntry, path string) {
	for p := range entries {
		if p == path || strings.HasPrefix(p, path+"/") || strings.HasPrefix(path, p+"/") {
			delete(entries, p)
		}
	}
}

// treeJSON lists the tree recursively (every blob with its full path), as GitHub's
// ?recursive=1 listing does; GitHub's answer to create-tree lists only the top level.
func (s *Server) treeJSON(rp *repo, sha string) map[string]any {
	entries := rp.git.trees[sha]
	list := []map[string]any{}
	for _, path := range slices.Sorted(maps.Keys(entries)) {
		e := entries[path]
		item := map[string]any{"path": path, "mode": e.mode, "type": e.kind, "sha": e.sha}
		if e.kind == "blob" {
			item["size"] = len(rp.git.blobs[e.sha])
			item["url"] = s.gitURL(rp, "blobs", e.sha)
		}
		list = append(list, item)
	}
	return map[string]any{"sha": sha, "url": s.gitURL(rp, "trees", sha), "truncated": false, "tree": list}
}

func (s *Server) createCommit(rq *request) response {
	if resp, empty := emptyRepo(rq); empty {
		return resp
	}
	type person struct {
		Name  string     `json:"name"`
		Email string     `json:"email"`
		Date  *time.Time `json:"date"`
	}
	in, err := decode[struct {
		Message   string   `json:"message"`
		Tree      string   `json:"tree"`
		Parents   []string `json:"parents"`
		Author    *person  `json:"author"`
		Committer *person  `json:"committer"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	g := rq.repo.git
	if _, ok := g.trees[in.Tree]; !ok {
		return validationFailed("Commit", "tree", "invalid", "Tree SHA does not exist")
	}
	for _, p := range in.Parents {
		if g.commits[p] == nil {
			return validationFailed("Commit", "parents", "invalid", "Parent SHA does not exist or is not a commit object")
		}
	}
	who := func(p *person, def gitPerson) gitPerson {
		if p == nil {
			return def
		}
		out := gitPerson{name: p.Name, email: p.Email, date: s.now()}
		if p.Date != nil {
			out.date = p.Date.UTC()
		}
		return out
	}
	bot := gitPerson{name: s.BotLogin, email: fmt.Sprintf("%d+%s@users.noreply.github.com", s.userID(s.BotLogin), s.BotLogin), date: s.now()}
	c := &gitCommit{tree: in.Tree, message: in.Message, parents: in.Parents, author: who(in.Author, bot)}
	c.committer = who(in.Committer, c.author)
	sha := g.putCommit(c)
	return created(s.commitJSON(rq.repo, c), s.gitURL(rq.repo, "commits", sha))
}

func (s *Server) commitJSON(rp *repo, c *gitCommit) map[string]any {
	person := func(p gitPerson) map[string]any {
		return map[string]any{"name": p.name, "email": p.email, "date": p.date.Format(time.RFC3339)}
	}
	parents := []map[string]any{}
	for _, p := range c.parents {
		parents = append(parents, map[string]any{"sha": p, "url": s.gitURL(rp, "commits", p), "html_url": s.URL + "/" + rp.fullName() + "/commit/" + p})
	}
	return map[string]any{
		"sha": c.sha, "node_id": "C_" + c.sha[:16], "url": s.gitURL(rp, "commits", c.sha),
		"html_url": s.URL + "/" + rp.fullName() + "/commit/" + c.sha, "message": c.message,
		"author": person(c.author), "committer": person(c.committer),
		"tree":         map[string]any{"sha": c.tree, "url": s.gitURL(rp, "trees", c.tree)},
		"parents":      parents,
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
	}
}

func (s *Server) refJSON(rp *repo, ref string) map[string]any {
	sha := rp.git.refs[ref]
	return map[string]any{
		"ref": ref, "node_id": "REF_" + strings.ReplaceAll(ref, "/", "_"),
		"url":    fmt.Sprintf("%s/repos/%s/git/%s", s.URL, rp.fullName(), ref),
		"object": map[string]any{"type": "commit", "sha": sha, "url": s.gitURL(rp, "commits", sha)},
	}
}

func (s *Server) createRef(rq *request) response {
	if resp, empty := emptyRepo(rq); empty {
		return resp
	}
	in, err := decode[struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	g := rq.repo.git
	switch {
	case !strings.HasPrefix(in.Ref, "refs/") || strings.Count(in.Ref, "/") < 2:
		return validationFailed("Reference", "ref", "invalid", "Reference name must start with 'refs/' and have at least two slashes.")
	case g.refs[in.Ref] != "":
		return validationFailed("Reference", "ref", "already_exists", "Reference already exists")
	case g.commits[in.SHA] == nil:
		return validationFailed("Reference", "sha", "invalid", "Object does not exist")
	}
	g.refs[in.Ref] = in.SHA
	rq.repo.updated = s.now()
	return created(s.refJSON(rq.repo, in.Ref), fmt.Sprintf("%s/repos/%s/git/%s", s.URL, rq.repo.fullName(), in.Ref))
}

// updateRef moves heads/<branch> (the path's ref never starts with refs/, as GitHub
// requires) to sha; without force the move must be a fast-forward.
func (s *Server) updateRef(rq *request) response {
	if resp, empty := emptyRepo(rq); empty {
		return resp
	}
	in, err := decode[struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	g, ref := rq.repo.git, "refs/"+rq.vars["ref"]
	old, ok := g.refs[ref]
	switch {
	case !ok:
		return validationFailed("Reference", "ref", "invalid", "Reference does not exist")
	case g.commits[in.SHA] == nil:
		return validationFailed("Reference", "sha", "invalid", "Object does not exist")
	case !in.Force && !g.isAncestor(old, in.SHA):
		return validationFailed("Reference", "sha", "invalid", "Update is not a fast forward")
	}
	g.refs[ref] = in.SHA
	rq.repo.updated = s.now()
	return reply(http.StatusOK, s.refJSON(rq.repo, ref))
}
