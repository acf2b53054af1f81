// Package untrusted opens the files Holdfast itself reads from a learner's repository (the
// Dockerfile and .dockerignore when grading/docker builds, a claim such as CAPACITY.yaml when a
// scenario reads it): one rule for both, so that neither can be talked into reading the grading
// machine's own files. It sits below grading and scenarios and imports neither.
package untrusted
