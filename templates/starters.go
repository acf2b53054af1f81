package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing/fstest"
)

// startersArchive holds every challenge's brief (<slug>/README.md) and starters
// (<slug>/starter/<lang>/...), for `holdfast init`, which runs without a Holdfast checkout.
// It is an archive, not the directories themselves, because go:embed cannot reach a Go
// starter: its go.mod makes it a module of its own (and `go install` leaves such directories
// out of this module's download). TestStartersArchive fails when it differs from the
// directories; `go test ./templates -run TestStartersArchive -update` writes it again.
//
//go:embed starters.tar.gz
var startersArchive []byte

// StartersArchive is the name of the archive, relative to this package's directory.
const StartersArchive = "starters.tar.gz"

// archived is startersArchive read once: path → file. The archive is embedded, so it never
// changes while running.
var archived = sync.OnceValues(func() (map[string]File, error) { return ReadArchive(startersArchive) })

// File is one file of a template.
type File struct {
	Body []byte
	Mode int64 // permission bits, e.g. 0o644
}

// ReadArchive reads a gzipped tar of templates into path → file.
func ReadArchive(b []byte) (map[string]File, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("starters archive: %w", err)
	}
	tr := tar.NewReader(zr)
	out := map[string]File{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("starters archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("starters archive: %s: %w", h.Name, err)
		}
		out[h.Name] = File{Body: body, Mode: h.Mode & 0o777}
	}
}

// Starters returns the archive as a file system laid out like this directory: <slug>/README.md
// and <slug>/starter/<lang>/…, for catalog.Templates in place of templates/ on disk.
func Starters() (fs.FS, error) {
	files, err := archived()
	if err != nil {
		return nil, err
	}
	m := fstest.MapFS{}
	for p, f := range files {
		m[p] = &fstest.MapFile{Data: f.Body, Mode: fs.FileMode(f.Mode)}
	}
	return m, nil
}
