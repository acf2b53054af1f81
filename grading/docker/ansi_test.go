package docker_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestColouredBuildErrorsBecomeAnnotations builds for real a submission whose build fails with
// coloured compiler errors: the first on stderr, which the classic builder colours red
// (ESC[91m) from its first byte, and one in the colours of `tsc --pretty`. The build log keeps
// no escape code, and both errors become annotations at their files and lines.
func TestColouredBuildErrorsBecomeAnnotations(t *testing.T) {
	dockertest.Engine(t) // skips without Docker
	ctx := context.Background()
	eng, err := docker.New(ctx, docker.Config{Namespace: dockertest.Namespace(), BuildArgs: map[string]string{"TEST_BASE": "holdfast/base:bookworm"}},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile": "ARG TEST_BASE\nFROM ${TEST_BASE}\nCOPY . /src\n" +
			// Go's error on stderr with no "# package" line before it, then tsc's pretty output on stdout.
			`RUN printf './main.go:6:30: undefined: healthz\n' >&2; ` +
			`printf '\033[96msrc/index.ts\033[0m:\033[93m3\033[0m:\033[93m7\033[0m - \033[91merror\033[0m\033[90m TS2322: \033[0mType string is not assignable to type number.\n'; exit 2` + "\n",
		"main.go":      "package main\n",
		"src/index.ts": "export {}\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := eng.Build(ctx, dir)
	if err != nil || !b.Failed() {
		t.Fatalf("build: %v, failed %v; want a failed build\n%s", err, b.Failed(), b.LogTail)
	}
	if strings.Contains(b.LogTail, "\x1b") {
		t.Fatalf("the build log keeps escape codes: %q", b.LogTail)
	}
	want := []grading.Annotation{
		{Path: "main.go", Line: 6, Column: 30, Message: "undefined: healthz"},
		{Path: "src/index.ts", Line: 3, Column: 7, Message: "error TS2322: Type string is not assignable to type number."},
	}
	got := grading.Annotations(b.LogTail, b.Files)
	// stdout and stderr reach the log in either order.
	slices.SortFunc(got, func(a, b grading.Annotation) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(got, want) {
		t.Fatalf("annotations %+v; want %+v\nlog: %q", got, want, b.LogTail)
	}
}
