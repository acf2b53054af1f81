package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"io/fs"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"
)

// archiveName is the archive's file, relative to this package's directory.
const archiveName = "starters.tar.gz"

var update = flag.Bool("update", false, "write "+archiveName+" from the template directories")

// onDisk reads the starters from this directory the way the archive holds them.
func onDisk(t *testing.T) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	root := os.DirFS(".")
	slugs, err := Slugs(Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range slugs {
		err = fs.WalkDir(root, slug+"/starter", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			body, err := fs.ReadFile(root, p)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if info.Mode()&0o100 != 0 {
				mode = 0o755
			}
			out[p] = &fstest.MapFile{Data: body, Mode: mode}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// writeArchive is the archive of files: sorted, without times or owners, so the same files
// always make the same bytes.
func writeArchive(t *testing.T, files fstest.MapFS) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := files[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: int64(f.Mode), Size: int64(len(f.Data)), Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStartersArchive keeps the embedded archive equal to the template directories: a starter
// edited without the archive written again would give `holdfast init` the old one.
func TestStartersArchive(t *testing.T) {
	disk := onDisk(t)
	if *update {
		if err := os.WriteFile(archiveName, writeArchive(t, disk), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := readArchive(startersArchive)
	if err != nil {
		t.Fatal(err)
	}
	for p, f := range disk {
		a, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s is not in %s; run `go test ./templates -run TestStartersArchive -update`", p, archiveName)
		case !bytes.Equal(a.Data, f.Data) || a.Mode != f.Mode:
			t.Errorf("%s differs in %s (mode %o, want %o); run `go test ./templates -run TestStartersArchive -update`", p, archiveName, a.Mode, f.Mode)
		}
	}
	for p := range got {
		if _, ok := disk[p]; !ok {
			t.Errorf("%s is in %s but no longer in templates/; run `go test ./templates -run TestStartersArchive -update`", p, archiveName)
		}
	}
}

// TestStarterDetection checks that every starter in the archive carries the file
// `holdfast test` detects its challenge by, naming its own challenge and language.
func TestStarterDetection(t *testing.T) {
	slugs, err := Slugs(Files)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := Starters()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, slug := range slugs {
		m, err := parse(Files, slug)
		if err != nil {
			t.Fatal(err)
		}
		for _, lang := range m.Languages {
			n++
			dir := m.Slug + "/starter/" + lang
			b, err := fs.ReadFile(fsys, dir+"/.holdfast.yaml")
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			var d struct{ Challenge, Language string }
			if err := yaml.Unmarshal(b, &d); err != nil {
				t.Fatalf("%s/.holdfast.yaml: %v", dir, err)
			}
			if d.Challenge != m.Slug || d.Language != lang {
				t.Errorf("%s/.holdfast.yaml says %s/%s", dir, d.Challenge, d.Language)
			}
			if _, err := fs.Stat(fsys, dir+"/Dockerfile"); err != nil {
				t.Errorf("%s: no Dockerfile: %v", dir, err)
			}
		}
	}
	if n != 36 {
		t.Errorf("%d starters, want 36 (update this count when adding one)", n)
	}
}
