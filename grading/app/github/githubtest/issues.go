package githubtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Comment is an issue or pull-request comment.
type Comment struct {
	ID    int64
	Login string
	Body  string
	// Updated counts the edits since creation.
	Updated int
}

type comment struct {
	Comment
	issue            int
	bot              bool
	created, updated time.Time
}

type pull struct {
	id, number                int64
	headRef, headSHA, baseRef string
	state                     string
	created, updated          time.Time
}

// AddComment seeds a comment by login (a person, not the App) on issue or pull request
// number issue of owner/name, and returns its id.
func (s *Server) AddComment(owner, name string, issue int, login, body string) int64 {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.mustRepo(owner, name)
	c := &comment{Comment: Comment{ID: s.nextID(), Login: login, Body: body}, issue: issue, created: s.now(), updated: s.now()}
	rp.comments = append(rp.comments, c)
	return c.ID
}

// Comments returns copies of the comments on issue or pull request number issue of
// owner/name, oldest first.
func (s *Server) Comments(owner, name string, issue int) []Comment {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.mustRepo(owner, name).comments {
		if c.issue == issue {
			out = append(out, c.Comment)
		}
	}
	return out
}

// SetPull opens pull request number of owner/name from headRef at headSHA into baseRef, or
// moves an existing one's head (a push to its branch).
func (s *Server) SetPull(owner, name string, number int, headRef, headSHA, baseRef string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.mustRepo(owner, name)
	p := rp.pulls[number]
	if p == nil {
		p = &pull{id: s.nextID(), number: int64(number), state: "open", created: s.now()}
		rp.pulls[number] = p
	}
	p.headRef, p.headSHA, p.baseRef, p.updated = headRef, headSHA, baseRef, s.now()
}

func (rp *repo) sortedPulls() []*pull {
	var out []*pull
	for _, p := range rp.pulls {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *pull) int { return int(a.number - b.number) })
	return out
}

// paginate cuts a list of total items to the page rq asks for (per_page defaults to 30 and
// is capped at 100, as on GitHub) and makes GitHub's Link header for it.
func (s *Server) paginate(rq *request, total int) (lo, hi int, header http.Header) {
	perPage, err := strconv.Atoi(rq.query.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(rq.query.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (total+perPage-1)/perPage)
	lo = min((page-1)*perPage, total)
	hi = min(lo+perPage, total)

	link := func(n int, rel string) string {
		q := url.Values{}
		for k, v := range rq.query {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(perPage))
		u := url.URL{Path: rq.prefix + rq.path, RawQuery: q.Encode()}
		return fmt.Sprintf(`<%s%s>; rel="%s"`, s.URL, u.String(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		header = http.Header{"Link": {strings.Join(links, ", ")}}
	}
	return lo, hi, header
}

func (s *Server) commentJSON(rp *repo, c *comment) map[string]any {
	api := s.URL + "/repos/" + rp.fullName()
	kind := "issues"
	if rp.pulls[c.issue] != nil {
		kind = "pull"
	}
	m := map[string]any{
		"id": c.ID, "node_id": nodeID("IC", c.ID), "body": c.Body,
		"url":        fmt.Sprintf("%s/issues/comments/%d", api, c.ID),
		"html_url":   fmt.Sprintf("%s/%s/%s/%d#issuecomment-%d", s.URL, rp.fullName(), kind, c.issue, c.ID),
		"issue_url":  fmt.Sprintf("%s/issues/%d", api, c.issue),
		"created_at": c.created, "updated_at": c.updated,
		"author_association": "NONE", "performed_via_github_app": nil,
	}
	if c.bot {
		m["user"] = s.userJSON(c.Login, "Bot")
		m["performed_via_github_app"] = s.appJSON()
	} else {
		m["user"] = s.userJSON(c.Login, "User")
		if _, ok := rp.collaborators[strings.ToLower(c.Login)]; ok {
			m["author_association"] = "COLLABORATOR"
		}
	}
	return m
}

func (s *Server) listComments(rq *request) response {
	issue, _ := strconv.Atoi(rq.vars["issue_number"])
	var since time.Time
	if v := rq.query.Get("since"); v != "" {
		since, _ = time.Parse(time.RFC3339, v) // the validator checked the format
	}
	var list []*comment
	for _, c := range rq.repo.comments {
		if c.issue == issue && !c.updated.Before(since) {
			list = append(list, c)
		}
	}
	lo, hi, header := s.paginate(rq, len(list))
	items := []map[string]any{}
	for _, c := range list[lo:hi] {
		items = append(items, s.commentJSON(rq.repo, c))
	}
	return response{status: http.StatusOK, body: items, header: header}
}

func (s *Server) createComment(rq *request) response {
	in, err := decode[struct {
		Body string `json:"body"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	issue, _ := strconv.Atoi(rq.vars["issue_number"])
	c := &comment{Comment: Comment{ID: s.nextID(), Login: s.BotLogin, Body: in.Body}, issue: issue, bot: true, created: s.now(), updated: s.now()}
	rq.repo.comments = append(rq.repo.comments, c)
	body := s.commentJSON(rq.repo, c)
	return created(body, body["url"].(string))
}

func (s *Server) updateComment(rq *request) response {
	in, err := decode[struct {
		Body string `json:"body"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	for _, c := range rq.repo.comments {
		if fmt.Sprint(c.ID) == rq.vars["comment_id"] {
			c.Body, c.updated = in.Body, s.now()
			c.Updated++
			return reply(http.StatusOK, s.commentJSON(rq.repo, c))
		}
	}
	return errorReply(http.StatusNotFound, "Not Found")
}

// pullMinimalJSON is a pull-request-minimal, as check runs list them.
func (s *Server) pullMinimalJSON(rp *repo, p *pull) map[string]any {
	short := map[string]any{"id": rp.id, "url": s.URL + "/repos/" + rp.fullName(), "name": rp.name}
	return map[string]any{
		"id": p.id, "number": p.number, "url": fmt.Sprintf("%s/repos/%s/pulls/%d", s.URL, rp.fullName(), p.number),
		"head": map[string]any{"ref": p.headRef, "sha": p.headSHA, "repo": short},
		"base": map[string]any{"ref": p.baseRef, "sha": rp.git.refs["refs/heads/"+p.baseRef], "repo": short},
	}
}

// pullJSON is a pull-request-simple. Its author is the repository's owner.
func (s *Server) pullJSON(rp *repo, p *pull) map[string]any {
	api := s.URL + "/repos/" + rp.fullName()
	html := fmt.Sprintf("%s/%s/pull/%d", s.URL, rp.fullName(), p.number)
	owner := s.userJSON(rp.owner, s.ownerKind(rp.owner))
	branch := func(ref, sha string) map[string]any {
		return map[string]any{"label": rp.owner + ":" + ref, "ref": ref, "sha": sha, "user": owner, "repo": s.repoSummary(rp)}
	}
	return map[string]any{
		"url": fmt.Sprintf("%s/pulls/%d", api, p.number), "id": p.id, "node_id": nodeID("PR", p.id),
		"html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch",
		"issue_url": fmt.Sprintf("%s/issues/%d", api, p.number), "commits_url": fmt.Sprintf("%s/pulls/%d/commits", api, p.number),
		"comments_url": fmt.Sprintf("%s/issues/%d/comments", api, p.number), "statuses_url": api + "/statuses/" + p.headSHA,
		"number": p.number, "state": p.state, "locked": false, "title": fmt.Sprintf("Pull request #%d", p.number),
		"user": owner, "body": nil, "labels": []any{}, "milestone": nil, "assignee": nil, "assignees": []any{},
		"created_at": p.created, "updated_at": p.updated, "closed_at": nil, "merged_at": nil, "merge_commit_sha": nil,
		"head": branch(p.headRef, p.headSHA), "base": branch(p.baseRef, rp.git.refs["refs/heads/"+p.baseRef]),
		"author_association": "OWNER", "auto_merge": nil, "draft": false,
	}
}

// listPulls filters by state (default open), head (owner:branch) and base, newest first
// unless direction=asc. A head without an owner is ignored, as GitHub ignores it.
func (s *Server) listPulls(rq *request) response {
	state := rq.query.Get("state")
	if state == "" {
		state = "open"
	}
	var list []*pull
	for _, p := range rq.repo.sortedPulls() {
		if state != "all" && p.state != state {
			continue
		}
		if owner, ref, ok := strings.Cut(rq.query.Get("head"), ":"); ok && (!strings.EqualFold(owner, rq.repo.owner) || ref != p.headRef) {
			continue
		}
		if base := rq.query.Get("base"); base != "" && base != p.baseRef {
			continue
		}
		list = append(list, p)
	}
	if rq.query.Get("direction") != "asc" {
		slices.Reverse(list)
	}
	return s.pullPage(rq, list)
}

func (s *Server) listCommitPulls(rq *request) response {
	var list []*pull
	for _, p := range rq.repo.sortedPulls() {
		if p.headSHA == rq.vars["commit_sha"] {
			list = append(list, p)
		}
	}
	return s.pullPage(rq, list)
}

func (s *Server) pullPage(rq *request, list []*pull) response {
	lo, hi, header := s.paginate(rq, len(list))
	items := []map[string]any{}
	for _, p := range list[lo:hi] {
		items = append(items, s.pullJSON(rq.repo, p))
	}
	return response{status: http.StatusOK, body: items, header: header}
}
