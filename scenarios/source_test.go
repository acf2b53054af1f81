package scenarios_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func TestReadSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	for name, body := range map[string]string{"CAPACITY.yaml": "sustained_rps: 75\n", "big": strings.Repeat("x", scenarios.MaxSourceFile+1)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(outside, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &scenarios.Harness{SourceDir: dir}
	if b, err := h.ReadSource("CAPACITY.yaml"); err != nil || string(b) != "sustained_rps: 75\n" {
		t.Fatalf("ReadSource(CAPACITY.yaml) = %q, %v", b, err)
	}
	if _, err := h.ReadSource("missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
	for name, want := range map[string]string{
		"link.yaml":       "symbolic link",
		"sub":             "directory",
		"big":             "at most 64 KiB",
		"../secret":       "not a plain relative path",
		"/etc/passwd":     "not a plain relative path",
		"./CAPACITY.yaml": "not a plain relative path",
	} {
		b, err := h.ReadSource(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadSource(%q) = %q, %v; want an error saying %q", name, b, err, want)
		}
	}
	if _, err := (&scenarios.Harness{}).ReadSource("CAPACITY.yaml"); !errors.Is(err, scenarios.ErrNoSource) {
		t.Errorf("no source dir: %v, want ErrNoSource", err)
	}
}
