package githubtest

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// repo is one repository and everything the fake keeps about it.
type repo struct {
	id            int64
	owner, name   string
	installation  int64
	private       bool
	isTemplate    bool
	archived      bool
	description   *string
	defaultBranch string
	template      string // owner/name of the template it was generated from
	created       time.Time
	updated       time.Time
	// lag is how many more requests see the repository empty (SetGenerateLag).
	lag           int
	collaborators map[string]string // login → permission
	git           *gitStore
	checkRuns     []*checkRun
	suites        map[string]int64 // head sha → check suite id
	comments      []*comment
	pulls         map[int]*pull
	tarballs      map[string]string // ref → directory (SetTarball)
}

// RepoOpts are the optional properties of a repository made with AddRepo.
type RepoOpts struct {
	Private    bool
	IsTemplate bool
	// DefaultBranch defaults to main.
	DefaultBranch string
	// ID defaults to a fresh one.
	ID int64
}

func repoKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

func (rp *repo) fullName() string { return rp.owner + "/" + rp.name }

// AddRepo creates owner/name in installation installationID (0 puts it in none, out of every
// token's reach). Like a repository made on GitHub without a README it is empty, and the git
// data API answers 409 on it, until SetFiles gives it a branch.
func (s *Server) AddRepo(installationID int64, owner, name string, opts *RepoOpts) {
	s.t.Helper()
	if opts == nil {
		opts = &RepoOpts{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repos[repoKey(owner, name)] != nil {
		s.t.Fatalf("githubtest: AddRepo: %s/%s exists already", owner, name)
	}
	rp := s.newRepo(installationID, owner, name)
	rp.private, rp.isTemplate = opts.Private, opts.IsTemplate
	if opts.DefaultBranch != "" {
		rp.defaultBranch = opts.DefaultBranch
	}
	if opts.ID != 0 {
		rp.id = opts.ID
	}
}

func (s *Server) newRepo(installationID int64, owner, name string) *repo {
	rp := &repo{
		id: s.nextID(), owner: owner, name: name, installation: installationID, defaultBranch: "main",
		created: s.now(), updated: s.now(),
		collaborators: map[string]string{}, git: newGitStore(), suites: map[string]int64{},
		pulls: map[int]*pull{}, tarballs: map[string]string{},
	}
	s.repos[repoKey(owner, name)] = rp
	return rp
}

// Collaborators returns the permission of each collaborator of owner/name by lower-case
// login, pending invitations included, e.g. {"learner": "push"}.
func (s *Server) Collaborators(owner, name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mustRepo(owner, name).collaborators)
}

// mustRepo is for the test-facing methods; the caller holds s.mu.
func (s *Server) mustRepo(owner, name string) *repo {
	s.t.Helper()
	rp := s.repos[repoKey(owner, name)]
	if rp == nil {
		s.t.Fatalf("githubtest: no repository %s/%s (call AddRepo first)", owner, name)
	}
	return rp
}

// ownerKind says whether a login is an organization the App is installed on or a user.
func (s *Server) ownerKind(login string) string {
	for _, in := range s.installations {
		if strings.EqualFold(in.account, login) {
			return "Organization"
		}
	}
	return "User"
}

// repoJSON is a full-repository. While the repository looks empty to the request its size is
// 0, as GitHub shows a repository whose contents are still being copied.
func (s *Server) repoJSON(rp *repo, lagging bool) map[string]any {
	m := s.repoSummary(rp)
	api := s.URL + "/repos/" + rp.fullName()
	host := strings.TrimPrefix(s.URL, "http://")
	size := 0
	if !lagging {
		size = rp.git.sizeKB(rp.git.refs["refs/heads/"+rp.defaultBranch])
	}
	visibility := "public"
	if rp.private {
		visibility = "private"
	}
	maps.Copy(m, map[string]any{
		"visibility": visibility, "description": rp.description, "fork": false,
		"clone_url": m["html_url"].(string) + ".git", "svn_url": m["html_url"],
		"git_url": "git://" + host + "/" + rp.fullName() + ".git", "ssh_url": "git@" + host + ":" + rp.fullName() + ".git",
		"is_template": rp.isTemplate, "archived": rp.archived, "disabled": false, "size": size,
		"created_at": rp.created, "updated_at": rp.updated, "pushed_at": rp.updated,
		"has_issues": true, "has_projects": true, "has_wiki": true, "has_downloads": true,
		"archive_url": api + "/{archive_format}{/ref}", "git_refs_url": api + "/git/refs{/sha}",
		"pulls_url": api + "/pulls{/number}", "collaborators_url": api + "/collaborators{/collaborator}",
		"issue_comment_url": api + "/issues/comments{/number}",
	})
	if rp.template != "" {
		if tp := s.repos[strings.ToLower(rp.template)]; tp != nil {
			m["template_repository"] = s.repoSummary(tp)
		}
	}
	return m
}

// repoSummary is the handful of fields every repository object of GitHub's carries; the
// filler completes it to whichever repository schema the answer uses.
func (s *Server) repoSummary(rp *repo) map[string]any {
	return map[string]any{
		"id": rp.id, "node_id": nodeID("R", rp.id), "name": rp.name, "full_name": rp.fullName(),
		"owner": s.userJSON(rp.owner, s.ownerKind(rp.owner)), "private": rp.private,
		"html_url": s.URL + "/" + rp.fullName(), "url": s.URL + "/repos/" + rp.fullName(),
		"default_branch": rp.defaultBranch,
	}
}

// validationFailed is GitHub's 422 for a body that fits the schema but not the state.
func validationFailed(resource, field, code, message string) response {
	return reply(http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "status": "422",
		"errors": []map[string]any{{"resource": resource, "field": field, "code": code, "message": message}},
	})
}

func (s *Server) getRepo(rq *request) response {
	return reply(http.StatusOK, s.repoJSON(rq.repo, rq.lagging))
}

func (s *Server) updateRepo(rq *request) response {
	in, err := decode[struct {
		Name          *string `json:"name"`
		Description   *string `json:"description"`
		Private       *bool   `json:"private"`
		Visibility    *string `json:"visibility"`
		IsTemplate    *bool   `json:"is_template"`
		DefaultBranch *string `json:"default_branch"`
		Archived      *bool   `json:"archived"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	rp := rq.repo
	if in.Name != nil && !strings.EqualFold(*in.Name, rp.name) {
		if s.repos[repoKey(rp.owner, *in.Name)] != nil {
			return validationFailed("Repository", "name", "custom", "name already exists on this account")
		}
		delete(s.repos, repoKey(rp.owner, rp.name))
		rp.name = *in.Name
		s.repos[repoKey(rp.owner, rp.name)] = rp
	}
	if in.DefaultBranch != nil {
		if _, ok := rp.git.refs["refs/heads/"+*in.DefaultBranch]; !ok && len(rp.git.refs) > 0 {
			return validationFailed("Repository", "default_branch", "invalid", "")
		}
		rp.defaultBranch = *in.DefaultBranch
	}
	if in.Description != nil {
		rp.description = in.Description
	}
	if in.Private != nil {
		rp.private = *in.Private
	}
	if in.Visibility != nil {
		rp.private = *in.Visibility == "private"
	}
	if in.IsTemplate != nil {
		rp.isTemplate = *in.IsTemplate
	}
	if in.Archived != nil {
		rp.archived = *in.Archived
	}
	rp.updated = s.now()
	return reply(http.StatusOK, s.repoJSON(rp, rq.lagging))
}

func (s *Server) createOrgRepo(rq *request) response {
	in, err := decode[struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
		Private     bool    `json:"private"`
		Visibility  string  `json:"visibility"`
		IsTemplate  bool    `json:"is_template"`
		AutoInit    bool    `json:"auto_init"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	org := rq.vars["org"]
	if s.repos[repoKey(org, in.Name)] != nil {
		return validationFailed("Repository", "name", "custom", "name already exists on this account")
	}
	rp := s.newRepo(rq.inst.id, org, in.Name)
	rp.description, rp.isTemplate = in.Description, in.IsTemplate
	rp.private = in.Private || in.Visibility == "private"
	if in.AutoInit {
		rp.git.commitFiles(rp.defaultBranch, map[string]string{"README.md": "# " + in.Name + "\n"}, "Initial commit", s.now())
	}
	resp := reply(http.StatusCreated, s.repoJSON(rp, false))
	resp.header = http.Header{"Location": {s.URL + "/repos/" + rp.fullName()}}
	return resp
}

// generateRepo copies the template's default branch (all branches with
// include_all_branches) into a new repository as one fresh commit per branch, as GitHub does.
func (s *Server) generateRepo(rq *request) response {
	in, err := decode[struct {
		Owner              string  `json:"owner"`
		Name               string  `json:"name"`
		Description        *string `json:"description"`
		IncludeAllBranches bool    `json:"include_all_branches"`
		Private            bool    `json:"private"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	tp := rq.repo
	if !tp.isTemplate {
		return validationFailed("Repository", "template_repository", "invalid", tp.fullName()+" is not a template repository")
	}
	owner := in.Owner
	if owner == "" {
		owner = rq.inst.account
	}
	if !strings.EqualFold(owner, rq.inst.account) {
		return errorReply(http.StatusForbidden, "Resource not accessible by integration")
	}
	if s.repos[repoKey(owner, in.Name)] != nil {
		return validationFailed("Repository", "name", "custom", "name already exists on this account")
	}
	rp := s.newRepo(rq.inst.id, owner, in.Name)
	rp.description, rp.private, rp.template, rp.defaultBranch = in.Description, in.Private, tp.fullName(), tp.defaultBranch
	for ref, sha := range tp.git.refs {
		branch, ok := strings.CutPrefix(ref, "refs/heads/")
		if !ok || (!in.IncludeAllBranches && branch != tp.defaultBranch) {
			continue
		}
		rp.git.commitFiles(branch, tp.git.files(sha), "Initial commit", s.now())
	}
	rp.lag = s.generateLag
	resp := reply(http.StatusCreated, s.repoJSON(rp, rp.lag > 0))
	resp.header = http.Header{"Location": {s.URL + "/repos/" + rp.fullName()}}
	return resp
}

// invitationPermission maps a collaborator permission to the name invitations use.
var invitationPermission = map[string]string{"pull": "read", "triage": "triage", "push": "write", "maintain": "maintain", "admin": "admin"}

// addCollaborator records the permission at once. GitHub invites a new collaborator (201 with
// the invitation) and only changes the permission of an existing one (204); the fake does
// the same but treats the invitation as accepted.
func (s *Server) addCollaborator(rq *request) response {
	in, err := decode[struct {
		Permission string `json:"permission"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	perm := in.Permission
	if perm == "" {
		perm = "push"
	}
	if invitationPermission[perm] == "" {
		return validationFailed("Repository", "permission", "invalid", fmt.Sprintf("permission %q is not one of pull, triage, push, maintain, admin", perm))
	}
	user, rp := rq.vars["username"], rq.repo
	if strings.EqualFold(user, rp.owner) {
		return validationFailed("Repository", "collaborator", "custom", "Repository owner cannot be a collaborator")
	}
	_, existing := rp.collaborators[strings.ToLower(user)]
	rp.collaborators[strings.ToLower(user)] = perm
	if existing {
		return response{status: http.StatusNoContent}
	}
	id := s.nextID()
	return reply(http.StatusCreated, map[string]any{
		"id": id, "node_id": nodeID("RI", id), "repository": s.repoSummary(rp),
		"invitee": s.userJSON(user, "User"), "inviter": s.userJSON(s.BotLogin, "Bot"),
		"permissions": invitationPermission[perm], "created_at": s.now(), "expired": false,
		"url":      fmt.Sprintf("%s/repos/%s/invitations/%d", s.URL, rp.fullName(), id),
		"html_url": s.URL + "/" + rp.fullName() + "/invitations",
	})
}

func (s *Server) removeCollaborator(rq *request) response {
	delete(rq.repo.collaborators, strings.ToLower(rq.vars["username"]))
	return response{status: http.StatusNoContent}
}
