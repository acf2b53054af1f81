package grading

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The traces under testdata/runtime are real: small programs run with the grader's toolchain
// images as the starters run (testdata/runtime/capture.sh re-records them).

func readTrace(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/runtime", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// imageFiles reads files of the recorded TypeScript app's image: only what its Dockerfile
// copies (dist/; dist-inline/ is the same build with inlineSourceMap), at the paths the app ran
// from (/app/dist/…).
func imageFiles(t *testing.T) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		for _, dir := range []string{"dist", "dist-inline"} {
			if rel, ok := strings.CutPrefix(p, "/app/"+dir+"/"); ok {
				return os.ReadFile(filepath.Join("testdata/runtime/node/app", dir, rel))
			}
		}
		return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
	}
}

var (
	goRepo = Repo{Files: []string{"Dockerfile", "go.mod", "main.go", "internal/pay/pay.go"}, GoModule: "example.com/payments"}
	tsRepo = Repo{Files: []string{"Dockerfile", "package.json", "package-lock.json", "tsconfig.json", "src/index.ts", "src/pay.ts"}}
	pyRepo = Repo{Files: []string{"Dockerfile", "requirements.txt", "app.py", "store/__init__.py", "store/db.py"}}
)

func TestRuntimeAnnotations(t *testing.T) {
	t.Parallel()
	ts := tsRepo
	ts.ReadFile = imageFiles(t)
	const nilMap, index = "panic: assignment to entry in nil map", "panic: runtime error: index out of range [5] with length 2"
	const nilPtr, custom = "panic: runtime error: invalid memory address or nil pointer dereference", "panic: charge pay_1: i/o timeout"
	const typeErr = "TypeError: Cannot read properties of undefined (reading 'id')"
	const valueErr = "ValueError: invalid literal for int() with base 10: '12.5'"
	const pgErr = `psycopg2.OperationalError: connection to server at "127.0.0.1", port 1 failed: Connection refused`
	cases := []struct {
		trace string
		repo  Repo
		want  []Annotation
	}{
		// Go: net/http recovers a handler's panic and logs it; the first frame in the learner's
		// packages is under runtime/ and net/http frames.
		{"go/go-trimpath-served.log", goRepo, []Annotation{{"internal/pay/pay.go", 6, 0, nilMap}}},
		{"go/go-fullpath-served.log", goRepo, []Annotation{{"internal/pay/pay.go", 6, 0, nilMap}}},
		{"go/go-trimpath-goroutine.log", goRepo, []Annotation{{"internal/pay/pay.go", 12, 0, index}}},
		{"go/go-fullpath-goroutine.log", goRepo, []Annotation{{"internal/pay/pay.go", 12, 0, index}}},
		{"go/go-trimpath-main.log", goRepo, []Annotation{{"main.go", 31, 0, nilPtr}}},
		{"go/go-fullpath-main.log", goRepo, []Annotation{{"main.go", 31, 0, nilPtr}}},
		{"go/go-trimpath-custom.log", goRepo, []Annotation{{"main.go", 43, 0, custom}}},
		{"go/go-fullpath-custom.log", goRepo, []Annotation{{"main.go", 43, 0, custom}}},
		{"go/go-trimpath-mapwrites.log", goRepo, []Annotation{{"main.go", 37, 0, "fatal error: concurrent map writes"}}},
		{"go/go-fullpath-mapwrites.log", goRepo, []Annotation{{"main.go", 37, 0, "fatal error: concurrent map writes"}}},
		// Without go.mod's module path, the learner's packages are told by their dotted path.
		{"go/go-trimpath-served.log", Repo{Files: goRepo.Files}, []Annotation{{"internal/pay/pay.go", 6, 0, nilMap}}},
		// Node.js without --enable-source-maps prints dist/*.js; the image's maps lead to src/*.ts.
		{"node/node-uncaught.log", ts, []Annotation{{"src/pay.ts", 8, 35, typeErr}}},
		{"node/node-caught.log", ts, []Annotation{{"src/pay.ts", 8, 35, "charge failed: " + typeErr}}},
		{"node/node-rejection.log", ts, []Annotation{{"src/pay.ts", 15, 11, "RangeError: amount 500 is over the limit"}}},
		// tsc --inlineSourceMap: the map is a data: URL at the end of the script.
		{"node/node-inline-uncaught.log", ts, []Annotation{{"src/pay.ts", 8, 35, typeErr}}},
		// With --enable-source-maps Node maps them itself.
		{"node/node-sourcemapped-uncaught.log", tsRepo, []Annotation{{"src/pay.ts", 8, 35, typeErr}}},
		{"node/node-sourcemapped-rejection.log", tsRepo, []Annotation{{"src/pay.ts", 15, 11, "RangeError: amount 500 is over the limit"}}},
		// No map to read and no dist/ in the repository: no frame is the learner's file.
		{"node/node-uncaught.log", tsRepo, nil},
		// Python: the innermost frame in the learner's files, under the interpreter's and
		// psycopg2's; a chained exception is a traceback of its own.
		{"python/python-handler.log", pyRepo, []Annotation{{"store/db.py", 10, 0, valueErr}}},
		{"python/python-logged.log", pyRepo, []Annotation{{"store/db.py", 10, 0, valueErr}}},
		{"python/python-startup.log", pyRepo, []Annotation{{"store/db.py", 6, 0, pgErr}}},
		{"python/python-chained.log", pyRepo, []Annotation{{"store/db.py", 6, 0, pgErr}, {"app.py", 28, 0, "RuntimeError: could not reach the database"}}},
		// A trace of another repository's files points nowhere.
		{"python/python-handler.log", goRepo, nil},
		{"go/go-trimpath-served.log", pyRepo, nil},
	}
	for _, c := range cases {
		t.Run(c.trace, func(t *testing.T) {
			t.Parallel()
			if got := RuntimeAnnotations(readTrace(t, c.trace), c.repo); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%s:\ngot  %+v\nwant %+v", c.trace, got, c.want)
			}
		})
	}
}

// The source-map lookup agrees with Node's own (--enable-source-maps) on every frame of the
// learner's scripts in the recorded traces.
func TestSourceMapAgreesWithNode(t *testing.T) {
	t.Parallel()
	read := imageFiles(t)
	for _, mode := range []string{"uncaught", "caught", "rejection"} {
		_, raw := nodeTraces(strings.Split(readTrace(t, "node/node-"+mode+".log"), "\n"))
		_, mapped := nodeTraces(strings.Split(readTrace(t, "node/node-sourcemapped-"+mode+".log"), "\n"))
		if len(raw) != 1 || len(mapped) != 1 || len(raw[0].frames) != len(mapped[0].frames) {
			t.Fatalf("%s: want one trace each with as many frames, got %+v and %+v", mode, raw, mapped)
		}
		n := 0
		for i, f := range raw[0].frames {
			if !strings.HasPrefix(f.file, "/app/dist/") {
				continue
			}
			m, err := sourceMapOf(read, f.file)
			if err != nil || m == nil {
				t.Fatalf("%s: map of %s: %v", mode, f.file, err)
			}
			src, line, col, ok := m.lookup(f.line, f.col)
			want := mapped[0].frames[i]
			if !ok || src != want.file || line != want.line || col != want.col {
				t.Errorf("%s: %s:%d:%d maps to %s:%d:%d (ok %v), Node says %s:%d:%d", mode, f.file, f.line, f.col, src, line, col, ok, want.file, want.line, want.col)
			}
			n++
		}
		if n == 0 {
			t.Fatalf("%s: no frame in /app/dist/ to check", mode)
		}
	}
}

func TestRuntimeAnnotationsBoundAndDedup(t *testing.T) {
	t.Parallel()
	served := readTrace(t, "go/go-trimpath-served.log")
	if got := RuntimeAnnotations(served+served+served, goRepo); len(got) != 1 {
		t.Fatalf("the same panic three times: got %d annotations, want 1 (one per file:line): %+v", len(got), got)
	}
	// As many panics at different lines as twice the bound.
	var log strings.Builder
	files := []string{"go.mod"}
	for i := range 2 * maxRuntimeAnnotations {
		f := fmt.Sprintf("h%d.go", i)
		files = append(files, f)
		fmt.Fprintf(&log, "panic: boom %d\n\ngoroutine 1 [running]:\nmain.h%d()\n\t/src/%s:%d +0x1d\n\n", i, i, f, i+1)
	}
	got := RuntimeAnnotations(log.String(), Repo{Files: files})
	if len(got) != maxRuntimeAnnotations {
		t.Fatalf("got %d annotations, want the bound %d: %+v", len(got), maxRuntimeAnnotations, got)
	}
	if got[0] != (Annotation{"h0.go", 1, 0, "panic: boom 0"}) {
		t.Fatalf("the first annotation is %+v, want the first panic's", got[0])
	}
}

// A repository file named like a standard-library file is not where net/http's frames are.
func TestRuntimeAnnotationsSkipStandardLibrary(t *testing.T) {
	t.Parallel()
	repo := Repo{Files: []string{"go.mod", "server.go", "panic.go"}, GoModule: "example.com/payments"}
	if got := RuntimeAnnotations(readTrace(t, "go/go-trimpath-served.log"), repo); got != nil {
		t.Fatalf("got %+v, want none: no frame is in the learner's packages", got)
	}
	py := Repo{Files: []string{"socketserver.py", "server.py", "__init__.py"}}
	if got := RuntimeAnnotations(readTrace(t, "python/python-startup.log"), py); got != nil {
		t.Fatalf("got %+v, want none: psycopg2's and the interpreter's files are not the learner's", got)
	}
}

func TestSourceMapErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, raw, want string }{
		{"not json", "{", "unexpected end"},
		{"version 2", `{"version":2,"sources":[],"mappings":""}`, "version 2"},
		{"index map", `{"version":3,"sections":[{}]}`, "index map"},
		{"bad vlq", `{"version":3,"sources":["a.ts"],"mappings":"A!AA"}`, "not base64 VLQ"},
		{"source out of range", `{"version":3,"sources":["a.ts"],"mappings":"ACAA"}`, "outside the map"},
		{"cut number", `{"version":3,"sources":["a.ts"],"mappings":"AAAg"}`, "middle of a number"},
	} {
		_, err := parseSourceMap([]byte(c.raw), "/app/dist/a.js.map")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	// A script without a map is not an error.
	none := func(p string) ([]byte, error) { return nil, fmt.Errorf("read %s: %w", p, fs.ErrNotExist) }
	if m, err := sourceMapOf(none, "/app/index.js"); m != nil || err != nil {
		t.Fatalf("no map: got %v, %v; want nil, nil", m, err)
	}
	broken := func(string) ([]byte, error) { return nil, errors.New("engine gone") }
	if _, err := sourceMapOf(broken, "/app/index.js"); err == nil {
		t.Fatal("an unreadable map: want the error")
	}
}
