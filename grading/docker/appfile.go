package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// ReadAppFile reads a file of the app's (first replica's) container, at most max bytes: the
// source maps a TypeScript build leaves in the image, which stack traces are mapped through. It
// works on a stopped container too. A file that is not there is an error wrapping
// fs.ErrNotExist.
func (s *sandbox) ReadAppFile(ctx context.Context, p string, max int64) ([]byte, error) {
	if !path.IsAbs(p) {
		return nil, fmt.Errorf("read %s from the app: want an absolute path", p)
	}
	id, err := s.containerID(string(scenarios.App))
	if err != nil {
		return nil, err
	}
	res, err := s.e.cli.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: p})
	if isNotFound(err) {
		return nil, fmt.Errorf("read %s from the app: %w", p, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from the app: %w", p, err)
	}
	defer res.Content.Close()
	if !res.Stat.Mode.IsRegular() {
		return nil, fmt.Errorf("read %s from the app: not a regular file (%s)", p, res.Stat.Mode)
	}
	if res.Stat.Size > max {
		return nil, fmt.Errorf("read %s from the app: %d bytes, more than the %d read", p, res.Stat.Size, max)
	}
	tr := tar.NewReader(res.Content)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("read %s from the app: %w", p, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("read %s from the app: not a regular file", p)
	}
	b, err := io.ReadAll(io.LimitReader(tr, max+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s from the app: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s from the app: more than the %d bytes read", p, max)
	}
	return b, nil
}
