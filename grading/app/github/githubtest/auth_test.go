package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v66/github"
)

func TestInstallationTokenFlowAsTheAppDoesIt(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	apps, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID, s.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	apps.BaseURL = s.URL
	jwtClient := github.NewClient(&http.Client{Transport: apps})
	jwtClient.BaseURL = mustParse(t, s.URL+"/")
	inst, _, err := jwtClient.Apps.GetInstallation(ctx(t), instID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.GetAppSlug()+"[bot]" != s.BotLogin || inst.GetAccount().GetLogin() != org {
		t.Errorf("installation = slug %q on %q; want %q on %q", inst.GetAppSlug(), inst.GetAccount().GetLogin(), s.BotLogin, org)
	}

	repo, _, err := appClient(t, s, instID).Repositories.Get(ctx(t), org, "learner")
	if err != nil {
		t.Fatal(err)
	}
	if repo.GetFullName() != "classroom/learner" || repo.GetDefaultBranch() != "main" {
		t.Errorf("repo = %s on %s", repo.GetFullName(), repo.GetDefaultBranch())
	}
	var tokens int
	for _, c := range s.Calls() {
		if c.OperationID == "apps/create-installation-access-token" {
			tokens++
		}
	}
	if tokens != 1 {
		t.Errorf("the App fetched %d installation tokens, want 1", tokens)
	}
}

func TestRepoCallsWithoutValidTokenFailTheTest(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, auth, want string }{
		{"no Authorization header", "", "no installation token"},
		{"an unknown token", "token ghs_madeup", "unknown installation token"},
		{"the App JWT instead of a token", "", "an App JWT was sent"},
		{"basic auth", "Basic dXNlcjpwYXNz", "no installation token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &spyTB{TB: t}
			s := newFake(spy)
			auth := tc.auth
			if strings.Contains(tc.name, "JWT") {
				auth = "Bearer " + signJWT(t, s.AppID, s.PrivateKeyPEM, time.Minute)
			}
			status, _ := raw(t, s, auth, "GET", "/repos/classroom/learner", "")
			if status != http.StatusUnauthorized {
				t.Errorf("answered %d, want 401", status)
			}
			spy.expectFailure(t, "repos/get", "not authenticated", tc.want)
		})
	}
}

func TestAppJWTsAreVerified(t *testing.T) {
	t.Parallel()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(otherKey)})
	cases := []struct {
		name string
		jwt  func(s *Server) string
		want string
	}{
		{"signed with another key", func(s *Server) string { return signJWT(t, s.AppID, otherPEM, time.Minute) }, "verification error"},
		{"another App's id", func(s *Server) string { return signJWT(t, s.AppID+1, s.PrivateKeyPEM, time.Minute) }, "iss"},
		{"valid for an hour", func(s *Server) string { return signJWT(t, s.AppID, s.PrivateKeyPEM, time.Hour) }, "too far in the future"},
		{"expired", func(s *Server) string { return signJWT(t, s.AppID, s.PrivateKeyPEM, -time.Minute) }, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &spyTB{TB: t}
			s := newFake(spy)
			status, _ := raw(t, s, "Bearer "+tc.jwt(s), "POST", "/app/installations/7/access_tokens", "")
			if status != http.StatusUnauthorized {
				t.Errorf("answered %d, want 401", status)
			}
			spy.expectFailure(t, "apps/create-installation-access-token", tc.want)
		})
	}

	t.Run("through ghinstallation with the wrong key", func(t *testing.T) {
		t.Parallel()
		spy := &spyTB{TB: t}
		s := newFake(spy)
		tr, err := ghinstallation.New(http.DefaultTransport, s.AppID, instID, otherPEM)
		if err != nil {
			t.Fatal(err)
		}
		tr.BaseURL = s.URL
		c := github.NewClient(&http.Client{Transport: tr})
		c.BaseURL = mustParse(t, s.URL+"/")
		if _, _, err := c.Repositories.Get(ctx(t), org, "learner"); err == nil {
			t.Error("a client with the wrong key read the repository")
		}
		spy.expectFailure(t, "apps/create-installation-access-token", "verification error")
	})
}

func TestTokensReachOnlyTheirInstallationsRepos(t *testing.T) {
	t.Parallel()
	s := newFake(t) // any reported failure fails this test: a 404 for no access is not one
	s.AddInstallation(8, "other-school")
	s.AddRepo(8, "other-school", "secret", &RepoOpts{Private: true})
	c := tokenClient(t, s, instID)
	if _, _, err := c.Repositories.Get(ctx(t), "other-school", "secret"); statusOf(err) != http.StatusNotFound {
		t.Errorf("reading another installation's repository: %v, want 404", err)
	}

}

func TestNarrowedTokensReachOnlyTheirRepos(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddRepo(instID, org, "second", nil)
	status, body := raw(t, s, "Bearer "+signJWT(t, s.AppID, s.PrivateKeyPEM, time.Minute), "POST",
		"/app/installations/7/access_tokens", `{"repositories":["second"]}`)
	if status != http.StatusCreated {
		t.Fatalf("minting a narrowed token answered %d: %s", status, body)
	}
	var tok github.InstallationToken
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.GetToken(), "ghs_") || tok.GetExpiresAt().Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("token %q expires %v; want ghs_… valid for an hour", tok.GetToken(), tok.GetExpiresAt())
	}
	c := github.NewClient(nil).WithAuthToken(tok.GetToken())
	c.BaseURL = mustParse(t, s.URL+"/")
	if _, _, err := c.Repositories.Get(ctx(t), org, "second"); err != nil {
		t.Errorf("the narrowed token cannot read its repository: %v", err)
	}
	if _, _, err := c.Repositories.Get(ctx(t), org, "learner"); statusOf(err) != http.StatusNotFound {
		t.Errorf("the narrowed token reading another repository: %v, want 404", err)
	}
}

// signJWT makes an App JWT as ghinstallation does, valid for ttl from now (negative: expired).
func signJWT(t testing.TB, appID int64, keyPEM []byte, ttl time.Duration) string {
	t.Helper()
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Now().Add(-30 * time.Second)
	if ttl < 0 {
		iat = time.Now().Add(2 * ttl)
	}
	claims := jwt.RegisteredClaims{Issuer: strconv.FormatInt(appID, 10), IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestGetTheAuthenticatedApp(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddInstallation(8, "other-org")
	app, _, err := jwtClient(t, s).Apps.Get(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if app.GetID() != s.AppID || app.GetSlug() != s.AppSlug || app.GetInstallationsCount() != 2 || app.GetPermissions().GetChecks() != "write" {
		t.Errorf("app = id %d, slug %q, %d installations, checks %q; want %d, %q, 2, write",
			app.GetID(), app.GetSlug(), app.GetInstallationsCount(), app.GetPermissions().GetChecks(), s.AppID, s.AppSlug)
	}
}

func TestRepoInstallationIsFoundWithTheAppJWT(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddInstallation(8, "other-org")
	s.AddRepo(8, "other-org", "elsewhere", nil)
	s.AddRepo(0, org, "outside", nil)
	c := jwtClient(t, s)
	for _, tc := range []struct {
		owner, name string
		want        int64 // 0 for 404
	}{
		{org, "learner", instID},
		{"Other-Org", "Elsewhere", 8},
		{org, "outside", 0},
		{org, "missing", 0},
	} {
		inst, _, err := c.Apps.FindRepositoryInstallation(ctx(t), tc.owner, tc.name)
		switch {
		case tc.want == 0 && statusOf(err) != http.StatusNotFound:
			t.Errorf("%s/%s: %v, want 404", tc.owner, tc.name, err)
		case tc.want != 0 && (err != nil || inst.GetID() != tc.want || inst.GetAppID() != s.AppID):
			t.Errorf("%s/%s: installation %d of app %d (%v), want %d", tc.owner, tc.name, inst.GetID(), inst.GetAppID(), err, tc.want)
		}
	}

	spy := &spyTB{TB: t}
	s2 := newFake(spy)
	status, _ := raw(t, s2, "token "+s2.Token(instID), "GET", "/repos/classroom/learner/installation", "")
	if status != http.StatusUnauthorized {
		t.Errorf("with an installation token: %d, want 401", status)
	}
	spy.expectFailure(t, "apps/get-repo-installation", "not authenticated")
}
