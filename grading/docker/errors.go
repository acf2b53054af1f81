package docker

import (
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// The Docker daemon's errors, classified in one place (Woodpecker's
// pipeline/backend/docker/errors.go is the model). The client maps an answer's status code to
// an errdefs class (404 not found, 409 conflict); where the class says too little, or a daemon
// may answer the same thing with another code, the daemon's own words decide. Every string
// matched here is one a daemon writes; errors_test.go sends each through the real client.

// isNotFound: the container, network or image does not exist ("No such container: …",
// "network … not found", "No such image: …").
func isNotFound(err error) bool { return err != nil && cerrdefs.IsNotFound(err) }

// IsNotFound reports whether the engine answered that the container, network or image does not
// exist, for packages that call the engine themselves (grading/cli's learner images).
func IsNotFound(err error) bool { return isNotFound(err) }

// isConflict: the daemon refused because of the object's state or another object ("conflict:
// unable to delete … (cannot be forced) - image is being used by running container …", "The
// container name … is already in use").
func isConflict(err error) bool { return err != nil && cerrdefs.IsConflict(err) }

// isNotRunning: a kill, pause or unpause of a container that is not running ("Cannot kill
// container: …: Container … is not running").
func isNotRunning(err error) bool {
	return isConflict(err) || err != nil && strings.Contains(err.Error(), "is not running")
}

// isNotPaused: an unpause of a container that is not paused ("Container … is not paused"), or
// not running at all.
func isNotPaused(err error) bool {
	return isNotRunning(err) || err != nil && strings.Contains(err.Error(), "is not paused")
}

// isAlreadyExists: a network (or container) of that name exists already ("network with name …
// already exists").
func isAlreadyExists(err error) bool {
	return isConflict(err) || err != nil && strings.Contains(err.Error(), "already exists")
}

// isRemovalInProgress: another removal of the container is under way ("removal of container …
// is already in progress").
func isRemovalInProgress(err error) bool {
	return err != nil && strings.Contains(err.Error(), "already in progress")
}

// isImageMissing: a container was created from an image the engine does not have ("No such
// image: …").
func isImageMissing(err error) bool {
	return isNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "no such image")
}

// noSpace is how the kernel's ENOSPC reads in the daemon's errors.
const noSpace = "no space left on device"

// isNoSpace: the engine's disk is full. For a build, msg is the daemon's error that ended it
// (e.g. "failed to register layer: … no space left on device"); a failed RUN step's error
// quotes the learner's command ("The command '/bin/sh -c …' returned a non-zero code: 1"), and
// a learner who prints the words must not turn a failed build into Holdfast's failure by
// words alone (saysNoSpace).
func isNoSpace(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, noSpace) && !strings.Contains(msg, "the command '")
}

// saysNoSpace: a build's output says the disk ran out of space, in words a step (the learner's
// command) may have printed itself. Only the engine's free disk tells the host's full disk from
// those words (Engine.noSpace).
func saysNoSpace(log string) bool { return strings.Contains(strings.ToLower(log), noSpace) }

// startError is a sandbox's service that did not start because of the engine, with the engine's
// error classified; its text is err's.
func startError(svc scenarios.Service, err error) error {
	kind := grading.StartEngine
	switch {
	case isNoSpace(err.Error()):
		kind = grading.StartOutOfDisk
	case isImageMissing(err):
		kind = grading.StartImageMissing
	}
	return &grading.StartError{Service: svc, Kind: kind, Err: err}
}
