package grading

import (
	"fmt"
	"regexp"
	"strings"
)

// maxRuntimeAnnotations bounds the annotations one grading takes from the app's output: the
// first few crashes say where to look; more repeat them.
const maxRuntimeAnnotations = 5

// Repo is what runtime annotations know of the learner's repository and of the app's image.
type Repo struct {
	// Files are the build context's files, repo-relative.
	Files []string
	// GoModule is the module path go.mod declares ("" without one): with -trimpath, Go prints
	// the learner's files under it (example.com/payments/main.go).
	GoModule string
	// ReadFile reads a file by its path in the app's container (a script and its source map);
	// an error wrapping fs.ErrNotExist means there is no such file. Nil: nothing is read, and
	// JavaScript frames are only annotated when the repository holds the script itself.
	ReadFile func(path string) ([]byte, error)
}

// frame is one call in a stack trace, as the log prints it.
type frame struct {
	fn   string // the function; for Go, its package path decides whose code it is
	file string // as printed: a path in the container, or a -trimpath'd Go path
	line int
	col  int
}

// trace is one crash or logged error: its message and its frames, innermost first.
type trace struct {
	lang    string // "go", "node", "python"
	message string
	frames  []frame
}

// RuntimeAnnotations finds Go panics, Node.js stack traces and Python tracebacks in the app's
// output and points each at the innermost frame in the learner's code, repo-relative, with the
// panic's or exception's message. Frames in the runtime, the standard library and dependencies
// are skipped; a trace with no frame in the repository gives nothing. Annotations are at most
// maxRuntimeAnnotations, one per file:line.
func RuntimeAnnotations(log string, repo Repo) []Annotation {
	lines := strings.Split(strings.ReplaceAll(log, "\r\n", "\n"), "\n")
	r := newResolver(repo)
	var out []Annotation
	seen := map[string]bool{}
	for _, t := range parseTraces(lines) {
		if len(out) >= maxRuntimeAnnotations {
			break
		}
		a, ok := r.annotate(t)
		if !ok {
			continue
		}
		key := fmt.Sprintf("%s:%d", a.Path, a.Line)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, a)
	}
	return out
}

// parseTraces runs every language's parser over the log, keeping the traces in log order.
func parseTraces(lines []string) []trace {
	type at struct {
		line int
		t    trace
	}
	var all []at
	for _, p := range []func([]string) ([]int, []trace){goPanics, nodeTraces, pyTracebacks} {
		starts, ts := p(lines)
		for i := range ts {
			all = append(all, at{starts[i], ts[i]})
		}
	}
	// Insertion sort: a handful of traces.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].line < all[j-1].line; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	out := make([]trace, len(all))
	for i, a := range all {
		out[i] = a.t
	}
	return out
}

var (
	// panic: runtime error: …   fatal error: concurrent map writes
	// 2026/12/06 14:45:29 http: panic serving 127.0.0.1:43614: assignment to entry in nil map
	goHeader    = regexp.MustCompile(`^(?:panic: (.+)|fatal error: (.+)|.*\bhttp: panic serving \S+: (.+))$`)
	goGoroutine = regexp.MustCompile(`^goroutine \d+ .*\]:$`)
	// \texample.com/payments/main.go:14 +0xca   or   \t/src/main.go:27 +0x59 fp=… sp=…
	goFile = regexp.MustCompile(`^\t(.+\.go):(\d+)(?: .*)?$`)
)

// goPanics finds panics and fatal errors, with the stack of the goroutine that failed (the first
// after the message; GOTRACEBACK=all prints the others after it).
func goPanics(lines []string) ([]int, []trace) {
	var starts []int
	var out []trace
	for i := 0; i < len(lines); i++ {
		m := goHeader.FindStringSubmatch(strings.TrimRight(lines[i], " "))
		if m == nil {
			continue
		}
		msg := "panic: " + m[1]
		if m[2] != "" {
			msg = "fatal error: " + m[2]
		} else if m[3] != "" {
			msg = "panic: " + m[3]
		}
		// The goroutine header follows within a few lines ([signal …], nested panics, a blank).
		j := i + 1
		for ; j < len(lines) && j <= i+8 && !goGoroutine.MatchString(lines[j]); j++ {
		}
		if j >= len(lines) || !goGoroutine.MatchString(lines[j]) {
			continue
		}
		t := trace{lang: "go", message: msg}
		for j++; j+1 < len(lines); j += 2 {
			fn, file := lines[j], goFile.FindStringSubmatch(lines[j+1])
			if fn == "" || strings.HasPrefix(fn, "\t") || file == nil {
				break
			}
			t.frames = append(t.frames, frame{fn: goFunc(fn), file: file[1], line: atoi(file[2])})
		}
		starts, out = append(starts, i), append(out, t)
		i = j - 1
	}
	return starts, out
}

// goFunc returns the function of a Go frame line: "main.handler(...)" → "main.handler",
// "created by main.main in goroutine 1" → "main.main".
func goFunc(s string) string {
	s = strings.TrimPrefix(s, "created by ")
	if i := strings.Index(s, " in goroutine "); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "("); i > 0 && strings.HasSuffix(s, ")") {
		s = s[:i]
	}
	return s
}

// goPackage returns the package path of a Go function name:
// "example.com/payments/internal/pay.(*Store).Charge" → "example.com/payments/internal/pay".
func goPackage(fn string) string {
	slash := strings.LastIndex(fn, "/")
	if dot := strings.Index(fn[slash+1:], "."); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// "    at charge (/app/dist/pay.js:7:28)", "    at async Promise.all (index 0)" (no place),
// "    at /app/dist/index.js:3:5", "    at file:///app/dist/index.mjs:3:5"
var nodeAt = regexp.MustCompile(`^\s+at (?:async )?(?:(.*?) \()?(\S+?):(\d+):(\d+)\)?$`)

// nodeTraces finds stack traces Node.js prints for uncaught exceptions and for errors the app
// logs (console.error(err)): a run of "at" lines under the error's message.
func nodeTraces(lines []string) ([]int, []trace) {
	var starts []int
	var out []trace
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "at ") {
			continue
		}
		msg := ""
		for k := i - 1; k >= 0 && k >= i-3; k-- {
			if s := strings.TrimSpace(lines[k]); s != "" {
				msg = s
				break
			}
		}
		t := trace{lang: "node", message: msg}
		j := i
		for ; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "at "); j++ {
			if m := nodeAt.FindStringSubmatch(lines[j]); m != nil {
				t.frames = append(t.frames, frame{fn: m[1], file: m[2], line: atoi(m[3]), col: atoi(m[4])})
			}
		}
		if msg != "" && len(t.frames) > 0 {
			starts, out = append(starts, i), append(out, t)
		}
		i = j - 1
	}
	return starts, out
}

// File "/app/store/db.py", line 10, in amount_of   (", in …" is missing for a SyntaxError)
var pyFileLine = regexp.MustCompile(`^\s*File "([^"]+)", line (\d+)(?:, in (.+))?$`)

// pyTracebacks finds Python tracebacks: frames (each with its source line and, since 3.11,
// carets under it) ended by the exception's line, the first that is not indented. A chained
// exception is a traceback of its own.
func pyTracebacks(lines []string) ([]int, []trace) {
	var starts []int
	var out []trace
	for i := 0; i < len(lines); i++ {
		if pyFileLine.FindStringSubmatch(lines[i]) == nil {
			continue
		}
		start := i
		var frames []frame // outermost first, as printed
		j := i
		for ; j < len(lines); j++ {
			if m := pyFileLine.FindStringSubmatch(lines[j]); m != nil {
				frames = append(frames, frame{fn: m[3], file: m[1], line: atoi(m[2])})
				continue
			}
			if l := lines[j]; l != "" && l[0] != ' ' && l[0] != '\t' {
				break
			}
		}
		i = j
		if j >= len(lines) {
			break // the log was cut before the exception's line
		}
		t := trace{lang: "python", message: strings.TrimSpace(lines[j])}
		for k := len(frames) - 1; k >= 0; k-- {
			t.frames = append(t.frames, frames[k])
		}
		starts, out = append(starts, start), append(out, t)
	}
	return starts, out
}

// pyStdlib matches the interpreter's own modules: /usr/lib/python3.11/socketserver.py.
var pyStdlib = regexp.MustCompile(`/lib/python[23](\.\d+)?/`)

// resolver maps frames to files of the repository.
type resolver struct {
	repo  Repo
	known map[string]bool
	maps  map[string]*sourceMap // by script path; nil when it has none
}

func newResolver(repo Repo) *resolver {
	return &resolver{repo: repo, known: knownFiles(repo.Files), maps: map[string]*sourceMap{}}
}

// annotate points a trace at its innermost frame in the learner's code.
func (r *resolver) annotate(t trace) (Annotation, bool) {
	for _, f := range t.frames {
		var p string
		line, col := f.line, f.col
		switch t.lang {
		case "go":
			p = r.goFile(f)
		case "node":
			p, line, col = r.nodeFile(f)
		case "python":
			p = r.pyFile(f)
		}
		if p != "" {
			return Annotation{Path: p, Line: line, Column: col, Message: t.message}, true
		}
	}
	return Annotation{}, false
}

// goFile returns the repo file of a frame in the learner's packages, "" for the runtime, the
// standard library and modules the learner's code depends on.
func (r *resolver) goFile(f frame) string {
	if strings.Contains(f.file, "@v") || strings.Contains(f.file, "/pkg/mod/") || strings.Contains(f.file, "/vendor/") {
		return ""
	}
	pkg, mod := goPackage(f.fn), r.repo.GoModule
	switch {
	case pkg == "main":
	case mod != "":
		if pkg != mod && !strings.HasPrefix(pkg, mod+"/") {
			return ""
		}
		if rel, ok := strings.CutPrefix(f.file, mod+"/"); ok && r.known[rel] {
			return rel // -trimpath
		}
	case !strings.Contains(strings.SplitN(pkg, "/", 2)[0], "."):
		return "" // the standard library (runtime, net/http, …)
	}
	return repoPath(f.file, r.known)
}

// nodeFile returns the repo file, line and column of a frame in the learner's scripts, through
// the script's source map when it has one.
func (r *resolver) nodeFile(f frame) (string, int, int) {
	file := strings.TrimPrefix(f.file, "file://")
	if strings.HasPrefix(file, "node:") || strings.HasPrefix(file, "internal/") || strings.Contains(file, "/node_modules/") {
		return "", 0, 0
	}
	line, col := f.line, f.col
	if m := r.sourceMap(file); m != nil {
		src, l, c, ok := m.lookup(line, col)
		if !ok {
			return "", 0, 0
		}
		if strings.Contains(src, "/node_modules/") {
			return "", 0, 0
		}
		file, line, col = src, l, c
	}
	return repoPath(file, r.known), line, col
}

// sourceMap returns the map of a script the app ran, nil when it has none or it cannot be read:
// then the script's own line is used, if the repository holds the script.
func (r *resolver) sourceMap(js string) *sourceMap {
	if r.repo.ReadFile == nil || !strings.HasSuffix(js, "js") {
		return nil
	}
	if m, ok := r.maps[js]; ok {
		return m
	}
	m, err := sourceMapOf(r.repo.ReadFile, js)
	if err != nil {
		m = nil // a broken map points nowhere; the script's own line is still the learner's
	}
	r.maps[js] = m
	return m
}

// pyFile returns the repo file of a frame outside the interpreter's library and installed
// packages.
func (r *resolver) pyFile(f frame) string {
	if strings.Contains(f.file, "/site-packages/") || strings.Contains(f.file, "/dist-packages/") ||
		pyStdlib.MatchString(f.file) || strings.HasPrefix(f.file, "<") {
		return ""
	}
	return repoPath(f.file, r.known)
}
