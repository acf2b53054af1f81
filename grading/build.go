package grading

import (
	"fmt"
	"time"
)

// BuildResult is the outcome of building a learner's image.
type BuildResult struct {
	Image string
	// Failure is why the learner's image did not build, nil when it built. It is always the
	// learner's (its Dockerfile, context or code): a build the host failed (a full disk) is
	// Build's error instead, never a Failure.
	Failure *BuildError
	LogTail string   // the end of the build log
	Files   []string // the build context's files, repo-relative, for annotations
	Cached  bool     // the same context was built before
}

// Failed reports whether the learner's image did not build.
func (r BuildResult) Failed() bool { return r.Failure != nil }

// BuildKind is why an image did not build.
type BuildKind int

const (
	// BuildStepFailed: a step of the Dockerfile failed (a RUN command exited non-zero, a COPY
	// source is missing, an image could not be pulled). The learner's.
	BuildStepFailed BuildKind = iota + 1
	// BuildNoDockerfile: there is no Dockerfile at the repository's root. The learner's.
	BuildNoDockerfile
	// BuildSymlink: a file the runner reads itself (the Dockerfile, .dockerignore) is a
	// symbolic link, which is not followed. The learner's.
	BuildSymlink
	// BuildContextTooLarge: the build context is over its cap. The learner's.
	BuildContextTooLarge
	// BuildTimedOut: the build did not finish within its time cap. The learner's.
	BuildTimedOut
	// BuildRefused: the Dockerfile policy refused the Dockerfile before the build. The learner's.
	BuildRefused
	// BuildOutOfDisk: the engine's disk is full. Holdfast's: Build returns it as its error.
	BuildOutOfDisk
)

var buildKindNames = map[BuildKind]string{BuildStepFailed: "step_failed", BuildNoDockerfile: "no_dockerfile",
	BuildSymlink: "symlink", BuildContextTooLarge: "context_too_large", BuildTimedOut: "timed_out",
	BuildRefused: "policy", BuildOutOfDisk: "out_of_disk"}

func (k BuildKind) String() string {
	if n, ok := buildKindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("BuildKind(%d)", int(k))
}

// ParseBuildKind returns the kind a String names, for scripts and flags.
func ParseBuildKind(s string) (BuildKind, error) {
	for k, n := range buildKindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown build failure kind %q (step_failed, no_dockerfile, symlink, context_too_large, timed_out, policy or out_of_disk)", s)
}

// BuildError is an image that did not build: what the engine saw, worded by grading
// (messages.go). A learner's kind is a BuildResult's Failure; BuildOutOfDisk is Build's error,
// so callers tell it with errors.As. Its Error is the words the learner (or, for a full disk,
// the operator) reads.
type BuildError struct {
	Kind BuildKind
	// Step is the builder's error that ended the build, its first line (BuildStepFailed; for
	// BuildOutOfDisk, the error that said the disk was full).
	Step string
	// DiskUnchecked, for a BuildStepFailed whose output says the disk ran out of space: why
	// Holdfast could not measure the engine's free disk to tell the host's full disk from the
	// learner's own words. Empty when it measured room, or the output says nothing of the kind.
	DiskUnchecked string
	// File is the file that is a symbolic link (BuildSymlink): "Dockerfile" or ".dockerignore".
	File string
	// MaxContextBytes is the build context's cap (BuildContextTooLarge).
	MaxContextBytes int64
	// Timeout is the build's time cap (BuildTimedOut).
	Timeout time.Duration
	// Refusal is what the Dockerfile policy refused (BuildRefused).
	Refusal *DockerfileRefusal
	// DiskPath, DiskFree and DiskTotal are the engine's data root as this process sees it and
	// the least free and the total bytes measured there (BuildOutOfDisk, when measured).
	DiskPath  string
	DiskFree  uint64
	DiskTotal uint64
}

func (e *BuildError) Error() string { return buildMessage(e) }

// Learners reports whether the learner's submission is why the image did not build: every
// kind but a full disk.
func (e *BuildError) Learners() bool { return e.Kind != BuildOutOfDisk }

// DockerfileRule is a rule of the Dockerfile policy: what the daemon must not fetch from where
// the learner says (it fetches on the grading host's network, not the build's fenced one), and
// what is too long to build.
type DockerfileRule int

const (
	// RuleTooLong: the Dockerfile is over Limit bytes.
	RuleTooLong DockerfileRule = iota + 1
	// RuleUnparsable: it does not parse; Err is the parser's error.
	RuleUnparsable
	// RuleTooManyInstructions: Count instructions, more than Limit.
	RuleTooManyInstructions
	// RuleTooManyLayers: a stage has more than Limit RUN, COPY and ADD steps.
	RuleTooManyLayers
	// RuleImageUnreadable: a FROM's image name (Arg) does not expand; Err says why.
	RuleImageUnreadable
	// RuleLaterStage: an image reference (Arg) names stage Count, not an earlier one.
	RuleLaterStage
	// RuleImageURL: an image reference (Arg) is a URL.
	RuleImageURL
	// RuleRegistryAddress: an image reference (Arg) names a registry by address or port.
	RuleRegistryAddress
	// RuleRegistryNotAllowed: an image reference (Arg) names the registry Host, not a public one.
	RuleRegistryNotAllowed
	// RuleRemoteFlag: an ADD or COPY flag (Arg, without its dashes) only meant for remote sources.
	RuleRemoteFlag
	// RuleAddVariable: an ADD source (Arg) uses a variable, which could name a URL.
	RuleAddVariable
	// RuleRemoteSource: an ADD or COPY source (Arg) is a URL or a git repository.
	RuleRemoteSource
)

// DockerfileRefusal is what the Dockerfile policy refused, as data; messages.go words it.
type DockerfileRefusal struct {
	Rule DockerfileRule
	// Line is the Dockerfile's line (0 for rules about the whole file).
	Line int
	// Instr is the instruction as the policy read it: "FROM", "COPY", "ADD", or with "ONBUILD "
	// before it for an ONBUILD's.
	Instr string
	// Arg is the image reference, source or flag the rule is about.
	Arg string
	// Host is the registry (RuleRegistryNotAllowed).
	Host string
	// Err is the parser's or the lexer's error (RuleUnparsable, RuleImageUnreadable).
	Err string
	// Count and Limit: how many there are and how many are allowed, or the stage an image
	// reference names (RuleLaterStage: Count).
	Count, Limit int
}

func (r *DockerfileRefusal) Error() string { return refusalMessage(r) }
