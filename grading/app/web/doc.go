// Package web is the reviewers' side of the App: sign-in with a reviewer token, server-rendered
// pages (challenges, runs with everything a reviewer may see, histories, take-homes, a scores
// CSV), the extension form and the take-home API, and River's dashboard behind a reviewer
// session. Pages carry no scripts, forms are CSRF-checked, the session cookie is HttpOnly and
// SameSite=Strict. Candidates never use it: they see the learner view of their runs, served by
// package app.
package web
