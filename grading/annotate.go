package grading

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// maxAnnotations bounds what one verdict carries; a build that fails on hundreds of lines is
// fixed from the first few.
const maxAnnotations = 50

var (
	// ./main.go:12:5: undefined: foo   (go build, go vet)
	goError = regexp.MustCompile(`^\s*([\w./@-]+\.go):(\d+):(\d+): (.+)$`)
	// src/index.ts(12,5): error TS2322: …   or   src/index.ts:12:5 - error TS2322: …
	tscParen = regexp.MustCompile(`^\s*([\w./@-]+\.(?:ts|tsx|mts|cts)|[\w./@-]+\.(?:js|jsx))\((\d+),(\d+)\): (error .+)$`)
	tscColon = regexp.MustCompile(`^\s*([\w./@-]+\.(?:ts|tsx|mts|cts)):(\d+):(\d+) - (error .+)$`)
)

// Annotations finds compiler errors and Python tracebacks in a build log and points them at files of
// the learner's repository. Paths in the log are container paths (/src/main.go, ./main.go);
// they are matched to files by their longest repo-relative suffix, and lines that match no file
// of the repository are left out rather than guessed.
func Annotations(log string, files []string) []Annotation {
	known := knownFiles(files)
	var out []Annotation
	seen := map[Annotation]bool{}
	add := func(a Annotation) {
		if a.Path == "" || seen[a] || len(out) >= maxAnnotations {
			return
		}
		seen[a] = true
		out = append(out, a)
	}
	lines := strings.Split(log, "\n")
	for i, raw := range lines {
		lines[i] = strings.TrimRight(stripStep(raw), "\r")
	}
	for _, line := range lines {
		for _, re := range []*regexp.Regexp{goError, tscParen, tscColon} {
			if m := re.FindStringSubmatch(line); m != nil {
				add(Annotation{Path: repoPath(m[1], known), Line: atoi(m[2]), Column: atoi(m[3]), Message: strings.TrimSpace(m[4])})
				break
			}
		}
	}
	// A Python build step that imports the app (a check in the Dockerfile) fails with a traceback.
	r := &resolver{known: known}
	_, traces := pyTracebacks(lines)
	for _, t := range traces {
		if a, ok := r.annotate(t); ok {
			add(a)
		}
	}
	return out
}

// stripStep removes what Docker's classic builder puts in front of a step's output.
func stripStep(s string) string {
	return strings.TrimPrefix(s, " ---> ")
}

// repoPath maps a path from a log to a file of the repository, or "" when none matches
// unambiguously.
func repoPath(p string, known map[string]bool) string {
	p = strings.TrimPrefix(cleanPath(p), "/")
	parts := strings.Split(p, "/")
	for i := range parts {
		cand := strings.Join(parts[i:], "/")
		if !known[cand] {
			continue
		}
		if i == len(parts)-1 && len(parts) > 1 && ambiguous(cand, known) {
			return "" // only the base name matched, and more than one file has it
		}
		return cand
	}
	return ""
}

// knownFiles is the set of a repository's files, cleaned, for repoPath.
func knownFiles(files []string) map[string]bool {
	known := make(map[string]bool, len(files))
	for _, f := range files {
		known[strings.TrimPrefix(cleanPath(f), "/")] = true
	}
	return known
}

// cleanPath cleans a path as an absolute one: "./main.go" → "/main.go".
func cleanPath(p string) string { return path.Clean("/" + p) }

func ambiguous(base string, known map[string]bool) bool {
	n := 0
	for f := range known {
		if f == base || strings.HasSuffix(f, "/"+base) {
			n++
		}
	}
	return n > 1
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
