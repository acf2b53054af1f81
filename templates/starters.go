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
	"testing/fstest"
)

// startersArchive holds every challenge's starters (<slug>/starter/<lang>/...), for the
// built-in pack (scenarios/catalog) and so for `holdfast init`, which runs without a Holdfast
// checkout. It is an archive, not the directories themselves, because go:embed cannot reach a
// Go starter: its go.mod makes it a module of its own (and `go install` leaves such directories
// out of this module's download). The briefs are not in it: Files embeds them. TestStartersArchive
// fails when it differs from the directories; `go test ./templates -run TestStartersArchive
// -update` writes it again.
//
//go:embed starters.tar.gz
var startersArchive []byte

// maxStarterFile bounds one file of the archive as it is read.
const maxStarterFile = 16 << 20

// Starters returns the embedded starters as a file system laid out like this directory:
// <slug>/starter/<lang>/…. The catalog joins it with Files into the built-in pack.
func Starters() (fs.FS, error) { return readArchive(startersArchive) }

// readArchive reads a gzipped tar of regular files into a file system.
func readArchive(b []byte) (fstest.MapFS, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("starters archive: %w", err)
	}
	tr := tar.NewReader(zr)
	out := fstest.MapFS{}
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
		if h.Size > maxStarterFile {
			return nil, fmt.Errorf("starters archive: %s is %d bytes, more than a starter's file may be (%d)", h.Name, h.Size, maxStarterFile)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("starters archive: %s: %w", h.Name, err)
		}
		out[h.Name] = &fstest.MapFile{Data: body, Mode: fs.FileMode(h.Mode & 0o777)}
	}
}
