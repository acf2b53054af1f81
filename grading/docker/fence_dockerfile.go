package docker

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Caps on a learner's Dockerfile, checked before the build. Docker's overlay storage allows
// about 125 layers per image, the base image's included; past that the daemon fails with only
// "max depth exceeded".
const (
	maxInstructions     = 400
	maxLayersPerStage   = 100
	maxDockerfileLength = 1 << 20
)

// imageRegistries are the registries a FROM or COPY --from may pull from. An image reference
// names a host the daemon itself connects to, on the host's own network: `FROM
// 127.0.0.1:5000/x` or a name that resolves to a private address would make dockerd fetch from
// the grading host or its neighbours.
var imageRegistries = map[string]bool{
	"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true,
	"ghcr.io": true, "gcr.io": true, "quay.io": true, "public.ecr.aws": true,
	"mcr.microsoft.com": true, "registry.k8s.io": true,
}

// checkDockerfile refuses, before anything is sent to the daemon, what would make the daemon
// fetch from a URL or a registry of the learner's choosing (on the grading host's network, not
// the build's fenced one), and Dockerfiles too long to build. The answer is a learner-facing
// reason naming the line, or "" when the Dockerfile may be built. args are the build args the
// grader passes (they decide what `FROM ${GO_IMAGE}` names).
func checkDockerfile(src []byte, args map[string]string) string {
	if len(src) > maxDockerfileLength {
		return fmt.Sprintf("The Dockerfile is larger than %d KiB. Shorten it.", maxDockerfileLength>>10)
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return "The Dockerfile does not parse: " + firstLine(err.Error()) + ". `docker build .` shows the same error locally."
	}
	lex := shell.NewLex(res.EscapeToken)
	nodes := res.AST.Children
	if len(nodes) > maxInstructions {
		return fmt.Sprintf("The Dockerfile has %d instructions; at most %d are built here. Combine RUN steps (`RUN a && b`) and COPY whole directories.", len(nodes), maxInstructions)
	}
	// ARGs before the first FROM (with the grader's values over their defaults) are what FROM
	// lines may use.
	meta := map[string]string{}
	var stages []string // lowercased stage names, "" for unnamed
	layers := 0
	for _, n := range nodes {
		line := n.StartLine
		instr := strings.ToLower(n.Value)
		switch instr {
		case "arg":
			if len(stages) > 0 {
				break
			}
			for a := n.Next; a != nil; a = a.Next {
				k, v, _ := strings.Cut(a.Value, "=")
				if given, ok := args[k]; ok {
					v = given
				} else if w, _, err := lex.ProcessWord(v, envMap(meta)); err == nil {
					v = w
				}
				meta[k] = v
			}
		case "from":
			if n.Next == nil {
				break
			}
			ref, _, err := lex.ProcessWord(n.Next.Value, envMap(meta))
			if err != nil {
				return fmt.Sprintf("Dockerfile line %d: cannot read the image name %q (%v). Write the name out, or use ${NAME} with NAME set by an ARG before the first FROM.", line, n.Next.Value, err)
			}
			// An image the operator names in a build arg (HOLDFAST_GO_IMAGE=registry.internal/…)
			// is theirs to choose, registry and all.
			if why := refusedImage(ref, stages); why != "" && !operatorImage(ref, args) {
				return fmt.Sprintf("Dockerfile line %d: FROM %s %s", line, ref, why)
			}
			name := ""
			if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				name = strings.ToLower(as.Next.Value)
			}
			stages = append(stages, name)
			layers = 0
		case "onbuild":
			if n.Next != nil && len(n.Next.Children) > 0 {
				inner := n.Next.Children[0]
				if v := strings.ToLower(inner.Value); v == "add" || v == "copy" {
					if why := checkCopy(inner, stages, lex); why != "" {
						return fmt.Sprintf("Dockerfile line %d: ONBUILD %s", line, why)
					}
				}
			}
		case "add", "copy":
			if why := checkCopy(n, stages, lex); why != "" {
				return fmt.Sprintf("Dockerfile line %d: %s", line, why)
			}
		}
		if instr == "run" || instr == "add" || instr == "copy" {
			layers++
			if layers > maxLayersPerStage {
				return fmt.Sprintf("Dockerfile line %d: this stage has more than %d RUN, COPY and ADD steps, more layers than an image can hold. Combine RUN steps (`RUN a && b`) and COPY whole directories.", line, maxLayersPerStage)
			}
		}
	}
	return ""
}

// checkCopy refuses an ADD or COPY that would make the daemon fetch: a URL or git source, an
// ADD --checksum (only meant for URLs), or --from naming something other than an earlier stage.
func checkCopy(n *parser.Node, stages []string, lex *shell.Lex) string {
	instr := strings.ToUpper(n.Value)
	for _, f := range n.Flags {
		name, val, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		switch strings.ToLower(name) {
		case "checksum", "keep-git-dir":
			return fmt.Sprintf("%s --%s is for remote sources, which are not fetched here. Put the file in the repository and COPY it.", instr, name)
		case "from":
			if why := refusedImage(val, stages); why != "" {
				return fmt.Sprintf("%s --from=%s %s", instr, val, why)
			}
		}
	}
	var srcs []string
	for a := n.Next; a != nil && a.Next != nil; a = a.Next { // every argument but the destination
		srcs = append(srcs, a.Value)
	}
	for _, raw := range srcs {
		if instr == "ADD" && strings.Contains(raw, "$") {
			return fmt.Sprintf("ADD %s: ADD sources may not use variables here (a variable could name a URL). Write the path out, or use COPY.", raw)
		}
		src := raw
		if w, _, err := lex.ProcessWord(raw, envMap(nil)); err == nil {
			src = w
		}
		if isRemote(src) {
			return fmt.Sprintf("%s %s: remote sources are not fetched here (the build may only reach package registries, through its proxy). Download the file in a RUN step (curl or wget), or commit it to the repository and COPY it.", instr, raw)
		}
	}
	return ""
}

// isRemote reports whether an ADD source names something to download rather than a path in
// the context: any URL scheme, and the git forms Docker recognises.
func isRemote(src string) bool {
	s := strings.ToLower(strings.TrimSpace(src))
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/")
}

// refusedImage says why an image reference (a FROM or --from) may not be used, or "" if it may:
// an earlier stage, or an image on a public registry.
func refusedImage(ref string, stages []string) string {
	low := strings.ToLower(ref)
	if low == "scratch" {
		return ""
	}
	for _, s := range stages {
		if s != "" && s == low {
			return ""
		}
	}
	if i, err := strconv.Atoi(ref); err == nil {
		if i >= 0 && i < len(stages) {
			return ""
		}
		return fmt.Sprintf("names stage %d, which is not an earlier stage.", i)
	}
	if isRemote(ref) {
		return "is a URL: images come from a registry or an earlier stage."
	}
	host, _, found := strings.Cut(ref, "/")
	if !found || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return "" // Docker Hub
	}
	if imageRegistries[strings.ToLower(host)] {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil || strings.Contains(host, ":") || host == "localhost" {
		return "names a registry by address or port, which is not reached from here. Use an image on a public registry (Docker Hub, ghcr.io, quay.io, …)."
	}
	return fmt.Sprintf("names the registry %s, which is not reached from here. Use an image on Docker Hub, ghcr.io, gcr.io, quay.io, public.ecr.aws, mcr.microsoft.com or registry.k8s.io.", host)
}

func operatorImage(ref string, args map[string]string) bool {
	for _, v := range args {
		if v == ref {
			return true
		}
	}
	return false
}

// envMap adapts a map to the lexer's variable lookup.
type envMap map[string]string

func (m envMap) Get(k string) (string, bool) { v, ok := m[k]; return v, ok }

func (m envMap) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
