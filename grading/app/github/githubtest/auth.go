package githubtest

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// installation is one installation of the App on an account.
type installation struct {
	id      int64
	account string
	created time.Time
}

// accessToken is an installation token minted by apps/create-installation-access-token.
type accessToken struct {
	value   string
	inst    int64
	expires time.Time
	repos   map[int64]bool // the repositories it was narrowed to; nil for all of the installation's
}

// tokenLifetime is GitHub's: installation tokens expire after one hour.
const tokenLifetime = time.Hour

// appPermissions are the permissions the fake App was granted. They are reported, not
// enforced.
var appPermissions = map[string]string{
	"administration": "write", "checks": "write", "contents": "write",
	"issues": "write", "metadata": "read", "pull_requests": "write",
}

// AddInstallation installs the App on account (an organization) under id. Repositories are
// added to it with AddRepo or created through it with the API.
func (s *Server) AddInstallation(id int64, account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installations[id] = &installation{id: id, account: account, created: s.now()}
}

// Token mints an installation token without the JWT exchange, for tests that drive go-github
// directly rather than through ghinstallation. The installation must exist.
func (s *Server) Token(installationID int64) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.installations[installationID] == nil {
		s.t.Fatalf("githubtest: Token: no installation %d (call AddInstallation first)", installationID)
	}
	return s.mintToken(installationID, nil).value
}

func (s *Server) mintToken(inst int64, repos map[int64]bool) *accessToken {
	tok := &accessToken{value: "ghs_" + randomString(36), inst: inst, expires: s.now().Add(tokenLifetime), repos: repos}
	s.tokens[tok.value] = tok
	return tok
}

func (t *accessToken) reaches(rp *repo) bool {
	return rp.installation == t.inst && (t.repos == nil || t.repos[rp.id])
}

// authorize checks the credentials of rq against what its operation needs (tmpl is its path
// template) and resolves the installation and repository it addresses. Missing or invalid
// credentials fail the test; a repository out of the token's reach is only a 404, as on
// GitHub, since an App may legitimately probe for access it lost.
func (s *Server) authorize(rq *request, tmpl, header string) (response, bool) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	cred = strings.TrimSpace(cred)
	if needsJWT(tmpl) {
		if !strings.EqualFold(scheme, "Bearer") || cred == "" {
			return s.unauthorized(rq, "A JSON web token could not be decoded", "no App JWT (Authorization: Bearer <jwt>)"), false
		}
		if err := s.verifyJWT(cred); err != nil {
			return s.unauthorized(rq, "A JSON web token could not be decoded", err.Error()), false
		}
		switch {
		case strings.Contains(tmpl, "{installation_id}"):
			id, _ := strconv.ParseInt(rq.vars["installation_id"], 10, 64)
			if rq.inst = s.installations[id]; rq.inst == nil {
				return errorReply(http.StatusNotFound, "Not Found"), false
			}
		case rq.vars["owner"] != "" && rq.vars["repo"] != "":
			// apps/get-repo-installation: any repository the App is installed on, whichever
			// installation. It does not count towards SetGenerateLag.
			rp := s.repos[repoKey(rq.vars["owner"], rq.vars["repo"])]
			if rp == nil || s.installations[rp.installation] == nil {
				return errorReply(http.StatusNotFound, "Not Found"), false
			}
			rq.repo, rq.inst = rp, s.installations[rp.installation]
		}
		return response{}, true
	}

	if !(strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "Bearer")) || cred == "" {
		return s.unauthorized(rq, "Requires authentication", "no installation token (Authorization: token <ghs_…>)"), false
	}
	tok := s.tokens[cred]
	switch {
	case tok == nil && strings.Count(cred, ".") == 2:
		return s.unauthorized(rq, "Bad credentials", "an App JWT was sent where an installation token is needed"), false
	case tok == nil:
		return s.unauthorized(rq, "Bad credentials", "unknown installation token"), false
	case !s.now().Before(tok.expires):
		return s.unauthorized(rq, "Bad credentials", "installation token expired at "+tok.expires.Format(time.RFC3339)), false
	}
	rq.token, rq.inst = tok, s.installations[tok.inst]

	switch {
	case rq.vars["owner"] != "" && rq.vars["repo"] != "":
		rp := s.repos[repoKey(rq.vars["owner"], rq.vars["repo"])]
		if rp == nil || !tok.reaches(rp) {
			return errorReply(http.StatusNotFound, "Not Found"), false
		}
		rq.repo = rp
		if rp.lag > 0 {
			rp.lag--
			rq.lagging = true
		}
	case rq.vars["template_owner"] != "":
		rp := s.repos[repoKey(rq.vars["template_owner"], rq.vars["template_repo"])]
		if rp == nil || (rp.private && !tok.reaches(rp)) {
			return errorReply(http.StatusNotFound, "Not Found"), false
		}
		rq.repo = rp
	case rq.vars["org"] != "":
		if !strings.EqualFold(rq.vars["org"], rq.inst.account) {
			return errorReply(http.StatusForbidden, "Resource not accessible by integration"), false
		}
	}
	return response{}, true
}

// needsJWT says whether the operation with path template tmpl is called as the App, with a
// JWT: everything under /app, and apps/get-repo-installation, which is not.
func needsJWT(tmpl string) bool {
	return tmpl == "/app" || strings.HasPrefix(tmpl, "/app/") || tmpl == "/repos/{owner}/{repo}/installation"
}

// unauthorized fails the test: the App must never call GitHub without valid credentials.
func (s *Server) unauthorized(rq *request, message, why string) response {
	s.t.Errorf("githubtest: %s (%s %s) is not authenticated: %s", rq.op, rq.method, rq.path, why)
	return errorReply(http.StatusUnauthorized, message)
}

// verifyJWT checks an App JWT as GitHub does: RS256 with the App's key, iss the App's id,
// not expired, issued in the past, valid for at most ten minutes.
func (s *Server) verifyJWT(raw string) error {
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return fmt.Errorf("JWT rejected: %w", err)
	}
	if claims.Issuer != strconv.FormatInt(s.AppID, 10) {
		return fmt.Errorf("JWT iss is %q, want the App id %d", claims.Issuer, s.AppID)
	}
	if claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return fmt.Errorf("JWT lacks iat or exp")
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute {
		return fmt.Errorf("JWT exp is more than 10 minutes after iat ('Expiration time' claim ('exp') is too far in the future)")
	}
	return nil
}

func (s *Server) getInstallation(rq *request) response {
	return reply(http.StatusOK, s.installationJSON(rq.inst))
}

// getApp is apps/get-authenticated: the App, with the count GitHub adds only when an App
// asks about itself.
func (s *Server) getApp(*request) response {
	app := s.appJSON()
	app["installations_count"] = len(s.installations)
	return reply(http.StatusOK, app)
}

// getRepoInstallation is apps/get-repo-installation; authorize resolved the installation.
func (s *Server) getRepoInstallation(rq *request) response {
	return reply(http.StatusOK, s.installationJSON(rq.inst))
}

func (s *Server) createAccessToken(rq *request) response {
	in, err := decode[struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}](rq)
	if err != nil {
		return s.badBody(err)
	}
	var narrowed map[int64]bool
	if len(in.Repositories)+len(in.RepositoryIDs) > 0 {
		narrowed = map[int64]bool{}
		find := func(match func(*repo) bool) bool {
			for _, rp := range s.repos {
				if rp.installation == rq.inst.id && match(rp) {
					narrowed[rp.id] = true
					return true
				}
			}
			return false
		}
		for _, name := range in.Repositories {
			if !find(func(rp *repo) bool { return strings.EqualFold(rp.name, name) }) {
				return errorReply(http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			}
		}
		for _, id := range in.RepositoryIDs {
			if !find(func(rp *repo) bool { return rp.id == id }) {
				return errorReply(http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			}
		}
	}
	perms := appPermissions
	if in.Permissions != nil {
		perms = in.Permissions
	}
	selection := "all"
	if narrowed != nil {
		selection = "selected"
	}
	tok := s.mintToken(rq.inst.id, narrowed)
	return reply(http.StatusCreated, map[string]any{
		"token": tok.value, "expires_at": tok.expires.Format(time.RFC3339),
		"permissions": perms, "repository_selection": selection,
	})
}

func (s *Server) installationJSON(in *installation) map[string]any {
	return map[string]any{
		"id": in.id, "app_id": s.AppID, "app_slug": s.AppSlug, "client_id": fmt.Sprintf("Iv1.%d", s.AppID),
		"target_id": s.userID(in.account), "target_type": "Organization",
		"account":              s.userJSON(in.account, "Organization"),
		"repository_selection": "selected",
		"access_tokens_url":    fmt.Sprintf("%s/app/installations/%d/access_tokens", s.URL, in.id),
		"repositories_url":     s.URL + "/installation/repositories",
		"html_url":             fmt.Sprintf("%s/organizations/%s/settings/installations/%d", s.URL, in.account, in.id),
		"events":               []string{"check_run", "check_suite", "pull_request", "push"},
		"permissions":          appPermissions,
		"created_at":           in.created, "updated_at": in.created,
		"single_file_name": nil, "suspended_by": nil, "suspended_at": nil,
	}
}

// appJSON is the App as GitHub shows it in check runs and bot comments.
func (s *Server) appJSON() map[string]any {
	t := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return map[string]any{
		"id": s.AppID, "slug": s.AppSlug, "node_id": nodeID("A", s.AppID), "client_id": fmt.Sprintf("Iv1.%d", s.AppID),
		"owner": s.userJSON("holdfast-ci", "Organization"), "name": "Holdfast (test)", "description": nil,
		"external_url": s.URL, "html_url": s.URL + "/apps/" + s.AppSlug,
		"created_at": t, "updated_at": t, "permissions": appPermissions,
		"events": []string{"check_run", "check_suite", "pull_request", "push"},
	}
}

// userJSON is a simple-user. kind is User, Organization or Bot.
func (s *Server) userJSON(login, kind string) map[string]any {
	id := s.userID(login)
	html := s.URL + "/" + login
	if kind == "Bot" {
		html = s.URL + "/apps/" + strings.TrimSuffix(login, "[bot]")
	}
	return map[string]any{
		"login": login, "id": id, "node_id": nodeID("U", id), "type": kind, "site_admin": false,
		"avatar_url": fmt.Sprintf("%s/avatars/u/%d", s.URL, id), "gravatar_id": "",
		"url": s.URL + "/users/" + login, "html_url": html,
	}
}

// userID gives each login a stable id.
func (s *Server) userID(login string) int64 {
	key := strings.ToLower(login)
	if id, ok := s.userIDs[key]; ok {
		return id
	}
	id := s.nextID()
	s.userIDs[key] = id
	return id
}

func nodeID(kind string, id int64) string { return fmt.Sprintf("%s_kgDO%d", kind, id) }

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphanumeric[randomInt(len(alphanumeric))]
	}
	return string(b)
}

func randomInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return int(v.Int64())
}
