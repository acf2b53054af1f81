package githubtest

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
)

// download follows a tarball link the way the App does and returns the archive's entries.
func download(t *testing.T, c *github.Client, owner, repo, ref string) (map[string]string, []*tar.Header) {
	t.Helper()
	u, resp, err := c.Repositories.GetArchiveLink(ctx(t), owner, repo, github.Tarball, &github.RepositoryContentGetOptions{Ref: ref}, 0)
	if err != nil {
		t.Fatalf("tarball link of %s: %v", ref, err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("tarball link answered %d, want 302", resp.StatusCode)
	}
	get, err := http.Get(u.String()) // no credentials: the link carries its own token, as codeload's do
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	if get.StatusCode != http.StatusOK {
		t.Fatalf("download answered %d", get.StatusCode)
	}
	zr, err := gzip.NewReader(get.Body)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	var headers []*tar.Header
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers = append(headers, h)
		if h.Typeflag == tar.TypeReg {
			body, _ := io.ReadAll(tr)
			files[h.Name] = string(body)
		}
	}
}

func TestTarballOfARegisteredDirectory(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module x\n", "cmd/server/main.go": "package main\n", "run.sh": "#!/bin/sh\n"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	s.SetTarball(org, "learner", sha, dir)

	files, headers := download(t, appClient(t, s, instID), org, "learner", sha)
	want := map[string]string{
		"classroom-learner-0123456/go.mod":             "module x\n",
		"classroom-learner-0123456/cmd/server/main.go": "package main\n",
		"classroom-learner-0123456/run.sh":             "#!/bin/sh\n",
	}
	if !maps.Equal(files, want) {
		t.Errorf("archive files = %v, want %v", files, want)
	}
	if headers[0].Typeflag != tar.TypeXGlobalHeader || headers[0].PAXRecords["comment"] != sha {
		t.Errorf("first entry = %+v, want git archive's pax header with the commit id", headers[0])
	}
	for _, h := range headers[1:] {
		if !strings.HasPrefix(h.Name, "classroom-learner-0123456/") {
			t.Errorf("entry %q is outside the one top-level folder", h.Name)
		}
		if h.Name == "classroom-learner-0123456/run.sh" && h.Mode&0o111 == 0 {
			t.Errorf("run.sh lost its executable bit: %o", h.Mode)
		}
	}
}

func TestTarballOfABranchAndOfUnknownRefs(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	head := s.SetFiles(org, "learner", "feature/x", map[string]string{"README.md": "hi\n"})
	c := tokenClient(t, s, instID)

	for _, ref := range []string{"feature/x", "refs/heads/feature/x", head, head[:7]} {
		files, _ := download(t, c, org, "learner", ref)
		if want := map[string]string{"classroom-learner-" + head[:7] + "/README.md": "hi\n"}; !maps.Equal(files, want) {
			t.Errorf("archive of %q = %v, want %v", ref, files, want)
		}
	}
	_, _, err := c.Repositories.GetArchiveLink(ctx(t), org, "learner", github.Tarball, &github.RepositoryContentGetOptions{Ref: "nope"}, 0)
	if statusOf(err) != http.StatusNotFound && (err == nil || !strings.Contains(err.Error(), "404")) {
		t.Errorf("tarball of an unknown ref: %v, want 404", err)
	}
}
