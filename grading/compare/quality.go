package compare

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Quality holds the measurements of both trees. It is information for the learner and the
// reviewer, not a grade.
type Quality struct {
	Base Metrics `json:"base"`
	Head Metrics `json:"head"`
}

// Metrics are objective measurements of one tree's source files.
type Metrics struct {
	// Files is how many source files were measured (.go, .ts, .tsx, .js, .mjs, .cjs, .py), tests
	// included; Skipped how many were left out for their size or for the cap on files.
	Files   int `json:"files"`
	Skipped int `json:"skipped,omitempty"`
	// Lines counts non-blank lines that are not only a comment, in files that are not tests.
	Lines int `json:"lines"`
	// Functions counts functions and methods (Go: declarations and literals; others: see
	// heuristic.go), tests excluded.
	Functions int `json:"functions"`
	// Longest is the function with the most lines, from its first line to its last.
	Longest Func `json:"longest"`
	// MostComplex is the function with the highest cyclomatic complexity: 1 + one per branch
	// (if, for, case, catch/except, &&, ||, ternary).
	MostComplex Func `json:"most_complex"`
	// Complexity is the sum over all functions: it falls when branches are removed, not only
	// when they move to another function.
	Complexity int `json:"complexity"`
	// DuplicatedLines counts lines that belong to a run of DupWindow or more normalised lines
	// appearing more than once in the tree; DuplicateBlocks counts those runs.
	DuplicatedLines int `json:"duplicated_lines"`
	DuplicateBlocks int `json:"duplicate_blocks"`
	// Tests counts test cases: Go's func TestXxx(t *testing.T), Python's def test_…, and
	// it(…)/test(…) calls in *.test.* / *.spec.* files.
	Tests int `json:"tests"`
}

// Func names a function and where it is.
type Func struct {
	Name       string `json:"name,omitempty"`
	Path       string `json:"path,omitempty"`
	Line       int    `json:"line,omitempty"`
	Lines      int    `json:"lines"`
	Complexity int    `json:"complexity"`
}

// Caps on what Measure reads: a repository is the learner's and may be anything.
const (
	maxFiles    = 2000
	maxFileSize = 1 << 20
)

// skipDirs are never measured: dependencies, build output, version control, fixtures.
var skipDirs = map[string]bool{".git": true, "node_modules": true, "dist": true, "build": true, "vendor": true,
	"__pycache__": true, ".venv": true, "venv": true, "testdata": true, "coverage": true}

// source is one file's measured functions and lines.
type source struct {
	path  string
	test  bool
	lines []string
	funcs []Func
	tests int
	code  int // non-blank, non-comment lines
}

// Measure reads the source files under dir and measures them.
func Measure(dir string) (Metrics, error) {
	var m Metrics
	var files []source
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		lang := language(d.Name())
		if lang == "" || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxFileSize || len(files) >= maxFiles {
			m.Skipped++
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		f := source{path: rel, test: isTest(rel, lang), lines: strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")}
		switch lang {
		case "go":
			measureGo(&f, body)
		case "ts":
			measureBraces(&f)
		case "py":
			measurePython(&f)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("read %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	for _, f := range files {
		m.Files++
		m.Tests += f.tests
		if f.test {
			continue
		}
		m.Lines += f.code
		for _, fn := range f.funcs {
			fn.Path = f.path
			m.Functions++
			m.Complexity += fn.Complexity
			if fn.Lines > m.Longest.Lines {
				m.Longest = fn
			}
			if fn.Complexity > m.MostComplex.Complexity {
				m.MostComplex = fn
			}
		}
	}
	m.DuplicatedLines, m.DuplicateBlocks = duplicates(files)
	return m, nil
}

func language(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".go":
		return "go"
	case ".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs":
		if strings.HasSuffix(name, ".d.ts") {
			return ""
		}
		return "ts"
	case ".py":
		return "py"
	}
	return ""
}

func isTest(rel, lang string) bool {
	base := filepath.Base(rel)
	switch lang {
	case "go":
		return strings.HasSuffix(base, "_test.go")
	case "py":
		return strings.HasPrefix(base, "test_") || strings.HasSuffix(base, "_test.py") || base == "conftest.py"
	}
	return strings.Contains(base, ".test.") || strings.Contains(base, ".spec.") || strings.Contains("/"+rel, "/__tests__/")
}

// measureGo reads a Go file's syntax tree. A file that does not parse is counted by its lines
// only: the grading reports the compile error; the measurements only lose its functions.
func measureGo(f *source, body []byte) {
	f.code = countCode(f.lines, "//", "/*", "*/")
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, f.path, body, parser.SkipObjectResolution)
	if err != nil {
		return
	}
	line := func(p token.Pos) int { return fset.Position(p).Line }
	for _, decl := range file.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) == 1 {
			name = recvName(fd.Recv.List[0].Type) + "." + name
		}
		if f.test {
			if isGoTest(fd) {
				f.tests++
			}
			continue
		}
		f.funcs = append(f.funcs, Func{Name: name, Line: line(fd.Pos()), Lines: line(fd.End()) - line(fd.Pos()) + 1,
			Complexity: goComplexity(fd.Body)})
		// Function literals are functions too: a tangled service often hides its logic in one
		// anonymous handler. They count as their own, and inside their enclosing function.
		n := 0
		ast.Inspect(fd.Body, func(node ast.Node) bool {
			if lit, ok := node.(*ast.FuncLit); ok {
				n++
				f.funcs = append(f.funcs, Func{Name: fmt.Sprintf("%s.func%d", name, n), Line: line(lit.Pos()),
					Lines: line(lit.End()) - line(lit.Pos()) + 1, Complexity: goComplexity(lit.Body)})
			}
			return true
		})
	}
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return "(*" + recvName(t.X) + ")"
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	}
	return "?"
}

func isGoTest(fd *ast.FuncDecl) bool {
	n := fd.Name.Name
	if fd.Recv != nil || !strings.HasPrefix(n, "Test") || n == "TestMain" {
		return false
	}
	if len(n) > 4 && n[4] >= 'a' && n[4] <= 'z' {
		return false // Testify is not a test
	}
	params := fd.Type.Params.List
	if len(params) != 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// goComplexity is McCabe's number as gocyclo counts it: 1, plus one per if, for, range, case
// and comm clause (default excluded), && and ||.
func goComplexity(body *ast.BlockStmt) int {
	c := 1
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// countCode counts lines that are neither blank nor only comment, for languages with line
// comments and block comments.
func countCode(lines []string, lineComment, blockOpen, blockClose string) int {
	n := 0
	inBlock := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if inBlock {
			if i := strings.Index(t, blockClose); i >= 0 {
				inBlock = false
				t = strings.TrimSpace(t[i+len(blockClose):])
			} else {
				continue
			}
		}
		if blockOpen != "" && strings.HasPrefix(t, blockOpen) {
			if i := strings.Index(t[len(blockOpen):], blockClose); i >= 0 {
				t = strings.TrimSpace(t[len(blockOpen)+i+len(blockClose):])
			} else {
				inBlock = true
				continue
			}
		}
		if t == "" || strings.HasPrefix(t, lineComment) {
			continue
		}
		n++
	}
	return n
}
