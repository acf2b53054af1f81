package scenarios

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// MaxSourceFile bounds what ReadSource reads of one file of the submission.
const MaxSourceFile = 64 << 10

// ErrNoSource is ReadSource's error when the grading has no submission directory to read (a
// scripted target in tests).
var ErrNoSource = errors.New("this grading has no submission directory to read files from")

// ReadSource reads one file the learner ships in the repository, e.g. the capacity format's
// claim (CAPACITY.yaml at the root), from the directory the grading built. The repository is
// untrusted: name must be a plain relative path, the file a regular file inside the directory
// (a symlink is refused, so a claim cannot point at the grading machine's own files), at most
// MaxSourceFile bytes. A missing file is an error that errors.Is(err, fs.ErrNotExist) matches.
func (h *Harness) ReadSource(name string) ([]byte, error) {
	if h.SourceDir == "" {
		return nil, ErrNoSource
	}
	if !fs.ValidPath(name) || name == "." || path.Clean(name) != name {
		return nil, fmt.Errorf("read %s from the submission: not a plain relative path", name)
	}
	root, err := os.OpenRoot(h.SourceDir)
	if err != nil {
		return nil, fmt.Errorf("open the submission directory: %w", err)
	}
	defer root.Close()
	info, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (a %s): write it as a plain file in the repository", name, describeMode(info.Mode()))
	}
	if info.Size() > MaxSourceFile {
		return nil, fmt.Errorf("%s is %d bytes; at most %d KiB are read", name, info.Size(), MaxSourceFile>>10)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxSourceFile))
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}
