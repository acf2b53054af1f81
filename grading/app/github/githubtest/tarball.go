package githubtest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// codeloadPath is where tarball links point: GitHub redirects to codeload.github.com, the
// fake to itself, outside the API and its validation.
const codeloadPath = "/_codeload/"

// codeloadLifetime is how long a tarball link works; GitHub's expire after five minutes.
const codeloadLifetime = 5 * time.Minute

// archive is what one tarball link serves.
type archive struct {
	top     string            // the top-level folder, owner-repo-sha7
	sha     string            // the commit id, in the pax header as git archive writes it
	dir     string            // a directory registered with SetTarball, read at download time
	files   map[string][]byte // or a snapshot of a commit's files
	modes   map[string]string // their git modes
	expires time.Time
}

// SetTarball makes GET /repos/{owner}/{name}/tarball/{ref} serve the contents of dir. ref is
// matched as given, and also with or without a refs/heads/ prefix; the top-level folder is
// <owner>-<name>-<first 7 characters of ref> if ref is a commit id, else of a made-up one.
// Refs not registered are served from the repository's commits (see SetFiles); others
// answer 404.
func (s *Server) SetTarball(owner, name, ref, dir string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustRepo(owner, name).tarballs[strings.TrimPrefix(ref, "refs/heads/")] = dir
}

// tarballLink answers 302 to a one-off codeload link, as GitHub does.
func (s *Server) tarballLink(rq *request) response {
	rp, ref := rq.repo, rq.vars["ref"]
	if rq.lagging {
		return errorReply(http.StatusNotFound, "Not Found")
	}
	a := archive{expires: s.now().Add(codeloadLifetime)}
	if dir, ok := rp.tarballs[strings.TrimPrefix(ref, "refs/heads/")]; ok {
		a.dir, a.sha = dir, ref
		if len(ref) != 40 || !isHex(ref) {
			sum := sha1.Sum([]byte(rp.fullName() + "@" + ref))
			a.sha = hex.EncodeToString(sum[:])
		}
	} else if sha, ok := rp.git.resolve(ref); ok {
		a.sha, a.files, a.modes = sha, map[string][]byte{}, map[string]string{}
		for p, e := range rp.git.trees[rp.git.commits[sha].tree] {
			if e.kind == "blob" {
				a.files[p], a.modes[p] = rp.git.blobs[e.sha], e.mode
			}
		}
	} else {
		return errorReply(http.StatusNotFound, "Not Found")
	}
	a.top = fmt.Sprintf("%s-%s-%s", rp.owner, rp.name, a.sha[:7])
	token := randomString(20)
	s.archives[token] = a
	loc := fmt.Sprintf("%s%s%s/%s/legacy.tar.gz/%s?token=%s", s.URL, codeloadPath, url.PathEscape(rp.owner), url.PathEscape(rp.name), url.PathEscape(ref), token)
	return response{status: http.StatusFound, header: http.Header{"Location": {loc}}}
}

// serveCodeload sends the archive of a tarball link. It returns the status sent.
func (s *Server) serveCodeload(w http.ResponseWriter, r *http.Request) int {
	s.mu.Lock()
	a, ok := s.archives[r.URL.Query().Get("token")]
	expired := ok && !s.now().Before(a.expires)
	s.mu.Unlock()
	if !ok || expired {
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("Content-Disposition", "attachment; filename="+a.top+".tar.gz")
	if err := a.write(w); err != nil {
		s.t.Errorf("githubtest: tarball %s: %v", a.top, err)
	}
	return http.StatusOK
}

// write streams the archive as git archive makes it: a pax global header carrying the
// commit id, then everything under one top-level folder. Regular files are 0664 or 0775,
// directories 0775, symbolic links kept.
func (a archive) write(w io.Writer) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": a.sha}}); err != nil {
		return err
	}
	dirs := map[string]bool{}
	addDir := func(name string) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: a.top + "/" + name, Mode: 0o775, ModTime: mtime})
	}
	addParents := func(p string) error {
		for i := 0; i < len(p); i++ {
			if p[i] == '/' {
				if err := addDir(p[:i+1]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := addDir(""); err != nil {
		return err
	}
	addFile := func(name, mode string, body []byte) error {
		if err := addParents(name); err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: a.top + "/" + name, Mode: 0o664, Size: int64(len(body)), ModTime: mtime}
		switch mode {
		case "100755":
			h.Mode = 0o775
		case "120000":
			h.Typeflag, h.Mode, h.Size, h.Linkname = tar.TypeSymlink, 0o777, 0, string(body)
			body = nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}

	if a.dir != "" {
		err := filepath.WalkDir(a.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == a.dir {
				return err
			}
			rel, err := filepath.Rel(a.dir, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			info, err := os.Lstat(p)
			if err != nil {
				return err
			}
			switch {
			case info.IsDir():
				if err := addParents(rel); err != nil {
					return err
				}
				return addDir(rel + "/")
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return addFile(rel, "120000", []byte(target))
			case info.Mode().IsRegular():
				body, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				mode := "100644"
				if info.Mode()&0o111 != 0 {
					mode = "100755"
				}
				return addFile(rel, mode, body)
			}
			return nil // sockets, devices: git has no such thing
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", a.dir, err)
		}
	} else {
		for _, p := range slices.Sorted(maps.Keys(a.files)) {
			if err := addFile(path.Clean(p), a.modes[p], a.files[p]); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
