package grading

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// appFileReader is a sandbox that can read a file of the app's container (grading/docker's
// can): a TypeScript build leaves its source maps in the image, not in the repository.
type appFileReader interface {
	ReadAppFile(ctx context.Context, path string, max int64) ([]byte, error)
}

// repoOf is what runtime annotations know of the submission in dir: its files, its Go module,
// and scripts and source maps read from the app's container, or else from the repository.
func repoOf(ctx context.Context, sb Sandbox, dir string, files []string) Repo {
	repo := Repo{Files: files, GoModule: goModule(filepath.Join(dir, "go.mod"))}
	known := knownFiles(files)
	fromRepo := func(p string) ([]byte, error) {
		rel := repoPath(p, known)
		if rel == "" {
			return nil, fmt.Errorf("read %s: not in the repository: %w", p, fs.ErrNotExist)
		}
		return readRegular(filepath.Join(dir, filepath.FromSlash(rel)), maxSourceMapBytes)
	}
	reader, ok := sb.(appFileReader)
	if !ok {
		repo.ReadFile = fromRepo
		return repo
	}
	repo.ReadFile = func(p string) ([]byte, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if b, err := reader.ReadAppFile(rctx, p, maxSourceMapBytes); err == nil {
			return b, nil
		}
		return fromRepo(p)
	}
	return repo
}

// readRegular reads a regular file of at most max bytes; the repository is the learner's, so a
// symbolic link is not followed.
func readRegular(p string, max int64) ([]byte, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file: %w", p, fs.ErrNotExist)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("read %s: %d bytes, more than the %d read", p, st.Size(), max)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// goModule returns the module path a go.mod declares, "" when there is none.
func goModule(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(strings.SplitN(rest, "//", 2)[0]), `"`)
		}
	}
	return ""
}

// failedPublicOutput joins the app's output during the failed public scenarios: the output of
// hidden and reviewer-only scenarios never becomes a learner's annotation.
func failedPublicOutput(results []ScenarioResult) string {
	var b strings.Builder
	for _, r := range results {
		if r.Visibility == scenarios.Public && r.Outcome == OutcomeFailed && r.LogTail != "" {
			b.WriteString(r.LogTail)
			b.WriteString("\n")
		}
	}
	return b.String()
}
