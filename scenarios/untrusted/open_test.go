package untrusted_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/untrusted"
)

// TestOpen: a regular file opens; a symbolic link (to the host or to a file beside it), a
// directory, a FIFO and a path that leaves the directory never do, each with an error that says
// which, and a missing file's error is fs.ErrNotExist.
func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "host-secret")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(secret, []byte("host secret"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	must(os.Symlink(secret, filepath.Join(dir, "to-host")))
	must(os.Symlink("Dockerfile", filepath.Join(dir, "to-beside")))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "claim.yaml"), []byte("rps: 5\n"), 0o644))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))

	for name, want := range map[string]string{"Dockerfile": "FROM scratch\n", "sub/claim.yaml": "rps: 5\n"} {
		f, info, err := untrusted.Open(dir, name)
		if err != nil {
			t.Fatalf("Open(%s): %v", name, err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(b) != want || info.Size() != int64(len(want)) {
			t.Errorf("Open(%s) read %q (size %d), %v; want %q", name, b, info.Size(), err, want)
		}
	}
	for name, c := range map[string]struct {
		symlink bool
		says    string
	}{
		"to-host":        {true, "to-host is not a regular file (a symbolic link)"},
		"to-beside":      {true, "to-beside is not a regular file (a symbolic link)"},
		"sub":            {false, "sub is not a regular file (a directory)"},
		"fifo":           {false, "fifo is not a regular file (a special file)"},
		"../host":        {false, "not a plain relative path"},
		"/etc/passwd":    {false, "not a plain relative path"},
		"./Dockerfile":   {false, "not a plain relative path"},
		"sub/../to-host": {false, "not a plain relative path"},
	} {
		f, _, err := untrusted.Open(dir, name)
		if err == nil {
			f.Close()
			t.Errorf("Open(%q) opened it; want an error saying %q", name, c.says)
			continue
		}
		if !strings.Contains(err.Error(), c.says) || errors.Is(err, untrusted.ErrSymlink) != c.symlink {
			t.Errorf("Open(%q): %v (ErrSymlink: %v); want it to say %q, ErrSymlink %v", name, err, errors.Is(err, untrusted.ErrSymlink), c.says, c.symlink)
		}
	}
	if _, _, err := untrusted.Open(dir, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v; want fs.ErrNotExist", err)
	}
	if _, _, err := untrusted.Open(filepath.Join(dir, "nowhere"), "Dockerfile"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing directory: %v; want fs.ErrNotExist", err)
	}
}
