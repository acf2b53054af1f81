package docker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/untrusted"
)

func TestCheckDockerfile(t *testing.T) {
	t.Parallel()
	args := map[string]string{"GO_IMAGE": "holdfast/golang:local", "NODE_IMAGE": "mirror.internal:5000/node:20"}
	many := func(instr string, n int) string {
		return "FROM scratch\n" + strings.Repeat(instr+"\n", n)
	}
	cases := []struct {
		name, src string
		want      string // substring of the reason; "" means accepted
	}{
		{"starter", "ARG GO_IMAGE=golang:1.26-bookworm\nFROM ${GO_IMAGE} AS build\nCOPY . .\nRUN go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\n", ""},
		{"stage index", "FROM alpine\nRUN true\nFROM scratch\nCOPY --from=0 /bin/sh /sh\n", ""},
		{"official image", "FROM golang:1.26\nFROM ghcr.io/org/img:1\nFROM docker.io/library/node:20\n", ""},
		{"operator's registry", "ARG NODE_IMAGE=node:20\nFROM ${NODE_IMAGE}\n", ""},
		{"local add", "FROM scratch\nADD app.tar.gz /\n", ""},
		{"add http", "FROM scratch\nRUN true\nADD http://127.0.0.1:8080/secret /s\n", "line 3: ADD http://127.0.0.1:8080/secret: remote sources"},
		{"add https json", "FROM scratch\nADD [\"https://example.com/x\", \"/x\"]\n", "line 2: ADD https://example.com/x: remote"},
		{"add upper scheme", "FROM scratch\nADD HTTP://example.com/x /x\n", "remote sources"},
		{"add escaped scheme", "FROM scratch\nADD h\\ttp://127.0.0.1/x /x\n", "remote sources"},
		{"add git", "FROM scratch\nADD git@github.com:org/repo.git /src\n", "remote sources"},
		{"add github", "FROM scratch\nADD github.com/org/repo /src\n", "remote sources"},
		{"add variable", "FROM scratch\nARG U=http://127.0.0.1/x\nADD $U /x\n", "line 3: ADD $U: ADD sources may not use variables"},
		{"add checksum", "FROM scratch\nADD --checksum=sha256:00 x /x\n", "ADD --checksum is for remote sources"},
		{"add keep git dir", "FROM scratch\nADD --keep-git-dir=true x /x\n", "keep-git-dir"},
		{"copy url", "FROM scratch\nCOPY http://example.com/x /x\n", "COPY http://example.com/x: remote"},
		{"copy from url", "FROM scratch\nCOPY --from=http://127.0.0.1/x / /\n", "is a URL"},
		{"copy from loopback registry", "FROM scratch\nCOPY --from=127.0.0.1:5000/img / /\n", "registry by address or port"},
		{"copy from later stage", "FROM scratch\nCOPY --from=3 / /\n", "not an earlier stage"},
		{"from loopback registry", "FROM localhost:5000/img\n", "line 1: FROM localhost:5000/img names a registry by address"},
		{"from arg registry", "ARG B=10.0.0.5/img\nFROM $B\n", "line 2: FROM 10.0.0.5/img"},
		{"unreadable image name", "FROM ${X\n", "). Write the name out, or use ${NAME} with NAME set by an ARG"},
		{"from unknown registry", "FROM evil.example/img\n", "names the registry evil.example"},
		{"onbuild add", "FROM scratch\nONBUILD ADD http://169.254.169.254/ /m\n", "ONBUILD ADD http://169.254.169.254/"},
		{"too many instructions", many("ENV A=1", maxInstructions), "instructions; at most 400"},
		{"too many layers", many("RUN true", maxLayersPerStage+1), "line 102: this stage has more than 100"},
		{"does not parse", "FROM scratch\nRUN <<EOF\n", "does not parse: unterminated heredoc"},
	}
	for _, c := range cases {
		// The refusal as the learner reads it (grading words it; messages_test.go pins each
		// rule's words in full).
		got := ""
		if r := checkDockerfile([]byte(c.src), args); r != nil {
			got = r.Error()
		}
		if c.want == "" && got != "" {
			t.Errorf("%s: refused: %s", c.name, got)
		}
		if c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want it to contain %q", c.name, got, c.want)
		}
	}
	if got := checkDockerfile(make([]byte, maxDockerfileLength+1), args); got == nil || !strings.Contains(got.Error(), "larger than") {
		t.Errorf("huge Dockerfile: got %v", got)
	}
}

func TestSymlinkedDockerignoreIsNotFollowed(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "host-file")
	// Were the link followed, these patterns would leave main.go out of the context.
	if err := os.WriteFile(secret, []byte("main.go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "main.go": "package main\n"})
	if err := os.Symlink(secret, filepath.Join(dir, ".dockerignore")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := contextTar(dir, 1<<20); !errors.Is(err, untrusted.ErrSymlink) {
		t.Fatalf("contextTar with a symlinked .dockerignore: got %v, want untrusted.ErrSymlink", err)
	}
	if err := os.Remove(filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if _, err := readDockerfile(dir); !errors.Is(err, untrusted.ErrSymlink) {
		t.Fatalf("readDockerfile of a symlink: got %v, want untrusted.ErrSymlink", err)
	}
}
