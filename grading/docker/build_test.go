package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestContextTarHonoursDockerignore(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"Dockerfile":           "FROM scratch\n",
		".dockerignore":        "node_modules\n*.log\n!keep.log\nDockerfile\n",
		"main.go":              "package main\n",
		"app.log":              "noise",
		"keep.log":             "kept by the exception",
		"node_modules/x/x.js":  "big",
		"internal/pay/pay.go":  "package pay\n",
		".git/objects/ab/cdef": "history is not build input",
	})
	b, files, _, err := contextTar(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".dockerignore", "Dockerfile", "internal/pay/pay.go", "keep.log", "main.go"}
	slices.Sort(files)
	if !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	for _, n := range tarNames(t, b) {
		if n == "app.log" || n == "node_modules/" || n == ".git/" {
			t.Fatalf("%s is in the context: %v", n, tarNames(t, b))
		}
	}
}

func TestContextTarIsDeterministicAndCapped(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a.txt": "aaaa"})
	_, _, sum1, err := contextTar(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	later := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a.txt": "aaaa"}) // other mtimes
	_, _, sum2, _ := contextTar(later, 1<<20)
	if !bytes.Equal(sum1, sum2) {
		t.Fatal("the same content packed to different hashes: the image cache would miss")
	}
	changed := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a.txt": "aaab"})
	_, _, sum3, _ := contextTar(changed, 1<<20)
	if bytes.Equal(sum1, sum3) {
		t.Fatal("different content packed to the same hash: a stale image would be reused")
	}
	if _, _, _, err := contextTar(dir, 10); !errors.Is(err, errContextTooLarge) {
		t.Fatalf("over the cap: got %v, want errContextTooLarge", err)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	t.Parallel()
	tl := newTail(16)
	io.WriteString(tl, "line one\nline two\nline three\n")
	if got := tl.String(); got != "…\nline three\n" {
		t.Fatalf("got %q", got)
	}
}
