package scenariotest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// toolchain is one language a learner's Dockerfile builds with: the ARG the grader sets, how a
// brief names it, and how many parts of its version must agree (Go 1.26, Node.js 20, Python 3.11:
// Python's language changes with the minor version, as Go's does).
type toolchain struct {
	arg     string   // build ARG naming the image, e.g. NODE_IMAGE
	name    string   // as the brief's version line names it
	starter string   // directory under templates/<slug>/starter/
	parts   int      // version parts compared
	cmd     []string // prints the version inside the image
	out     *regexp.Regexp
	example string // an image reference with a version tag
}

var toolchains = []toolchain{
	{"GO_IMAGE", "Go", "go", 2, []string{"go", "version"}, regexp.MustCompile(`\bgo(\d+(?:\.\d+)*)`), "golang:1.26-bookworm"},
	{"NODE_IMAGE", "Node.js", "ts", 1, []string{"node", "--version"}, regexp.MustCompile(`^v(\d+(?:\.\d+)*)`), "node:20-bookworm-slim"},
	{"PYTHON_IMAGE", "Python", "python", 2, []string{"python3", "--version"}, regexp.MustCompile(`^Python (\d+(?:\.\d+)*)`), "python:3.11-slim-bookworm"},
}

// versionLine is the line of a brief's "Starter" section that states the versions, the same
// wording in every brief; its list names each language that has a starter, in toolchains order.
const versionLine = "Toolchain versions (the starters' and the grader's): "

var (
	argImage   = regexp.MustCompile(`^\s*ARG\s+([A-Z0-9_]+_IMAGE)=(\S+)`)
	versionOf  = regexp.MustCompile(`^(\d+(?:\.\d+)*)`)
	briefEntry = regexp.MustCompile(`^(\S+(?: \S+)*) (\d+(?:\.\d+)*)$`)
)

// cut returns v cut to n parts ("1.26.8" -> "1.26"), or "" when v has fewer.
func cut(v string, n int) string {
	p := strings.Split(v, ".")
	if len(p) < n {
		return ""
	}
	return strings.Join(p[:n], ".")
}

// stated is a version some file states, and where.
type stated struct {
	version, where string
}

// TestToolchainsMatchTheBriefs holds every toolchain version to one story. A learner reads the
// brief's version line, builds the starter with its Dockerfile's `ARG GO_IMAGE`/`NODE_IMAGE`/
// `PYTHON_IMAGE` default, and is graded on the local image the grader passes instead
// (docker.DefaultBuildArgs). All of them, and every testdata Dockerfile of the kill matrices,
// must name the same Go major.minor, Node.js major and Python major.minor: a solution that is
// correct on the version the brief promises must not fail on another one.
func TestToolchainsMatchTheBriefs(t *testing.T) {
	root := filepath.Join("..", "..")
	byName := map[string]toolchain{}
	for _, tc := range toolchains {
		byName[tc.arg] = tc
	}
	// every version stated, by toolchain ARG, to hold against the image
	seen := map[string][]stated{}

	// The briefs' version lines, checked against the starters each template has.
	briefs := map[string]map[string]string{} // slug -> ARG -> version
	readmes, err := filepath.Glob(filepath.Join(root, "templates", "*", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, readme := range readmes {
		slug := filepath.Base(filepath.Dir(readme))
		rel := filepath.ToSlash(filepath.Join("templates", slug, "README.md"))
		versions, err := briefVersions(readme)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		briefs[slug] = versions
		for _, tc := range toolchains {
			_, hasStarter := os.Stat(filepath.Join(root, "templates", slug, "starter", tc.starter, "Dockerfile"))
			v, states := versions[tc.arg]
			switch {
			case hasStarter == nil && !states:
				t.Errorf("%s: has a starter/%s but its version line states no %s version", rel, tc.starter, tc.name)
			case hasStarter != nil && states:
				t.Errorf("%s: its version line states %s %s but it has no starter/%s", rel, tc.name, v, tc.starter)
			}
			if states {
				seen[tc.arg] = append(seen[tc.arg], stated{v, rel})
			}
		}
	}

	// Every starter's and every testdata Dockerfile's toolchain ARG default, against its brief.
	starters, err := filepath.Glob(filepath.Join(root, "templates", "*", "starter", "*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	variants, err := filepath.Glob(filepath.Join(root, "scenarios", "*", "testdata", "*", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(starters) == 0 || len(variants) == 0 {
		t.Fatalf("found %d starters and %d testdata Dockerfiles; run from scenarios/scenariotest", len(starters), len(variants))
	}
	for _, df := range append(starters, variants...) {
		relPath, _ := filepath.Rel(root, df)
		rel := filepath.ToSlash(relPath)
		slug := strings.Split(rel, "/")[1] // templates/<slug>/… or scenarios/<slug>/…
		args, err := toolchainArgs(df)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if len(args) == 0 {
			t.Errorf("%s: no `ARG GO_IMAGE=…`, `ARG NODE_IMAGE=…` or `ARG PYTHON_IMAGE=…` with a default: the grader could not choose its toolchain", rel)
		}
		for arg, image := range args {
			tc := byName[arg]
			v := imageVersion(image, tc.parts)
			if v == "" {
				t.Errorf("%s: `ARG %s=%s` names no %s version (want a tag such as %s)", rel, arg, image, tc.name, tc.example)
				continue
			}
			seen[arg] = append(seen[arg], stated{v, fmt.Sprintf("%s (%s)", rel, image)})
			brief, ok := briefs[slug]
			if !ok {
				continue // its brief's own error is reported above
			}
			if want, ok := brief[arg]; !ok {
				t.Errorf("%s: builds with %s %s, but templates/%s/README.md states no %s version", rel, tc.name, v, slug, tc.name)
			} else if v != want {
				t.Errorf("%s: `ARG %s=%s` is %s %s, but templates/%s/README.md states %s %s", rel, arg, image, tc.name, v, slug, tc.name, want)
			}
		}
	}

	// The local images the grader builds with: each must run the version the others state.
	t.Run("local images", func(t *testing.T) {
		dockertest.Engine(t) // skips (or, with HOLDFAST_REQUIRE_DOCKER, fails) without Docker and images
		for _, tc := range toolchains {
			states := seen[tc.arg]
			if len(states) == 0 {
				continue
			}
			image := docker.DefaultBuildArgs[tc.arg]
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			out, err := exec.CommandContext(ctx, "docker", append([]string{"run", "--rm", "--network", "none", image}, tc.cmd...)...).CombinedOutput()
			cancel()
			line := strings.TrimSpace(string(out))
			if err != nil {
				t.Errorf("%s in %s: %v\n%s", strings.Join(tc.cmd, " "), image, err, line)
				continue
			}
			m := tc.out.FindStringSubmatch(line)
			have := ""
			if m != nil {
				have = cut(m[1], tc.parts)
			}
			if have == "" {
				t.Errorf("%s in %s printed %q: no %s version", strings.Join(tc.cmd, " "), image, line, tc.name)
				continue
			}
			t.Logf("%s: %s (%s)", image, line, tc.name+" "+have)
			wrong := map[string][]string{}
			for _, s := range states {
				if s.version != have {
					wrong[s.version] = append(wrong[s.version], s.where)
				}
			}
			versions := make([]string, 0, len(wrong))
			for v := range wrong {
				versions = append(versions, v)
			}
			sort.Strings(versions)
			for _, v := range versions {
				t.Errorf("%s runs %s %s (%s), but %d files state %s %s:\n  %s", image, tc.name, have, line,
					len(wrong[v]), tc.name, v, strings.Join(wrong[v], "\n  "))
			}
		}
	})
}

// briefVersions reads a brief's version line: exactly one line starting with versionLine, listing
// "Go 1.26", "Node.js 20", "Python 3.11" (each known name at most once), ending with a period.
func briefVersions(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), " \r"); strings.HasPrefix(l, versionLine) {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	example := versionLine + "Go 1.26, Node.js 20, Python 3.11."
	if len(lines) != 1 {
		return nil, fmt.Errorf("want exactly one version line (%q, listing the languages of its starters), found %d", example, len(lines))
	}
	list, ok := strings.CutSuffix(strings.TrimPrefix(lines[0], versionLine), ".")
	if !ok {
		return nil, fmt.Errorf("version line %q: want it to end with a period, like %q", lines[0], example)
	}
	out := map[string]string{}
	for _, entry := range strings.Split(list, ", ") {
		m := briefEntry.FindStringSubmatch(entry)
		var tc *toolchain
		for i := range toolchains {
			if m != nil && toolchains[i].name == m[1] {
				tc = &toolchains[i]
			}
		}
		if tc == nil {
			return nil, fmt.Errorf("version line %q: %q is not one of \"Go X.Y\", \"Node.js N\", \"Python X.Y\"", lines[0], entry)
		}
		if _, dup := out[tc.arg]; dup {
			return nil, fmt.Errorf("version line %q names %s twice", lines[0], tc.name)
		}
		if strings.Count(m[2], ".")+1 != tc.parts {
			return nil, fmt.Errorf("version line %q: state %s with %d version parts, as in %q", lines[0], tc.name, tc.parts, example)
		}
		out[tc.arg] = m[2]
	}
	return out, nil
}

// toolchainArgs returns the defaults of a Dockerfile's toolchain ARGs (GO_IMAGE, NODE_IMAGE,
// PYTHON_IMAGE); an ARG the grader does not set (RUNTIME_IMAGE, say) is not a toolchain.
func toolchainArgs(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		m := argImage.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		known := false
		for _, tc := range toolchains {
			known = known || tc.arg == m[1]
		}
		if !known {
			continue
		}
		image := strings.Trim(m[2], `"'`)
		if prev, ok := out[m[1]]; ok && prev != image {
			return nil, fmt.Errorf("ARG %s has two defaults, %s and %s", m[1], prev, image)
		}
		out[m[1]] = image
	}
	return out, nil
}

// imageVersion reads the version an image reference's tag starts with, cut to parts
// ("golang:1.26-bookworm" -> "1.26", "node:20-bookworm-slim" -> "20"); "" if it names none.
func imageVersion(image string, parts int) string {
	ref := image[strings.LastIndex(image, "/")+1:]
	ref, _, _ = strings.Cut(ref, "@")
	_, tag, ok := strings.Cut(ref, ":")
	if !ok {
		return ""
	}
	m := versionOf.FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return cut(m[1], parts)
}
