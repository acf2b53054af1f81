package compare_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading/compare"
)

// TestMeasure holds each language's measurements to numbers counted by hand in the fixtures.
func TestMeasure(t *testing.T) {
	cases := []struct {
		dir  string
		want compare.Metrics
	}{
		{"go", compare.Metrics{Files: 2, Lines: 42, Functions: 5, Complexity: 12, Tests: 2, DuplicatedLines: 12, DuplicateBlocks: 2,
			Longest:     compare.Func{Name: "classify", Path: "main.go", Line: 10, Lines: 15, Complexity: 6},
			MostComplex: compare.Func{Name: "classify", Path: "main.go", Line: 10, Lines: 15, Complexity: 6}}},
		{"ts", compare.Metrics{Files: 2, Lines: 24, Functions: 3, Complexity: 10, Tests: 2,
			Longest:     compare.Func{Name: "price", Path: "index.ts", Line: 6, Lines: 8, Complexity: 4},
			MostComplex: compare.Func{Name: "price", Path: "index.ts", Line: 6, Lines: 8, Complexity: 4}}},
		{"py", compare.Metrics{Files: 2, Lines: 14, Functions: 2, Complexity: 8, Tests: 2,
			Longest:     compare.Func{Name: "price", Path: "app.py", Line: 8, Lines: 8, Complexity: 4},
			MostComplex: compare.Func{Name: "price", Path: "app.py", Line: 8, Lines: 8, Complexity: 4}}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			t.Parallel()
			got, err := compare.Measure(filepath.Join("testdata", "quality", c.dir))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("measured\n  %+v\nwant\n  %+v", got, c.want)
			}
		})
	}
}

// TestMeasureSkipsDependenciesAndCapsSize: node_modules, build output and oversized files are
// not the learner's code.
func TestMeasureSkipsDependenciesAndCapsSize(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", "package main\n\nfunc main() {}\n")
	write("node_modules/x/index.js", "function f() {\n  return 1;\n}\n")
	write("dist/index.js", "function f() {\n  return 1;\n}\n")
	write(".git/hooks/x.py", "def f():\n    pass\n")
	write("big.py", strings.Repeat("x = 1\n", 200_000))
	m, err := compare.Measure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files != 1 || m.Skipped != 1 || m.Functions != 1 || m.Lines != 2 {
		t.Fatalf("measured %+v; want only main.go (1 file, 1 function, 2 lines) and big.py skipped", m)
	}
}

func TestMeasureUnparsableGoCountsLines(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {\n\tx :=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := compare.Measure(dir)
	if err != nil || m.Lines != 3 || m.Functions != 0 {
		t.Fatalf("measured %+v, %v; want 3 lines and no functions", m, err)
	}
}
