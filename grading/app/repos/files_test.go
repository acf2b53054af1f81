package repos_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/holdfast-ci/holdfast/grading/app/repos"
)

func copyTemplate(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// TestTemplateFilesFromAPack: a pack's files, from any file system, reach the learner as the
// template repository holds them: the brief as README.md, the starter's README.md as
// STARTER.md and a Go starter's _go.mod as go.mod; nothing else of the challenge's directory
// (its challenge.yaml, a reference a pack author left beside the starter) and no other
// language's starter.
func TestTemplateFilesFromAPack(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"mine/challenge.yaml":             {Data: []byte("slug: mine\n")},
		"mine/testdata/reference/main.go": {Data: []byte("package main // the answer\n")},
		"mine/README.md":                  {Data: []byte("# brief")},
		"mine/starter/go/README.md":       {Data: []byte("starter notes")},
		"mine/starter/go/_go.mod":         {Data: []byte("module app\n")},
		"mine/starter/go/cmd/app/main.go": {Data: []byte("package main\n")},
		"mine/starter/ts/index.ts":        {Data: []byte("ts")},
	}
	files, err := repos.TemplateFiles(fsys, "mine", "go")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"README.md": "# brief", "STARTER.md": "starter notes", "go.mod": "module app\n", "cmd/app/main.go": "package main\n"}
	if len(files) != len(want) {
		var got []string
		for p := range files {
			got = append(got, p)
		}
		t.Fatalf("files %v; want %v", got, want)
	}
	for p, body := range want {
		if string(files[p]) != body {
			t.Errorf("%s: %q; want %q", p, files[p], body)
		}
	}
	if _, err := repos.TemplateFiles(fsys, "yours", "go"); err == nil || !strings.Contains(err.Error(), "brief of yours") {
		t.Fatalf("unknown slug: %v; want an error naming its brief", err)
	}
}
