package scenarios

import (
	"errors"
	"fmt"
	"io"

	"github.com/holdfast-ci/holdfast/scenarios/untrusted"
)

// MaxSourceFile bounds what ReadSource reads of one file of the submission.
const MaxSourceFile = 64 << 10

// ErrNoSource is ReadSource's error when the grading has no submission directory to read (a
// scripted target in tests).
var ErrNoSource = errors.New("this grading has no submission directory to read files from")

// ReadSource reads one file the learner ships in the repository, e.g. the capacity format's
// claim (CAPACITY.yaml at the root), from the directory the grading built. The repository is
// untrusted: name must be a plain relative path, the file a regular file inside the directory
// (a symlink is refused, so a claim cannot point at the grading machine's own files: the rule
// a build reads the Dockerfile by, untrusted.Open), at most
// MaxSourceFile bytes. A missing file is an error that errors.Is(err, fs.ErrNotExist) matches.
func (h *Harness) ReadSource(name string) ([]byte, error) {
	if h.SourceDir == "" {
		return nil, ErrNoSource
	}
	f, info, err := untrusted.Open(h.SourceDir, name)
	var notRegular *untrusted.NotRegularError
	if errors.As(err, &notRegular) {
		return nil, fmt.Errorf("%w: write it as a plain file in the repository", err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > MaxSourceFile {
		return nil, fmt.Errorf("%s is %d bytes; at most %d KiB are read", name, info.Size(), MaxSourceFile>>10)
	}
	return io.ReadAll(io.LimitReader(f, MaxSourceFile))
}
