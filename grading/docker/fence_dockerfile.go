package docker

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/holdfast-ci/holdfast/grading"
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
// the build's fenced one), and Dockerfiles too long to build. The answer is what it refused and
// where (grading words it for the learner), or nil when the Dockerfile may be built. args are
// the build args the grader passes (they decide what `FROM ${GO_IMAGE}` names).
func checkDockerfile(src []byte, args map[string]string) *grading.DockerfileRefusal {
	if len(src) > maxDockerfileLength {
		return &grading.DockerfileRefusal{Rule: grading.RuleTooLong, Limit: maxDockerfileLength}
	}
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return &grading.DockerfileRefusal{Rule: grading.RuleUnparsable, Err: firstLine(err.Error())}
	}
	lex := shell.NewLex(res.EscapeToken)
	nodes := res.AST.Children
	if len(nodes) > maxInstructions {
		return &grading.DockerfileRefusal{Rule: grading.RuleTooManyInstructions, Count: len(nodes), Limit: maxInstructions}
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
				return &grading.DockerfileRefusal{Rule: grading.RuleImageUnreadable, Line: line, Instr: "FROM", Arg: n.Next.Value, Err: err.Error()}
			}
			// An image the operator names in a build arg (HOLDFAST_GO_IMAGE=registry.internal/…)
			// is theirs to choose, registry and all.
			if r := refusedImage(ref, stages); r != nil && !operatorImage(ref, args) {
				r.Line, r.Instr = line, "FROM"
				return r
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
					if r := checkCopy(inner, stages, lex); r != nil {
						r.Line, r.Instr = line, "ONBUILD "+r.Instr
						return r
					}
				}
			}
		case "add", "copy":
			if r := checkCopy(n, stages, lex); r != nil {
				r.Line = line
				return r
			}
		}
		if instr == "run" || instr == "add" || instr == "copy" {
			layers++
			if layers > maxLayersPerStage {
				return &grading.DockerfileRefusal{Rule: grading.RuleTooManyLayers, Line: line, Instr: strings.ToUpper(n.Value), Limit: maxLayersPerStage}
			}
		}
	}
	return nil
}

// checkCopy refuses an ADD or COPY that would make the daemon fetch: a URL or git source, an
// ADD --checksum (only meant for URLs), or --from naming something other than an earlier stage.
// The refusal has no line yet.
func checkCopy(n *parser.Node, stages []string, lex *shell.Lex) *grading.DockerfileRefusal {
	instr := strings.ToUpper(n.Value)
	for _, f := range n.Flags {
		name, val, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		switch strings.ToLower(name) {
		case "checksum", "keep-git-dir":
			return &grading.DockerfileRefusal{Rule: grading.RuleRemoteFlag, Instr: instr, Arg: name}
		case "from":
			if r := refusedImage(val, stages); r != nil {
				r.Instr = instr
				return r
			}
		}
	}
	var srcs []string
	for a := n.Next; a != nil && a.Next != nil; a = a.Next { // every argument but the destination
		srcs = append(srcs, a.Value)
	}
	for _, raw := range srcs {
		if instr == "ADD" && strings.Contains(raw, "$") {
			return &grading.DockerfileRefusal{Rule: grading.RuleAddVariable, Instr: instr, Arg: raw}
		}
		src := raw
		if w, _, err := lex.ProcessWord(raw, envMap(nil)); err == nil {
			src = w
		}
		if isRemote(src) {
			return &grading.DockerfileRefusal{Rule: grading.RuleRemoteSource, Instr: instr, Arg: raw}
		}
	}
	return nil
}

// isRemote reports whether an ADD source names something to download rather than a path in
// the context: any URL scheme, and the git forms Docker recognises.
func isRemote(src string) bool {
	s := strings.ToLower(strings.TrimSpace(src))
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/")
}

// refusedImage says why an image reference (a FROM or --from) may not be used, or nil if it
// may: an earlier stage, or an image on a public registry. The refusal has no line or
// instruction yet.
func refusedImage(ref string, stages []string) *grading.DockerfileRefusal {
	low := strings.ToLower(ref)
	if low == "scratch" {
		return nil
	}
	for _, s := range stages {
		if s != "" && s == low {
			return nil
		}
	}
	refuse := func(rule grading.DockerfileRule) *grading.DockerfileRefusal {
		return &grading.DockerfileRefusal{Rule: rule, Arg: ref}
	}
	if i, err := strconv.Atoi(ref); err == nil {
		if i >= 0 && i < len(stages) {
			return nil
		}
		r := refuse(grading.RuleLaterStage)
		r.Count = i
		return r
	}
	if isRemote(ref) {
		return refuse(grading.RuleImageURL)
	}
	host, _, found := strings.Cut(ref, "/")
	if !found || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return nil // Docker Hub
	}
	if imageRegistries[strings.ToLower(host)] {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil || strings.Contains(host, ":") || host == "localhost" {
		return refuse(grading.RuleRegistryAddress)
	}
	r := refuse(grading.RuleRegistryNotAllowed)
	r.Host = host
	return r
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
