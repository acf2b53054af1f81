// Package github is Holdfast's GitHub client: it authenticates as the App and as its
// installations, reports gradings as check runs (annotations in batches of 50, a Re-run action),
// keeps one sticky comment per pull request and challenge, and downloads the exact commit to
// grade. Every call retries GitHub's 5xx answers and waits out its rate limits, within bounds.
package github
